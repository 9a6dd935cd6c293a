"""What the bot says is what a careful native speaker would say (issue #16, "Time and language", "Typos and
surprises"): requesters addressed "Sie"/"вы" unless the desk says "du"/"ты", argument errors in the reader's
language naming the bad value, a staff member's typo of a subcommand opens no ticket, unknown topics and taking
a closed ticket refused with what to do, /help that shows one command and lists the everyday ones first."""

from __future__ import annotations

import copy

import pytest

from bot.i18n import t
from bot.settings import settings_from_data
from storage.models import Ticket
from tests.conftest import DESK


def german(**desk: object) -> dict:
    data = copy.deepcopy(DESK)
    data["desk"] = {**data["desk"], "language": "de", **desk}
    data["resolution"] = {"require_solution": True, "ask_feedback": True}
    data["routing"] = [{"topic": "billing", "keywords": ["invoice"], "assignees": ["anna"]}]
    return data


async def solved_question(make_harness, **desk: object) -> str:
    harness = await make_harness(settings_from_data(german(**desk), "(test)"))
    await harness.send("dora", "/ticket Der Drucker druckt nicht")
    await harness.send("anna", "/ticket take HW-1")
    sent = await harness.send("anna", "/ticket solve HW-1 Treiber neu installiert.")
    found = [m.text for m in sent if "zufrieden" in m.text]
    assert found, [(m.target, m.text) for m in sent]
    return found[0]


async def test_requesters_are_addressed_formally_by_default(make_harness) -> None:
    question = await solved_question(make_harness)
    assert "Sind Sie zufrieden?" in question and "du " not in question


async def test_an_informal_desk_says_du(make_harness) -> None:
    question = await solved_question(make_harness, formal=False)
    assert "Bist du zufrieden?" in question


async def test_a_requesters_refusal_is_formal_and_the_teams_text_unchanged(make_harness) -> None:
    formal = await make_harness(settings_from_data(german(), "(test)"))
    answer = await formal.reply("dora", "/kb Drucker")
    assert "Ein Ticket eröffnen Sie mit /ticket" in answer.text
    informal = await make_harness(settings_from_data(german(formal=False), "(test)"))
    assert "Eröffne ein Ticket mit /ticket" in (await informal.reply("dora", "/kb Drucker")).text
    team = [(await harness.reply("anna", "/ticket show HW-9")).text for harness in (formal, informal)]
    assert team[0] == team[1]


async def test_argument_errors_name_the_value_and_the_choices_in_the_readers_language(make_harness) -> None:
    harness = await make_harness(settings_from_data(german(), "(test)"))
    await harness.send("dora", "/ticket Der Drucker druckt nicht")
    answer = await harness.reply("anna", "/ticket priority HW-1 7")
    assert answer.text.startswith("„7“ ist keine Priorität: 1 (hoch), 2 (normal) oder 3 (niedrig) angeben.")
    assert "Verwendung: /ticket priority NUMMER 1|2|3" in answer.text
    answer = await harness.reply("anna", "/ticket status HW-1 schlafend")
    assert "„schlafend“ ist kein Status" in answer.text and "„in Bearbeitung“" in answer.text
    assert "is not valid" not in answer.text and "STATE" not in answer.text
    await harness.send("anna", "/ticket take HW-1")
    await harness.send("anna", "/ticket status HW-1 wartet auf anfragende Person")  # the state by its German name
    async with harness.sessions() as session:
        ticket = (await session.execute(Ticket.__table__.select())).first()
    assert ticket is not None and ticket.state == "waiting_requester"


@pytest.mark.parametrize("typo", ["clsoe", "prio", "shwo", "tkae"])
async def test_a_staff_typo_of_a_subcommand_opens_no_ticket(desk, typo: str) -> None:
    await desk.send("ben", "/ticket printer on fire")
    answer = await desk.reply("anna", f"/ticket {typo} HW-1")
    meant = {"clsoe": "close", "prio": "priority", "shwo": "show", "tkae": "take"}[typo]
    assert answer.text.startswith(f"Did you mean /ticket {meant} HW-1?")
    assert await desk.count(Ticket) == 1


async def test_a_requesters_text_is_never_taken_for_a_command(desk) -> None:
    receipt = await desk.reply("dora", "/ticket clsoe to the window the printer smokes")
    assert "HW-1" in receipt.text and "Did you mean" not in receipt.text
    assert await desk.count(Ticket) == 1


async def test_an_unknown_topic_is_refused_with_the_topics(make_harness) -> None:
    harness = await make_harness(settings_from_data(german(), "(test)"))
    answer = await harness.reply("dora", "/ticket -t foo Der Drucker druckt nicht")
    assert answer.text == t("de", "routing.unknown_topic", topic="foo", topics="billing")
    assert await harness.count(Ticket) == 0


async def test_taking_a_closed_ticket_says_how_to_reopen_it(desk) -> None:
    await desk.send("ben", "/ticket printer on fire")
    await desk.send("ben", "/ticket close HW-1")  # withdrawn by its requester
    answer = await desk.reply("anna", "/ticket take HW-1")
    assert answer.text == t("en", "ticket.take_closed", key="HW-1", prefix="/")
    async with desk.sessions() as session:
        row = (await session.execute(Ticket.__table__.select())).first()
    assert row is not None and row.state == "closed" and row.assignee_id is None


async def test_help_shows_one_command_and_the_everyday_ones_first(desk) -> None:
    vendor = (await desk.reply("anna", "/help ticket vendor")).text.splitlines()
    assert len(vendor) == 2 and vendor[1].startswith("/ticket vendor ")
    lines = (await desk.reply("anna", "/help")).text.splitlines()[1:]
    firsts = [line.split(" — ")[0].split()[0:2] for line in lines[:4]]
    assert firsts[0] == ["/ticket", "[-p"] and firsts[1][:2] == ["/ticket", "list"]
    assert len(lines) == len(set(lines))
    assert any(line.startswith("/queue") for line in lines[:5])
