"""Core messages → Matrix event content: ``m.notice`` with a plain ``body`` and an escaped HTML
``formatted_body``, a thread relation where the message belongs to a thread, and buttons as
numbered choices (Matrix has no buttons: a person replies with the number or reacts with it).

Everything the bot shows is escaped, and ``@room`` defused, so a person's text copied into a message can
neither ping anybody (``@room``, a user id) nor inject markup. Only the bot's own mentions
(bot/core/mentions.py: marks a person's text never carries) become ``matrix.to`` pills, and only their
people are listed in ``m.mentions`` (with the person a ping is for), so that their clients notify them.
"""

from __future__ import annotations

import html
import json
import re
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from bot.core.types import Button, OutboundMessage, OutgoingFile, button_command, split
from bot.i18n import t

# the body and the formatted body together, as the event's JSON encodes them (UTF-8, escapes included): a
# homeserver refuses an event over 64 KiB (M_TOO_LARGE), and the event's envelope and signatures need room too
MAX_CONTENT_BYTES = 48_000
NUMBERS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣")
ACK = "✅"                    # a reaction that picks the first (often the only) choice
_ROOM_PING = re.compile(r"@room\b", re.IGNORECASE)


def defuse(text: str) -> str:
    """``@room`` loses its power to notify the whole room (an invisible joiner after the @)."""
    return _ROOM_PING.sub("@\u2060room", text)


def encoded_size(text: str) -> int:
    """What ``text`` adds to an event as its body and its formatted body: escaped HTML grows ``<`` fourfold."""
    return sum(len(json.dumps(part, ensure_ascii=False).encode()) for part in (text, to_html(text)))


def clip(text: str, note: str, limit: int = MAX_CONTENT_BYTES) -> str:
    """``text`` as it fits into one event; a longer one is cut and ends with ``note`` (that it was clipped)."""
    if encoded_size(text) <= limit:
        return text
    low, high = 0, len(text)  # the longest head that fits together with the note
    while low < high:
        mid = (low + high + 1) // 2
        if encoded_size(f"{text[:mid]}…\n\n{note}") <= limit:
            low = mid
        else:
            high = mid - 1
    return f"{text[:low]}…\n\n{note}"


def to_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


def choices_text(buttons: tuple[Button, ...], lang: str, prefix: str = "!") -> str:
    """The buttons as numbered options, each with the command that does the same (``!ticket ack HW-1``)."""
    lines = [t(lang, "matrix.choices")]
    for i, button in enumerate(buttons[: len(NUMBERS)]):
        command = button_command(button)
        hint = f" ({t(lang, 'matrix.command', command=prefix + command)})" if command else ""
        lines.append(f"{NUMBERS[i]} {button.label}{hint}")
    return "\n".join(lines)


def text_of(message: OutboundMessage, lang: str, prefix: str = "!") -> str:
    text = message.text
    if message.buttons:
        text = f"{text}\n\n{choices_text(message.buttons, lang, prefix)}"
    return clip(defuse(text), t(lang, "matrix.clipped"))


def thread_relation(root: str) -> dict[str, Any]:
    """A message in ``root`` 's thread, with the reply fallback for clients without threads."""
    return {"rel_type": "m.thread", "event_id": root, "is_falling_back": True, "m.in_reply_to": {"event_id": root}}


People = Callable[[str], str | None]   # a [people] key → the person's Matrix user id, if they have one


def content(message: OutboundMessage, lang: str, *, thread_root: str | None = None,
            mention: str | None = None, prefix: str = "!", people: People | None = None) -> dict[str, Any]:
    """The ``m.room.message`` content of one outbox message."""
    return notice(text_of(message, lang, prefix), thread_root=thread_root, mention=mention, people=people)


def pill(user_id: str, shown: str) -> str:
    """A mention clients show as a pill and notify: a ``matrix.to`` link to the user."""
    return f'<a href="https://matrix.to/#/{html.escape(quote(user_id, safe="@:"))}">{to_html(shown)}</a>'


def notice(text: str, *, thread_root: str | None = None, mention: str | None = None,
           people: People | None = None) -> dict[str, Any]:
    """An ``m.notice`` of ``text``: the bot's mentions in it (bot/core/mentions.py) as pills of the people
    ``people`` knows (else their plain text), ``mention`` and them in ``m.mentions``."""
    plain, formatted, mentioned = [], [], [mention] if mention else []
    for part in split(text):
        if isinstance(part, str):
            plain.append(part)
            formatted.append(to_html(part))
            continue
        key, shown = part
        user = people(key) if people is not None else None
        plain.append(shown)
        formatted.append(pill(user, shown) if user else to_html(shown))
        if user:
            mentioned.append(user)
    users = list(dict.fromkeys(mentioned))
    body: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": "".join(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": "".join(formatted),
        "m.mentions": {"user_ids": users} if users else {},
    }
    if thread_root:
        body["m.relates_to"] = thread_relation(thread_root)
    return body


def replacement(content: dict[str, Any], original: str) -> dict[str, Any]:
    """``content`` as an edit of the event ``original`` (``m.replace``): clients show the new text in its place;
    the fallback body for clients without edits starts with "* " as the specification suggests."""
    new = {k: v for k, v in content.items() if k != "m.relates_to"}
    return {
        **new,
        "body": f"* {content['body']}",
        "formatted_body": f"* {content['formatted_body']}",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }


def choice_of(answer: str, reaction: bool = False) -> int | None:
    """The 0-based choice a reply ("1", "2.") or a reaction (1️⃣, ✅) picks; None if it is no choice."""
    answer = answer.strip()
    if reaction:
        answer = answer.replace("\ufe0f", "")
        for i, emoji in enumerate(NUMBERS):
            if answer == emoji.replace("\ufe0f", ""):
                return i
        return 0 if answer in (ACK, "✔", "👍") else None
    match = re.fullmatch(r"(\d{1,2})[.)]?", answer)
    return int(match.group(1)) - 1 if match and int(match.group(1)) >= 1 else None


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG (its IHDR chunk), for the event's ``info``; None for anything else."""
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def file_content(file: OutgoingFile, uri: str, keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """An uploaded file as an ``m.image`` (``m.file`` for other types): ``body`` is the caption, ``filename`` the
    name (Matrix 1.10 captions); ``keys`` (an encrypted upload's key, iv and hashes) put the URI into ``file``."""
    info: dict[str, Any] = {"mimetype": file.type, "size": len(file.data)}
    size = png_size(file.data)
    if size is not None:
        info["w"], info["h"] = size
    content: dict[str, Any] = {"msgtype": "m.image" if file.type.startswith("image/") else "m.file",
                               "body": defuse(file.title or file.name), "filename": file.name, "info": info,
                               "m.mentions": {}}
    if keys is not None:
        content["file"] = {"url": uri, **keys}
    else:
        content["url"] = uri
    return content
