"""Chat-native tickets (#17): commands in a ticket's space without an id, conversations in a DM.

Each test runs the whole bot through `dutydesk simulate` (in-process, a virtual clock, SQLite)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import yaml

from bot.i18n import t
from bot.simulate import simulate

DESK = {
    "desk": {"name": "HW desk", "language": "en", "ticket_prefix": "HW"},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]}, "lea": {"name": "Lea", "roles": ["agent"]}},
    "channels": {"duty": ["#support-duty"]},
}


async def run(tmp_path: Path, steps: list[dict[str, Any]], *, platform: str = "slack",
              config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"config": config or DESK, "platform": platform,
                                    "start": "2026-11-24T09:00:00+01:00", "steps": steps}), encoding="utf-8")
    out = io.StringIO()
    await simulate(path, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def texts(lines: list[dict[str, Any]], **match: object) -> list[str]:
    return [line["text"] for line in lines if "text" in line and all(line.get(k) == v for k, v in match.items())]


async def test_commands_in_a_ticket_space_need_no_id(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "/ticket the vpn drops every hour"},
        {"user": "rita", "channel": "#general", "text": "/ticket my printer is jammed"},
        {"after": "1m", "user": "anna", "ticket": "HW-1", "text": "/ticket take"},
        {"user": "anna", "ticket": "HW-1", "text": "/ticket note HW-2 looks like the same switch"},
        {"user": "anna", "ticket": "HW-1", "text": "/ticket priority 1"},
        {"after": "1m", "user": "anna", "ticket": "HW-1", "text": "/ticket close"},
    ])
    space = texts(lines, to="ticket:HW-1", ticket="HW-1")
    assert "You have taken HW-1; it is in progress." in space
    assert "HW-1 now has priority 1." in space
    assert "HW-1 is closed." in space
    # the explicit id of another ticket wins over the space's
    assert texts(lines, to="ticket:HW-1", ticket="HW-2") == ["Internal note added to HW-2 (only the team sees it)."]
    assert not [line for line in lines if line.get("kind") == "error"]


async def test_a_requester_in_a_space_cannot_take_without_id_either(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "/ticket the vpn drops every hour"},
        {"after": "1m", "user": "rita", "ticket": "HW-1", "text": "/ticket take"},
    ])
    (error,) = [line for line in lines if line.get("kind") == "error"]
    assert error["text"] == t("en", "access.staff_only", prefix="/", roles="requester")
    assert not texts(lines, to="ticket:HW-1", kind="notice")[1:]  # nothing changed on the ticket


async def test_matrix_bang_close_in_the_room(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "!ticket the vpn drops every hour"},
        {"after": "1m", "user": "rita", "ticket": "HW-1", "text": "!ticket close"},
        {"user": "rita", "ticket": "HW-1", "text": "!ticket show"},
    ], platform="matrix")
    assert not [line for line in lines if line.get("kind") == "error"], lines
    assert any("closed" in text.lower() for text in texts(lines, ticket="HW-1"))


# --------------------------------------------------------------------------- a requester's DMs as one conversation


def tickets_opened(lines: list[dict[str, Any]]) -> list[str]:
    return [line["ticket"] for line in lines if line.get("kind") == "receipt"]


async def test_a_follow_up_dm_within_the_window_goes_into_the_open_ticket(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "Passwort weg"},
        {"after": "2m", "user": "rita", "dm": True, "text": "Ach so, ich nutze Firefox 133"},
        {"after": "29m", "user": "rita", "dm": True, "text": "und Thunderbird auch"},
    ])
    assert tickets_opened(lines) == ["HW-1"]
    assert texts(lines, to="@rita", kind="reply") == [t("en", "conversation.added", key="HW-1")] * 2
    # the team sees the follow-ups in the ticket's space, and the history keeps them
    assert texts(lines, to="ticket:HW-1", kind="notice")[1:] == [
        t("en", "conversation.forwarded", who="rita", text="Ach so, ich nutze Firefox 133"),
        t("en", "conversation.forwarded", who="rita", text="und Thunderbird auch")]


async def test_after_the_window_the_bot_asks_and_the_answer_decides(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "Passwort weg"},
        {"after": "31m", "user": "rita", "dm": True, "text": "the printer on floor 3 is jammed"},
        {"after": "1m", "user": "rita", "action": "separate", "ticket": "HW-1"},
        {"after": "40m", "user": "rita", "dm": True, "text": "the password works again, the new one was in the spam"},
        {"after": "1m", "user": "rita", "action": "append", "ticket": "HW-2"},
        {"user": "rita", "dm": True, "text": "/ticket append HW-2"},  # typed again: nothing left to add
    ], platform="slack")
    # the used question shows the answer instead of its buttons: it cannot be pressed again
    assert [(line["updated"], line["buttons"], line["text"].splitlines()[-1]) for line in lines if "updated" in line
            and line["to"] == "@rita"] == [("bot-4", [], "✓ New ticket (rita)"), ("bot-9", [], "✓ Add to HW-2 (rita)")]
    questions = [line for line in lines if line.get("buttons") and line.get("to") == "@rita" and "id" in line]
    assert [q["buttons"] for q in questions] == [["append", "separate"]] * 2
    assert questions[0]["text"] == t("en", "conversation.which", key="HW-1", title="Passwort weg", prefix="/")
    assert questions[1]["ticket"] == "HW-2"  # the most recently changed open ticket is the one asked about
    assert tickets_opened(lines) == ["HW-1", "HW-2"]
    assert texts(lines, to="ticket:HW-2", kind="notice")[0].endswith("the printer on floor 3 is jammed")
    assert t("en", "conversation.forwarded", who="rita",
             text="the password works again, the new one was in the spam") in texts(lines, to="ticket:HW-2")
    assert texts(lines, kind="error") == [t("en", "conversation.nothing_pending", key="HW-2")]


async def test_a_dm_kept_aside_cannot_be_placed_by_anybody_else(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "Passwort weg"},
        {"after": "31m", "user": "rita", "dm": True, "text": "my salary slip is wrong"},
        {"user": "mallory", "action": "separate", "ticket": "HW-1"},   # another requester
        {"user": "anna", "action": "append", "ticket": "HW-1"},        # an agent
        {"user": "anna", "channel": "#support-duty", "text": "/ticket separate HW-1"},
    ])
    errors = texts(lines, kind="error")
    assert errors == [t("en", "ticket.not_found", key="HW-1"), t("en", "conversation.nothing_pending", key="HW-1"),
                      t("en", "conversation.nothing_pending", key="HW-1")]
    assert tickets_opened(lines) == ["HW-1"]
    assert not any("salary" in text for text in texts(lines))  # kept aside, shown to nobody


async def test_an_unanswered_question_opens_a_ticket_so_nothing_waits_unseen(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "Passwort weg"},
        {"after": "31m", "user": "rita", "dm": True, "text": "my salary slip is wrong"},
        {"after": "5m", "user": "rita", "dm": True, "text": "the one of November"},
        {"until": "2026-11-24T11:00:00+01:00"},
        {"user": "rita", "action": "separate", "ticket": "HW-1"},   # the late answer: placed already, once
    ])
    assert texts(lines, kind="error") == [t("en", "conversation.nothing_pending", key="HW-1")]
    assert tickets_opened(lines) == ["HW-1", "HW-2"]
    (space_opened,) = [line for line in lines if line.get("to") == "ticket:HW-2" and line.get("kind") == "notice"
                       and "salary" in line["text"]]
    assert space_opened["at"] == "2026-11-24T09:01:00Z"            # 30 minutes after the question, not later
    assert space_opened["text"].endswith("my salary slip is wrong\nthe one of November")
    (told,) = [line for line in lines if line.get("ticket") == "HW-2" and line.get("kind") == "receipt"]
    assert told["to"] == "@rita"   # where the question was asked
    assert told["text"].startswith(t("en", "conversation.unanswered", key="HW-2", old="HW-1", priority=2,
                                     next="")[:60])
    # the team sees the new ticket in the duty channel; nothing of it went into HW-1
    assert any("HW-2" in text for text in texts(lines, to="#support-duty"))
    assert not any("salary" in text for text in texts(lines, to="ticket:HW-1"))


async def test_an_answer_in_time_stops_the_bot_from_placing_the_message_again(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "Passwort weg"},
        {"after": "31m", "user": "rita", "dm": True, "text": "it works in Firefox"},
        {"after": "10m", "user": "rita", "action": "append", "ticket": "HW-1"},
        {"after": "40m", "user": "rita", "dm": True, "text": "and the scanner is broken"},   # a new question
        {"until": "2026-11-24T11:30:00+01:00"},
    ])
    # the first question was answered: its timer placed nothing; the second was not: one new ticket, once
    assert [line["ticket"] for line in lines if line.get("kind") == "receipt"
            and line["text"].startswith("You did not say")] == ["HW-2"]
    assert not any("Firefox" in text for text in texts(lines, to="ticket:HW-2"))
    assert any("scanner" in text for text in texts(lines, to="ticket:HW-2"))


async def test_thanks_open_no_ticket(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "danke!"},
        {"user": "ivan", "dm": True, "text": "спасибо"},
        {"user": "rita", "dm": True, "text": "👍"},
        {"user": "rita", "dm": True, "text": "VPN drops every hour"},
        {"after": "2h", "user": "rita", "dm": True, "text": "Thanks a lot :pray:"},
    ])
    assert tickets_opened(lines) == ["HW-1"]
    assert texts(lines, to="@rita", kind="reply")[:2] == [t("en", "conversation.thanks")] * 2
    assert texts(lines, to="@ivan") == [t("en", "conversation.thanks")]
    assert texts(lines, to="@rita", kind="reply")[-1] == t("en", "conversation.thanks_noted", key="HW-1")


async def test_follow_up_is_configurable(tmp_path: Path) -> None:
    config = {**DESK, "desk": {**DESK["desk"], "follow_up": "5m"}}
    lines = await run(tmp_path, [
        {"user": "rita", "dm": True, "text": "Passwort weg"},
        {"after": "6m", "user": "rita", "dm": True, "text": "Firefox 133"},
    ], config=config)
    asked = [line["buttons"] for line in lines if line.get("to") == "@rita" and line.get("buttons")]
    assert asked == [["append", "separate"]]


# --------------------------------------------------------------------------- the ticket's space over its life


async def test_closing_archives_the_space_after_its_last_words_and_reopening_brings_it_back(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "/ticket the vpn drops every hour"},
        {"after": "1m", "user": "lea", "action": "take", "ticket": "HW-1"},
        {"after": "1m", "user": "lea", "ticket": "HW-1", "text": "/ticket close"},
        {"after": "1m", "user": "rita", "channel": "#general", "text": "/ticket reopen HW-1"},
        {"after": "1m", "user": "lea", "ticket": "HW-1", "text": "/ticket reply does it work now?"},
    ])
    space = [line for line in lines if (line.get("to") == "ticket:HW-1" and line.get("visibility") == "private")
             or "archived" in line]
    at = next(i for i, line in enumerate(space) if "archived" in line)
    assert space[at] == {"at": "2026-11-24T08:02:00Z", "archived": "ticket:HW-1"}
    assert space[at - 1]["text"] == t("en", "space.goodbye", key="HW-1")  # the bot's last words, then archived
    assert space[at - 2]["text"] == t("en", "ticket.state_changed", key="HW-1", state="closed", who="Lea")
    assert [line["text"] for line in space[at + 1:]] == [
        t("en", "ticket.state_changed", key="HW-1", state="in progress", who="rita"), "Lea: does it work now?"]
    assert len([line for line in lines if "archived" in line]) == 1


async def test_archive_on_close_off_keeps_the_space(tmp_path: Path) -> None:
    config = {**DESK, "desk": {**DESK["desk"], "archive_on_close": False}}
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "/ticket the vpn drops every hour"},
        {"after": "1m", "user": "anna", "ticket": "HW-1", "text": "/ticket close"},
    ], config=config)
    assert not [line for line in lines if "archived" in line]
    assert t("en", "space.goodbye", key="HW-1") not in texts(lines)


async def test_on_matrix_the_goodbye_says_the_requester_leaves_the_room(tmp_path: Path) -> None:
    """A Matrix room is not archived: the team keeps it and the requester is taken out; the goodbye says so."""
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "!ticket the vpn drops every hour"},
        {"after": "1m", "user": "lea", "ticket": "HW-1", "text": "!ticket close"},
    ], platform="matrix")
    said = texts(lines, to="ticket:HW-1")
    assert t("en", "space.goodbye_room", key="HW-1") in said
    assert t("en", "space.goodbye", key="HW-1") not in said


async def test_a_mail_requester_gets_no_goodbye_of_a_space_they_never_saw(tmp_path: Path) -> None:
    """A mail ticket's space is the requester's mail thread: the closing notice is its last mail, not a second
    one saying a space is archived."""
    config = {**DESK, "mail": {"address": "support@example.org"}}
    lines = await run(tmp_path, [
        {"mail": {"from": "Maria Huber <maria@example.com>", "subject": "Printer", "text": "It smokes."}},
        {"after": "5m", "user": "anna", "channel": "#support-duty", "text": "/ticket close HW-1"},
    ], config=config)
    mails = texts(lines, to="mail:maria@example.com")
    assert mails[-1] == t("en", "ticket.state_changed", key="HW-1", state="closed", who="Anna")
    assert not [line for line in lines if "archived" in line]
