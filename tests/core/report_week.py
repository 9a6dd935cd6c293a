"""The hand-counted week of tests/core/test_report_figures.py (its docstring has the table), shared with the
report's CLI and chat tests."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.clock import VirtualClock

BERLIN_OFFSET = 1  # CET


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour - BERLIN_OFFSET, minute, tzinfo=UTC)


DESK = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "calendar": "office", "sla": "support",
             "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {
        "response-P1": {"within": "30m"}, "response": {"within": "4h"}, "resolve": {"within": "2d"}}}},
    "resolution": {"require_solution": True, "ask_feedback": True, "feedback_wait": "3d"},
}


async def week(make_harness):
    clock = VirtualClock(at(27, 10))
    desk = await make_harness(clock=clock, **DESK)

    async def when(instant: datetime) -> None:
        await desk.bot.run_until(clock, instant)

    await desk.send("ben", "/ticket the old one")  # HW-1
    await desk.send("anna", "/ticket take HW-1", channel="#support-duty")
    await when(at(30, 9))
    await desk.send("ben", "/ticket -p 1 server down")  # HW-2
    await when(at(30, 9, 20))
    await desk.send("anna", "/ticket reply HW-2 on it", channel="#support-duty")
    await when(at(30, 9, 30))
    await desk.send("anna", "/ticket solve HW-2 restarted the server", channel="#support-duty")
    await when(at(30, 10))
    await desk.send("ben", "/ticket satisfied HW-2")
    await when(at(30, 17))
    await desk.send("ben", "/ticket -t printer printer jam")  # HW-3
    await when(at(1, 12, month=12))
    await desk.send("anna", "/ticket reply HW-3 looking", channel="#support-duty")
    await desk.send("anna", "/ticket take HW-3", channel="#support-duty")
    await when(at(2, 10, month=12))
    await desk.send("ben", "/ticket -p 3 a wish")  # HW-4
    await when(at(3, 10, month=12))
    await desk.send("ben", "/ticket mail is slow")  # HW-5
    await when(at(3, 10, 30, month=12))
    await desk.send("anna", "/ticket reply HW-5 checking", channel="#support-duty")
    await when(at(3, 11, month=12))
    await desk.send("anna", "/ticket solve HW-5 quota raised", channel="#support-duty")
    await when(at(7, 9, month=12))  # the feedback wait closes HW-5 on Sun 11:00; now Monday after the week
    await desk.send("anna", "/ticket assign HW-1 carla", channel="#support-duty")
    await desk.send("anna", "/ticket solve HW-3 new toner", channel="#support-duty")
    return desk
