"""Matrix conversion and rendering without a homeserver: reply fallbacks, commands, numbered choices,
escaping and thread relations."""

from __future__ import annotations

import pytest

from adapters.matrix import convert, render
from bot.core.types import Button, OutboundMessage, Platform, Target, Visibility


def test_reply_fallback_is_stripped_and_edits_are_not_messages() -> None:
    content = {"msgtype": "m.text", "body": "> <@a:x> the printer\n> is broken\n\nstill broken",
               "m.relates_to": {"m.in_reply_to": {"event_id": "$a"}}}
    assert convert.body_of(content) == "still broken"
    assert convert.reply_to(content) == "$a"
    threaded = {"body": "x", "m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                             "m.in_reply_to": {"event_id": "$root"}}}
    assert convert.thread_root(threaded) == "$root" and convert.reply_to(threaded) is None
    edit = {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "* x",
                                                  "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"}}}
    assert not convert.is_person_message(edit)
    notice = {"type": "m.room.message", "content": {"msgtype": "m.notice", "body": "a bot"}}
    assert not convert.is_person_message(notice)


@pytest.mark.parametrize(("body", "prefix", "expected"), [
    ("!ticket printer on fire", "!", "ticket printer on fire"),
    ("!queue", "!", "queue"),
    ("!!! urgent", "!", None),
    ("! ticket", "!", None),
    ("ticket x", "!", None),
    ("dd queue", "dd ", "queue"),
])
def test_command_text(body: str, prefix: str, expected: str | None) -> None:
    assert convert.command_text(body, prefix) == expected


@pytest.mark.parametrize(("answer", "reaction", "expected"), [
    ("1", False, 0), ("2.", False, 1), ("3)", False, 2), ("0", False, None), ("1 please", False, None),
    ("1️⃣", True, 0), ("2️⃣", True, 1), ("✅", True, 0), ("🎫", True, None),
])
def test_choice_of(answer: str, reaction: bool, expected: int | None) -> None:
    assert render.choice_of(answer, reaction) == expected


def test_content_is_an_escaped_notice_without_pings_and_with_numbered_choices() -> None:
    message = OutboundMessage(id=1, target=Target(kind="channel", platform=Platform.MATRIX, channel_id="!r"),
                              text="<script>x</script> @room & co", kind="ping", visibility=Visibility.PUBLIC,
                              buttons=(Button(action="ack", label="Acknowledge", value="HW-1"),))
    content = render.content(message, "en", thread_root="$root")
    assert content["msgtype"] == "m.notice" and content["m.mentions"] == {}
    assert "&lt;script&gt;x&lt;/script&gt;" in content["formatted_body"] and "<script>" not in content["formatted_body"]
    assert "@room" not in content["body"] and "@\u2060room" in content["body"]
    # each option names the command that does the same
    assert "1️⃣ Acknowledge (or type !ticket ack HW-1)" in content["body"]
    assert "1️⃣ Acknowledge (oder tippe ?ticket ack HW-1)" in render.content(message, "de", prefix="?")["body"]
    assert content["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": "$root"}}
    assert render.content(message, "en", mention="@anna:x")["m.mentions"] == {"user_ids": ["@anna:x"]}


def test_every_button_of_the_core_names_a_typable_command() -> None:
    """The core's button sets on Matrix: the Prio-1 page, the handover, a swap request, the satisfaction question,
    a DM's follow-up question — each numbered option says which `!` command does the same."""
    buttons = (Button(action="ack", label="I am on it", value="HW-1"),
               Button(action="handover-ack", label="Taken over", value="2026-11-24T16:00:00+01:00"),
               Button(action="duty-accept", label="Take the shift", value="7"),
               Button(action="satisfied", label="Yes", value="HW-1"),
               Button(action="append", label="Add to HW-1", value="HW-1"),
               Button(action="privacy-move", label="Move", value="$event"))
    text = render.choices_text(buttons, "en")
    assert "!ticket ack HW-1" in text and "!handover ack 2026-11-24T16:00:00+01:00" in text
    assert "!duty accept 7" in text and "!ticket satisfied HW-1" in text and "!ticket append HW-1" in text
    assert "6️⃣ Move\n" not in text and text.endswith("6️⃣ Move")  # no command for the move: its value is an event id
