"""One error model: a Refused raised anywhere below a command reaches the person as the catalogue text in their
language, as an error reply, and the unit of work goes on (it is no failure: nobody is paged, the event is done)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel

from bot.core.errors import Refused, Worded
from bot.core.registry import Command
from bot.core.types import MessageKind
from bot.duty.notify import day_text
from bot.i18n import t
from storage.models import ProcessedEvent, Ticket, TicketEvent
from tests.conftest import DESK

PEOPLE = {**DESK["people"], "dora": {"name": "Dora", "language": "de"},
          "ivan": {"name": "Ivan", "language": "ru"}}


@pytest.fixture
async def desk(make_harness):
    return await make_harness(people=PEOPLE)


async def test_a_state_refusal_two_calls_deep_is_worded_for_each_reader(desk) -> None:
    await desk.send("ben", "/ticket the printer is on fire")
    await desk.send("anna", "/ticket status HW-1 triage")
    (ticket,) = await desk.rows(Ticket)
    states_before = await desk.count(TicketEvent, TicketEvent.kind == "state")
    # commands.ticket → tickets.service.change_state → tickets.states.check raises; nothing catches it on the way
    for who, lang in (("dora", "de"), ("ivan", "ru"), ("anna", "en")):
        answer = await desk.reply(who, "/ticket status HW-1 triage")
        assert answer.kind == MessageKind.ERROR
        assert answer.text == t(lang, "ticket.already_in_state", state=t(lang, "state.triage"))
    assert await desk.count(TicketEvent, TicketEvent.kind == "state") == states_before
    assert (await desk.rows(Ticket))[0].state == ticket.state == "triage"
    assert {row.status for row in await desk.rows(ProcessedEvent)} == {"done"}  # a refusal is no failure
    assert not [m for m in desk.adapter.sent if m.target.channel_id == "#support-duty" and m.kind == MessageKind.ERROR]


async def test_a_refusal_of_the_guards_names_the_fields_in_the_readers_language(make_harness) -> None:
    desk = await make_harness(people=PEOPLE, intake=[{"topic": "*", "required": ["steps", "os"]}])
    await desk.send("ben", "/ticket the shop shows error 500")
    await desk.send("anna", "/ticket assign HW-1 dora")
    answer = await desk.reply("dora", "/ticket status HW-1 in_progress")
    fields = ", ".join(t("de", f"intake.field.{f}") for f in ("steps", "os"))
    assert (answer.kind, answer.text) == (MessageKind.ERROR, t("de", "intake.incomplete", key="HW-1", fields=fields))


async def test_a_refusal_raised_anywhere_in_a_command_and_the_prefix_of_the_platform(desk) -> None:
    day = date(2026, 12, 24)

    def deep(level: int) -> None:
        if level == 0:
            raise Refused("duty.past", day=Worded(day.isoformat(), lambda lang: day_text(lang, day)))
        deep(level - 1)

    class NoArgs(BaseModel):
        pass

    async def handler(ctx, _args):
        deep(5)
        raise AssertionError("not reached")

    desk.bot.desk.registry.add(Command(("deep",), NoArgs, handler, "help.help"))
    answer = await desk.reply("ivan", "/deep")
    assert (answer.kind, answer.text) == (MessageKind.ERROR, t("ru", "duty.past", day=day_text("ru", day)))
    # a key that names the command prefix gets the prefix of the platform the person wrote on
    assert Refused("intake.needs_value", key="HW-1", field="os").text("en", prefix="!") == t(
        "en", "intake.needs_value", key="HW-1", field="os", prefix="!")


def test_worded_values_stay_data() -> None:
    state = Worded("in_progress", lambda lang: t(lang, "state.in_progress"))
    refusal = Refused("ticket.already_in_state", state=state)
    assert refusal.values == {"state": "in_progress"} and {state: 1}["in_progress"] == 1
    assert refusal.text("de") == t("de", "ticket.already_in_state", state=t("de", "state.in_progress"))
    assert state("ru") == t("ru", "state.in_progress")
    # what the place of the reply adds never overrides the refusal's own values
    assert Refused("ticket.not_found", key="HW-7").text("en", key="HW-1") == t("en", "ticket.not_found", key="HW-7")
