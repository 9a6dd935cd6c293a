"""The Head of Mailbox (issue #18, handbook 001 "Supportpostfach"): a mail to a colleague personally is held for the
mailbox holder, who opens a ticket, adds it to a ticket, marks it answered or forwards it — rehearsed through
`dutydesk simulate` (tests/scenarios/mailbox_desk.yaml), with the attacks on the buttons."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import yaml
from test_simulate import about, check_shape, run_in_process

from bot.simulate import ScenarioError, simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BUTTONS = ["mailbox-ticket", "mailbox-add", "mailbox-answered", "mailbox-forward"]


@pytest.fixture(scope="module")
def transcript() -> list[dict]:
    lines = asyncio.run(run_in_process(SCENARIOS / "mailbox_desk.yaml"))
    check_shape(lines)
    return lines


def cards(lines: list[dict], to: str) -> list[dict]:
    return [line for line in lines
            if line.get("kind") == "mail_held" and line.get("to") == to and "updated" not in line]


def updated(lines: list[dict], card: dict) -> list[dict]:
    return [line for line in lines if line.get("updated") == card["id"]]


async def test_a_mail_to_a_colleague_waits_for_the_mailbox_holder_with_four_buttons(transcript: list[dict]) -> None:
    sarah = cards(transcript, "@sarah")
    # in office hours Sarah (the mailbox owner) gets M1..M4; in the duty window the phone duty Lea gets M5
    assert [c["text"].split()[1] for c in sarah] == ["M1", "M2", "M3", "M4"]
    assert [c["text"].split()[1] for c in cards(transcript, "@lea")] == ["M5"]
    assert all(c["buttons"] == BUTTONS for c in sarah)
    assert "for Paul, from Maria Huber <maria@example.com>" in sarah[0]["text"]   # Cc: paul@…
    assert "for Lea" in sarah[1]["text"]      # "Dear Lea,"
    assert "for Paul" in sarah[3]["text"]     # "Здравствуйте, Павел" ([mail] names)
    # held, the sender hears nothing until the holder decides: the first mail to Maria is the receipt of HW-1
    first = about(transcript, to="mail:maria@example.com")[0]
    assert first["kind"] == "receipt" and first["at"] > sarah[0]["at"]


async def test_open_a_ticket_assigned_to_the_colleague(transcript: list[dict]) -> None:
    card = cards(transcript, "@sarah")[0]
    (done,) = updated(transcript, card)
    assert done["buttons"] == [] and "M1: ticket HW-1 opened (Sarah," in done["text"]
    receipt = about(transcript, to="mail:maria@example.com", ticket="HW-1", kind="receipt")
    assert receipt and receipt[0]["subject"] == "[HW-1] Invoice question"
    # assigned to Paul, who hears it in chat (not by mail to his own address)
    assert about(transcript, to="@paul", ticket="HW-1", text="Sarah assigned HW-1 (P2) to you.")
    assert not about(transcript, to="mail:paul@agency.example", ticket="HW-1")
    assert any("Paul (last change: Sarah)" in line["text"] for line in about(transcript, updated="bot-4"))


async def test_mark_answered_opens_no_ticket(transcript: list[dict]) -> None:
    card = cards(transcript, "@sarah")[1]
    (done,) = updated(transcript, card)
    assert "M2: marked as answered, no ticket" in done["text"] and done["buttons"] == []
    assert not about(transcript, to="mail:tom@example.net")
    assert not [line for line in transcript if "Tom" in line.get("text", "") and line.get("ticket")]


async def test_add_to_an_existing_ticket_offers_the_requesters_open_tickets(transcript: list[dict]) -> None:
    card = cards(transcript, "@sarah")[2]
    choice = [line for line in about(transcript, to="@sarah", kind="reply") if "Which ticket" in line["text"]]
    assert choice and "HW-1 · Invoice question" in choice[0]["text"] and choice[0]["buttons"] == ["mailbox-add"]
    (done,) = updated(transcript, card)
    assert "M3: added to HW-1" in done["text"]
    # the team hears Maria's words on HW-1 (its assignee Paul); nothing goes back to Maria by mail, no new ticket
    assert about(transcript, to="@paul", ticket="HW-1", kind="notice")[-1]["text"].startswith(
        "Maria Huber answered HW-1 by mail:")
    assert [m["kind"] for m in about(transcript, to="mail:maria@example.com", ticket="HW-1")] == ["receipt"]


async def test_forward_to_the_colleague_by_mail(transcript: list[dict]) -> None:
    (forward,) = about(transcript, to="mail:paul@agency.example", kind="forward")
    assert forward["subject"] == "Fwd: Вопрос"
    assert "> Здравствуйте, Павел!" in forward["text"] and "From: Ivan <ivan@example.ru>" in forward["text"]
    (done,) = updated(transcript, cards(transcript, "@sarah")[3])
    assert "M4: forwarded to Paul by mail" in done["text"]


async def test_nobody_on_mailbox_duty_is_a_ticket_as_usual_and_the_duty_channel_is_told(transcript: list[dict]) -> None:
    late = about(transcript, to="mail:maria@example.com", kind="receipt", ticket="HW-2")
    assert late and late[0]["subject"] == "[HW-2] Late"
    told = [line for line in about(transcript, to="#support-duty", kind="notice") if "mailbox duty" in line["text"]]
    assert told and "Maria Huber to Paul personally" in told[0]["text"]
    assert not [line for line in transcript if line.get("kind") == "mail_held" and "M6" in line["text"]]


async def test_only_the_holder_decides(transcript: list[dict]) -> None:
    # another agent: refused with the holder's name; a requester: only the team may; nothing was done by either
    (mira,) = about(transcript, to="@mira")
    assert mira["kind"] == "error" and "Only the mailbox holder (Sarah)" in mira["text"]
    (maria,) = about(transcript, to="@maria")
    assert maria["kind"] == "error" and "Only the support team" in maria["text"]
    # pressing again after it was handled: told who did what, nothing opened twice
    again = [line for line in about(transcript, to="@sarah", kind="error") if "handled already" in line["text"]]
    assert again and "ticket HW-1 opened (Sarah," in again[0]["text"]
    receipts = [line["ticket"] for line in about(transcript, kind="receipt")]
    assert receipts == ["HW-1", "HW-2"]


async def _run(tmp_path: Path, steps: list[dict], **config: object) -> list[dict]:
    scenario = yaml.safe_load((SCENARIOS / "mailbox_desk.yaml").read_text())
    scenario["config"].update(config)
    scenario["steps"] = steps
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True))
    return await run_in_process(path)


MAIL = {"at": "2026-11-24T09:05:00+01:00",
        "mail": {"from": "Maria <maria@example.com>", "subject": "Hi", "text": "Hallo Paul, a question.", "id": "m1"}}


async def test_pressing_a_used_button_again_is_a_scenario_error(tmp_path: Path) -> None:
    press = {"user": "sarah", "action": "mailbox-answered", "ticket": "M1"}
    scenario = yaml.safe_load((SCENARIOS / "mailbox_desk.yaml").read_text())
    scenario["steps"] = [MAIL, press, press]
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True))
    with pytest.raises(ScenarioError, match="step 3: no message offers the button \"mailbox-answered\""):
        await simulate(path, io.StringIO())


async def test_attacks_typed_commands(tmp_path: Path) -> None:
    steps = [MAIL,
             {"user": "sarah", "dm": True, "text": "/mailbox list"},
             # an outsider (no [people] entry) and a requester type the command
             {"user": "stranger", "dm": True, "text": "/mailbox answered M1"},
             # an agent who does not hold the mailbox, a mail that does not exist, a malformed number
             {"user": "jonas", "dm": True, "text": "/mailbox forward M1"},
             {"user": "sarah", "dm": True, "text": "/mailbox answered M99"},
             {"user": "sarah", "dm": True, "text": "/mailbox answered x'; drop table held_mails"},
             # a ticket for somebody who is no agent; adding to a ticket that does not exist
             {"user": "sarah", "dm": True, "text": "/mailbox ticket M1 @stranger"},
             {"user": "sarah", "dm": True, "text": "/mailbox add M1 HW-77"},
             # a lead decides though not the holder (here: Sarah's coordinator role is not needed; mira is lead)
             {"user": "mira", "dm": True, "text": "/mailbox answered M1"},
             {"user": "sarah", "dm": True, "text": "/mailbox answered M1"},
             {"user": "sarah", "dm": True, "text": "/mailbox list"}]
    people = yaml.safe_load((SCENARIOS / "mailbox_desk.yaml").read_text())["config"]["people"]
    people["mira"]["roles"] = ["agent", "lead"]
    lines = await _run(tmp_path, steps, people=people)
    check_shape(lines)
    assert "Only the support team" in about(lines, to="@stranger")[0]["text"]
    jonas = about(lines, to="@jonas")
    assert jonas[0]["kind"] == "error" and "Only the mailbox holder (Sarah)" in jonas[0]["text"]
    sarah = [line["text"] for line in about(lines, to="@sarah") if line.get("kind") != "mail_held"]
    waiting, sarah = sarah[0], sarah[1:]
    assert "M1 · for Paul · from Maria · Hi · Tue 24 Nov, 09:05" in waiting
    assert sarah[-1] == "No mail waits for the mailbox holder."
    assert "There is no held mail M99." in sarah[0]
    assert "Usage: /mailbox answered MAIL" in sarah[1]
    assert "stranger" in sarah[2] and "HW-" not in sarah[2]
    assert "HW-77" in sarah[3]
    assert about(lines, to="@mira")[0]["text"] == "Mail M1: marked as answered, no ticket."
    assert "handled already: marked as answered, no ticket (Mira," in sarah[4]
    assert not [line for line in lines if line.get("kind") == "receipt"]
    assert not [line for line in lines if "Traceback" in line.get("text", "")]


async def test_forward_without_the_colleagues_address_is_refused_and_nothing_is_decided(tmp_path: Path) -> None:
    steps = [{**MAIL, "mail": {**MAIL["mail"], "text": "Hallo Jonas, a question."}},
             {"user": "sarah", "dm": True, "text": "/mailbox forward M1"},
             {"user": "sarah", "action": "mailbox-ticket", "ticket": "M1"}]
    lines = await _run(tmp_path, steps)
    refused = about(lines, to="@sarah", kind="error")
    assert "Jonas has no e-mail address in [people]" in refused[0]["text"]
    assert about(lines, to="mail:maria@example.com", kind="receipt", ticket="HW-1")
    assert about(lines, to="@jonas", text="Sarah assigned HW-1 (P2) to you.")


async def test_a_desk_without_the_mailbox_role_makes_tickets_at_once(tmp_path: Path) -> None:
    duty = yaml.safe_load((SCENARIOS / "mailbox_desk.yaml").read_text())["config"]["duty"]
    duty["roles"] = ["phone", "standby"]
    lines = await _run(tmp_path, [MAIL], duty=duty)
    assert not [line for line in lines if line.get("kind") == "mail_held"]
    assert about(lines, to="mail:maria@example.com", kind="receipt", ticket="HW-1")


async def test_on_matrix_the_choices_are_numbered_options(tmp_path: Path) -> None:
    scenario = yaml.safe_load((SCENARIOS / "mailbox_desk.yaml").read_text())
    scenario["platform"] = "matrix"
    scenario["steps"] = [MAIL, {"user": "sarah", "action": "mailbox-forward", "ticket": "M1"}]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True))
    lines = await run_in_process(path)
    (card,) = cards(lines, "@sarah")
    assert card["buttons"] == BUTTONS and "!mailbox ticket M1" in card["text"]
    assert about(lines, to="mail:paul@agency.example", kind="forward")


async def test_the_owner_away_their_substitute_holds_the_mailbox_else_nobody(tmp_path: Path) -> None:
    mail = {"from": "Maria <maria@example.com>", "subject": "Hi", "text": "Hallo Paul, a question."}
    steps = [{"at": "2026-11-24T09:01:00+01:00", "user": "sarah", "dm": True,
              "text": "/duty away 2026-11-24 2026-11-24 @mira"},
             {"at": "2026-11-24T09:05:00+01:00", "mail": {**mail, "id": "m1"}},
             {"at": "2026-11-25T09:01:00+01:00", "user": "sarah", "dm": True,
              "text": "/duty away 2026-11-25 2026-11-25"},
             {"at": "2026-11-25T09:05:00+01:00", "mail": {**mail, "id": "m2"}}]
    lines = await _run(tmp_path, steps)
    assert [c["text"].split()[1] for c in cards(lines, "@mira")] == ["M1"]
    assert not cards(lines, "@sarah")
    # the second day nobody stands in: a ticket as usual, and the duty channel hears why
    assert about(lines, to="mail:maria@example.com", kind="receipt", ticket="HW-1")
    assert [line for line in about(lines, to="#support-duty", kind="notice") if "mailbox duty" in line["text"]]


async def test_at_the_handover_the_waiting_mails_go_to_the_new_holder(tmp_path: Path) -> None:
    steps = [{"at": "2026-11-24T15:30:00+01:00",
              "mail": {"from": "Maria <maria@example.com>", "subject": "Hi", "text": "Hallo Paul, a question.",
                       "id": "m1"}},
             {"at": "2026-11-24T16:05:00+01:00", "user": "lea", "action": "mailbox-ticket", "ticket": "M1"}]
    lines = await _run(tmp_path, steps)
    check_shape(lines)
    (sarah,) = cards(lines, "@sarah")
    (lea,) = cards(lines, "@lea")
    assert lea["at"] == "2026-11-24T15:00:00Z" and lea["buttons"] == BUTTONS and "Mail M1" in lea["text"]
    (handed,) = updated(lines, sarah)
    assert handed["buttons"] == [] and "M1 was handed over to Lea with the duty." in handed["text"]
    (done,) = updated(lines, lea)
    assert "M1: ticket HW-1 opened (Lea," in done["text"]
    assert about(lines, to="mail:maria@example.com", kind="receipt", ticket="HW-1")
