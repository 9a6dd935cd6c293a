"""Slack payloads → core ``InboundEvent`` s.

The idempotency key is ``slack:`` plus the envelope's ``event_id`` for Events API deliveries (a
retry carries the same id), and a hash of the ``trigger_id`` for slash commands and
interactions (Slack does not retry those; each invocation has its own trigger).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.types import Attachment, ChannelRef, InboundEvent, Platform, ThreadMessage, UserRef

MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
MARKUP = re.compile(r"<([^<>]*)>")
# reactions that mean "make this a ticket"
TICKET_REACTIONS = frozenset({"ticket", "admission_tickets", "tickets"})
# message subtypes that are a person writing; edits, joins, bot posts and the like are not
PERSON_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})
MAX_REF = 1024


def trigger_key(prefix: str, trigger_id: str) -> str:
    return f"{prefix}-" + hashlib.sha256(trigger_id.encode()).hexdigest()[:32]


def ts_time(ts: str | None, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC) if ts else fallback
    except (TypeError, ValueError, OverflowError):
        return fallback


def user(user_id: str, name: str | None = None) -> UserRef:
    return UserRef(platform=Platform.SLACK, user_id=user_id, display_name=name or None)


def channel_ref(channel: str, *, thread: str | None = None, private: bool = False, direct: bool = False) -> ChannelRef:
    return ChannelRef(platform=Platform.SLACK, channel_id=channel, thread_id=thread, is_private=private or direct,
                      is_direct=direct)


def command_text(command: str, text: str) -> str:
    """``/ticket show HW-1`` → ``ticket show HW-1`` (the core parses it like any platform's command line)."""
    return f"{command.lstrip('/').strip().lower()} {text.strip()}".strip()


def plain(text: str, name_of: Callable[[str], str | None] = lambda _user: None) -> str:
    """Slack's markup as a person reads it: ``<@U0ANNA|anna>`` → ``@anna`` (``name_of`` may give the people
    key), ``<#C1|general>`` → ``#general``, ``<!here>`` → ``@here``, ``<https://x|x>`` → ``https://x``,
    and ``&lt;`` ``&gt;`` ``&amp;`` → ``<`` ``>`` ``&``. The text is stored and shown this way (and escaped
    again when the bot shows it)."""

    def sub(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            return "@" + (name_of(user_id) or label or user_id)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            word = target[1:].split("^")[0]
            if word in ("here", "channel", "everyone"):
                return "@" + word
            return label or f"@{word}"
        if label and label != target and not target.endswith(label):
            return f"{label} ({target})"
        return label if label else target.removeprefix("mailto:")

    text = MARKUP.sub(sub, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mentions(text: str, bot_user_id: str) -> str:
    """The text of an app mention without the mention of the bot (other mentions stay as written)."""
    return MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text).strip()


def mentions(text: str, user_id: str) -> bool:
    return bool(user_id) and any(m.group(1) == user_id for m in MENTION.finditer(text or ""))


def command(body: Mapping[str, Any], where: ChannelRef, *, text: str, now: datetime, ticket: str | None
            ) -> InboundEvent:
    """A slash command; ``text`` is what was typed after it (already :func:`plain`)."""
    return InboundEvent(
        kind="command",
        event_id=trigger_key("cmd", str(body.get("trigger_id") or body.get("response_url") or "")),
        actor=user(str(body["user_id"]), body.get("user_name")),
        channel=where,
        text=command_text(str(body.get("command") or ""), text),
        received_at=now,
        ticket=ticket,
    )


def mention(body: Mapping[str, Any], where: ChannelRef, *, text: str, now: datetime, ticket: str | None,
            thread: tuple[ThreadMessage, ...] = (), name: str | None = None) -> InboundEvent:
    event = body["event"]
    return InboundEvent(
        kind="command",
        event_id=str(body["event_id"]),
        actor=user(str(event["user"]), name),
        channel=where,
        text=text,
        received_at=now,
        message_id=event.get("ts"),
        ticket=ticket,
        thread=thread,
    )


def attachments(event: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The files of a message (``files``, as a ``file_share`` message carries them): name, type, size,
    and the file's permalink (else its id) as the reference. Files Slack no longer has are left out."""
    found = []
    for item in event.get("files") or ():
        if not isinstance(item, Mapping) or item.get("mode") == "tombstone" or not item.get("id"):
            continue
        size = item.get("size")
        name = str(item.get("name") or item.get("title") or item["id"])
        ref = str(item.get("permalink") or item["id"])
        found.append(Attachment(name=name, mime_type=str(item.get("mimetype") or ""),
                                size=size if isinstance(size, int) and size >= 0 else None,
                                ref=ref if len(ref) <= MAX_REF else str(item["id"])))
    return tuple(found)


def message(body: Mapping[str, Any], where: ChannelRef, *, kind: str, text: str, now: datetime,
            ticket: str | None, name: str | None = None) -> InboundEvent:
    event = body["event"]
    return InboundEvent(
        kind=kind,
        event_id=str(body["event_id"]),
        actor=user(str(event["user"]), name),
        channel=where,
        text=text,
        received_at=now,
        message_id=event.get("ts"),
        ticket=ticket,
        attachments=attachments(event),
    )


def reaction(event_id: str, actor: UserRef, where: ChannelRef, *, message_ts: str, now: datetime,
             thread: tuple[ThreadMessage, ...], text: str = "") -> InboundEvent:
    """The :ticket: reaction and the "Move to private ticket" shortcut: both ask to move a thread."""
    return InboundEvent(
        kind="reaction",
        event_id=event_id,
        actor=actor,
        channel=where,
        name="ticket",
        text=text,
        message_id=message_ts,
        received_at=now,
        thread=thread,
    )


def action(body: Mapping[str, Any], where: ChannelRef, *, name: str, value: str | None, now: datetime,
           ticket: str | None) -> InboundEvent:
    container = body.get("container") or {}
    return InboundEvent(
        kind="action",
        event_id=trigger_key("act", str(body.get("trigger_id") or "") + str((body.get("actions") or [{}])[0]
                                                                              .get("action_ts") or "")),
        actor=user(str(body["user"]["id"]), body["user"].get("username") or body["user"].get("name")),
        channel=where,
        name=name,
        value=value,
        message_id=container.get("message_ts"),
        received_at=now,
        ticket=ticket,
    )


def form(body: Mapping[str, Any], where: ChannelRef, *, values: dict[str, str], now: datetime) -> InboundEvent:
    view = body["view"]
    return InboundEvent(
        kind="form",
        event_id=trigger_key("view", str(view.get("id") or body.get("trigger_id") or "")),
        actor=user(str(body["user"]["id"]), body["user"].get("username") or body["user"].get("name")),
        channel=where,
        name=str(view.get("callback_id") or ""),
        form_values=values,
        received_at=now,
    )


def thread_messages(raw: list[Mapping[str, Any]], names: Mapping[str, str | None], now: datetime,
                    name_of: Callable[[str], str | None] = lambda _user: None) -> tuple[ThreadMessage, ...]:
    """conversations.replies messages (root first) as the core's thread; bots' messages are left out."""
    result = []
    for item in raw:
        if item.get("bot_id") or not item.get("user") or item.get("subtype") not in PERSON_SUBTYPES:
            continue
        author = str(item["user"])
        result.append(ThreadMessage(message_id=str(item["ts"]), author=user(author, names.get(author)),
                                    text=plain(str(item.get("text") or ""), name_of), at=ts_time(item.get("ts"), now)))
    return tuple(result)
