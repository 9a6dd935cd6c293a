"""Matrix events (the raw ``source`` dicts nio keeps) → core ``InboundEvent`` s.

The idempotency key is ``matrix:`` plus the event id, which the homeserver gives each event once
and repeats when a sync is replayed from an older token, so a replayed event is a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.types import Attachment, ChannelRef, InboundEvent, Platform, ThreadMessage, UserRef

# message types a person writes; m.notice is what bots write, and bots are not listened to
PERSON_MSGTYPES = frozenset({"m.text", "m.emote"})
# files a person sends (screenshots for a ticket): the file is the attachment, not the text
FILE_MSGTYPES = frozenset({"m.image", "m.file"})
MAX_REF = 1024
_COMMAND = re.compile(r"[A-Za-z]")


def relates_to(content: Mapping[str, Any]) -> Mapping[str, Any]:
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, Mapping) else {}


def thread_root(content: Mapping[str, Any]) -> str | None:
    rel = relates_to(content)
    return str(rel["event_id"]) if rel.get("rel_type") == "m.thread" and rel.get("event_id") else None


def reply_to(content: Mapping[str, Any]) -> str | None:
    """The event a message answers (``m.in_reply_to``); a thread's fallback reply counts only when real."""
    rel = relates_to(content)
    if rel.get("rel_type") == "m.thread" and rel.get("is_falling_back"):
        return None
    target = rel.get("m.in_reply_to")
    return str(target["event_id"]) if isinstance(target, Mapping) and target.get("event_id") else None


def is_edit(content: Mapping[str, Any]) -> bool:
    return relates_to(content).get("rel_type") == "m.replace"


def body_of(content: Mapping[str, Any]) -> str:
    """The text a person wrote, without the quoted reply fallback (``> <@a:b> …`` lines, a blank line)."""
    body = str(content.get("body") or "")
    if isinstance(relates_to(content).get("m.in_reply_to"), Mapping) and body.startswith("> "):
        lines = body.split("\n")
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        if lines and not lines[0].strip():
            lines.pop(0)
        body = "\n".join(lines)
    return body.strip()


def command_text(body: str, prefix: str) -> str | None:
    """``!ticket printer on fire`` → ``ticket printer on fire``; None when the text is no command."""
    if not prefix or not body.startswith(prefix):
        return None
    rest = body[len(prefix):]
    if not rest or not _COMMAND.match(rest):
        return None
    return rest.strip()


def at(raw: Mapping[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw["origin_server_ts"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return fallback


def user(user_id: str, name: str | None = None) -> UserRef:
    return UserRef(platform=Platform.MATRIX, user_id=user_id, display_name=name or None)


def channel_ref(channel: str, *, thread: str | None = None, private: bool = False,
                direct: bool = False) -> ChannelRef:
    return ChannelRef(platform=Platform.MATRIX, channel_id=channel, thread_id=thread, is_private=private or direct,
                      is_direct=direct)


def is_person_message(raw: Mapping[str, Any]) -> bool:
    content = raw.get("content") or {}
    return (raw.get("type") == "m.room.message" and content.get("msgtype") in PERSON_MSGTYPES
            and not is_edit(content) and "redacted_because" not in (raw.get("unsigned") or {}))


def is_file_message(raw: Mapping[str, Any]) -> bool:
    content = raw.get("content") or {}
    return (raw.get("type") == "m.room.message" and content.get("msgtype") in FILE_MSGTYPES
            and not is_edit(content) and "redacted_because" not in (raw.get("unsigned") or {}))


def caption_of(content: Mapping[str, Any]) -> str:
    """The text sent with a file: with ``filename`` set, a ``body`` that differs from it is a caption
    (Matrix 1.10); otherwise the body is only the file's name."""
    filename = content.get("filename")
    body = str(content.get("body") or "").strip()
    return body if isinstance(filename, str) and filename and body != filename else ""


def attachments_of(content: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """An ``m.image`` / ``m.file``: its name (``filename``, else ``body``), ``info.mimetype`` and
    ``info.size``, and the ``mxc://`` URI as the reference (an encrypted file's is in ``file.url``)."""
    raw_info, raw_file = content.get("info"), content.get("file")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    encrypted: Mapping[str, Any] = raw_file if isinstance(raw_file, Mapping) else {}
    url = str(content.get("url") or encrypted.get("url") or "")
    name = str(content.get("filename") or content.get("body") or "").strip() or url.rsplit("/", 1)[-1] or "file"
    size = info.get("size")
    return (Attachment(name=name, mime_type=str(info.get("mimetype") or ""),
                       size=size if isinstance(size, int) and size >= 0 else None,
                       ref=url if url and len(url) <= MAX_REF else None),)


def thread_message(raw: Mapping[str, Any], name: str | None, now: datetime) -> ThreadMessage | None:
    """One message of a thread to move; None for anything a person did not write."""
    if not is_person_message(raw):
        return None
    return ThreadMessage(message_id=str(raw["event_id"]), author=user(str(raw["sender"]), name),
                         text=body_of(raw.get("content") or {}), at=at(raw, now))


def event(kind: str, raw: Mapping[str, Any], where: ChannelRef, *, now: datetime, text: str = "",
          name: str | None = None, display_name: str | None = None, ticket: str | None = None,
          thread: tuple[ThreadMessage, ...] = (), message_id: str | None = None, value: str | None = None,
          form_values: dict[str, str] | None = None, event_id: str | None = None,
          attachments: tuple[Attachment, ...] = ()) -> InboundEvent:
    return InboundEvent(
        kind=kind,
        event_id=event_id or str(raw["event_id"]),
        actor=user(str(raw["sender"]), display_name),
        channel=where,
        text=text,
        received_at=now,
        name=name,
        value=value,
        form_values=form_values or {},
        message_id=message_id if message_id is not None else str(raw["event_id"]),
        ticket=ticket,
        thread=thread,
        attachments=attachments,
    )
