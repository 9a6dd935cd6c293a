"""Report figures against a hand-counted week (issue #19), on SQLite and PostgreSQL.

The desk: Berlin office hours Mon–Fri 08:00–18:00; first response 30 min for P1 and 4 h otherwise, resolution in
2 working days (20 h); the requester is asked whether the solution helped and the ticket closes after 3 days
without an answer. The week reported: Mon 30 Nov – Sun 6 Dec 2026 (CET, UTC+1).

| ticket | opened (Berlin) | prio | what happens                                         | first response |
|--------|-----------------|------|------------------------------------------------------|----------------|
| HW-1   | Fri 27 Nov 10:00 | 2   | before the week; still open; reassigned after it     | —              |
| HW-2   | Mon 09:00       | 1    | answered 09:20, solved 09:30, satisfied 10:00        | 20 min         |
| HW-3   | Mon 17:00       | 2    | answered Tue 12:00 (due 11:00), taken; solved later  | 60 + 240 = 300 |
| HW-4   | Wed 10:00       | 3    | nobody answers                                       | —              |
| HW-5   | Thu 10:00       | 2    | answered 10:30, solved 11:00, no answer → closed Sun 11:00 | 30 min   |
"""

from __future__ import annotations

from datetime import date

from bot.core.clock import VirtualClock
from bot.reports.figures import build_report
from tests.core.report_week import DESK, at, week


async def test_a_hand_counted_week(make_harness) -> None:
    desk = await week(make_harness)
    async with desk.sessions() as session:
        report = await build_report(session, desk.bot.desk, date(2026, 11, 30), date(2026, 12, 6))
    data = report.as_json()
    assert data["from"] == "2026-11-30" and data["to"] == "2026-12-06"
    assert (data["opened"], data["closed"], data["open_at_end"]) == (4, 2, 3)
    assert data["by_priority"] == {"1": 1, "2": 2, "3": 1}
    assert data["by_topic"] == {"-": 3, "printer": 1}
    assert data["sla"] == {
        "response-P1": {"met": 1, "breached": 0, "running": 0, "stopped": 0},
        "response": {"met": 1, "breached": 2, "running": 0, "stopped": 0},
        "resolve": {"met": 2, "breached": 2, "running": 0, "stopped": 0},
    }
    assert data["first_response_minutes"] == {"median": 30.0, "p90": 300.0}
    assert data["satisfaction"] == {"asked": 2, "satisfied": 1, "not_fixed": 0, "no_answer": 1}
    # at the end of the week HW-3 was still open (solved on the Monday after) and HW-1 still Anna's
    assert [o["ticket"] for o in data["oldest_open"]] == ["HW-1", "HW-3", "HW-4"]
    assert data["load"] == [{"assignee": "Anna", "open": 2, "closed": 2}, {"assignee": None, "open": 1, "closed": 0}]
    rows = {line.key: line for line in report.tickets}
    assert rows["HW-3"].state == "in_progress" and rows["HW-5"].satisfaction == "no_answer"
    assert rows["HW-2"].first_response_minutes == 20 and rows["HW-2"].resolved == at(30, 9, 30)
    assert rows["HW-5"].sla["resolve"][1] == "met"
    # per day: opened, closed, backlog at the day's end (HW-1 from before the week)
    assert [(d.day.day, d.opened, d.closed, d.backlog) for d in report.days] == [
        (30, 2, 1, 2), (1, 0, 0, 2), (2, 1, 0, 3), (3, 1, 0, 3), (4, 0, 0, 3), (5, 0, 0, 3), (6, 0, 1, 3)]


async def test_the_same_week_read_again_later_is_the_same(make_harness) -> None:
    desk = await week(make_harness)
    async with desk.sessions() as session:
        before = (await build_report(session, desk.bot.desk, date(2026, 11, 30), date(2026, 12, 6))).as_json()
    desk.clock.set(at(20, 9, month=12))
    await desk.send("anna", "/ticket solve HW-4 granted", channel="#support-duty")
    await desk.send("anna", "/ticket priority HW-1 1", channel="#support-duty")
    async with desk.sessions() as session:
        after = (await build_report(session, desk.bot.desk, date(2026, 11, 30), date(2026, 12, 6))).as_json()
    assert after == before


async def test_a_range_without_tickets_is_empty(make_harness) -> None:
    desk = await make_harness(clock=VirtualClock(at(27, 10)), **DESK)
    async with desk.sessions() as session:
        report = await build_report(session, desk.bot.desk, date(2026, 11, 2), date(2026, 11, 8))
    assert report.empty and report.as_json()["first_response_minutes"] == {"median": None, "p90": None}
