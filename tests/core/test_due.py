"""``/ticket assign ID @person --due WHEN``: a due time on the desk calendar and a reminder (#18, the agency's
phone duty hands a caller's ticket over "for the next day")."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.i18n import t
from storage.models import OutboxMessage, Ticket, TicketEvent, Timer
from tests.conftest import Harness

# a Berlin office, Monday to Friday 08:00-18:00; the tests start on Tuesday 2026-11-24, 15:50 Berlin
OFFICE = {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"], "holidays": "DE-BE"}}
BERLIN_DESK = {"desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "calendar": "office"},
               "calendars": OFFICE}


async def office_desk(make_harness) -> Harness:
    desk = await make_harness(**BERLIN_DESK)
    await desk.reply("dora", "/ticket the printer on floor 3 jams")
    return desk


async def ticket(desk: Harness) -> Ticket:
    (row,) = await desk.rows(Ticket, Ticket.key == "HW-1")
    return row


async def test_tomorrow_is_due_at_the_close_and_reminded_at_the_opening(make_harness) -> None:
    desk = await office_desk(make_harness)
    answer = await desk.reply("anna", "/ticket assign HW-1 @carla --due tomorrow")
    assert answer.kind == "reply" and answer.text.startswith("HW-1 is assigned to Carla, due ")
    row = await ticket(desk)
    assert row.data["due"]["at"] == "2026-11-25T18:00:00+01:00"  # Wednesday's close, desk time
    (timer,) = await desk.rows(Timer, Timer.kind == "ticket:due")
    assert timer.due_at == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # Wednesday 08:00 Berlin
    assert [e.kind for e in await desk.rows(TicketEvent, order=TicketEvent.id)][-1] == "due"
    shown = await desk.reply("anna", "/ticket show HW-1")
    assert "Due: " in shown.text and "18:00" in shown.text
    # the reminder comes when Wednesday opens, to the assignee
    before = len(desk.adapter.sent)
    await desk.bot.run_until(desk.clock, datetime(2026, 11, 25, 7, 1, tzinfo=UTC))
    reminders = [m for m in desk.adapter.sent[before:] if m.kind == "reminder"]
    assert [(m.target.kind, m.target.user_id) for m in reminders] == [("dm", "carla")]
    assert reminders[0].text.startswith("HW-1 is due ") and "the printer on floor 3 jams" in reminders[0].text


async def test_words_of_the_readers_language_and_a_closed_day(make_harness) -> None:
    desk = await office_desk(make_harness)
    await desk.reply("anna", "/ticket assign HW-1 @carla --due morgen")
    assert (await ticket(desk)).data["due"]["at"] == "2026-11-25T18:00:00+01:00"
    await desk.reply("anna", "/ticket assign HW-1 @carla --due послезавтра")
    assert (await ticket(desk)).data["due"]["at"] == "2026-11-26T18:00:00+01:00"
    # Saturday is closed: due on Monday; the earlier reminders lapse
    await desk.reply("anna", "/ticket assign HW-1 @carla --due 2026-11-28")
    assert (await ticket(desk)).data["due"]["at"] == "2026-11-30T18:00:00+01:00"
    pending = await desk.rows(Timer, Timer.kind == "ticket:due", Timer.cancelled.is_(False))
    assert [p.due_at for p in pending] == [datetime(2026, 11, 30, 7, 0, tzinfo=UTC)]
    await desk.reply("anna", "/ticket assign HW-1 @carla --due 2026-11-26T14:30")
    assert (await ticket(desk)).data["due"]["at"] == "2026-11-26T14:30:00+01:00"


async def test_bad_past_and_far_due_times_are_refused_before_anything_changes(make_harness) -> None:
    desk = await office_desk(make_harness)
    for text, key in (("someday", "due.bad"), ("2026-13-01", "due.bad"), ("2026-11-23", "due.past"),
                      ("2026-11-24T09:00", "due.past"), ("2030-01-01", "due.far"), ("9999-12-31", "due.bad")):
        answer = await desk.reply("anna", f"/ticket assign HW-1 @carla --due {text}")
        assert (answer.kind, answer.text) == ("error", t("en", key, text=text)), text
    row = await ticket(desk)
    assert row.assignee_id is None and "due" not in row.data
    assert await desk.count(Timer, Timer.kind == "ticket:due") == 0


async def test_a_requester_cannot_set_a_due_time(make_harness) -> None:
    desk = await office_desk(make_harness)
    answer = await desk.reply("dora", "/ticket assign HW-1 @carla --due tomorrow")
    assert answer.kind == "error"
    assert "due" not in (await ticket(desk)).data


async def test_a_closed_ticket_is_not_reminded(make_harness) -> None:
    desk = await office_desk(make_harness)
    await desk.reply("anna", "/ticket assign HW-1 @carla --due tomorrow")
    await desk.reply("dora", "/ticket close HW-1")
    before = await desk.count(OutboxMessage, OutboxMessage.kind == "reminder")
    await desk.bot.run_until(desk.clock, datetime(2026, 11, 25, 7, 1, tzinfo=UTC))
    assert await desk.count(OutboxMessage, OutboxMessage.kind == "reminder") == before


async def test_without_a_calendar_a_day_runs_from_nine_to_five(desk: Harness) -> None:
    await desk.reply("dora", "/ticket the printer on floor 3 jams")
    await desk.reply("anna", "/ticket assign HW-1 @carla --due tomorrow")
    assert (await ticket(desk)).data["due"]["at"] == "2026-11-25T17:00:00+00:00"  # the test desk's zone is UTC
    (timer,) = await desk.rows(Timer, Timer.kind == "ticket:due")
    assert timer.due_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
