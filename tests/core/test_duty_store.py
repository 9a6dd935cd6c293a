"""The rota in the database, on both backends: config versions, the ledger, fair planning."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.core.clock import VirtualClock
from bot.duty import service
from bot.duty.ledger import ledger_month, record_shift, record_shifts, served_counts
from bot.duty.model import ALWAYS
from bot.duty.store import holder, holders_on, load_state
from bot.settings import settings_from_data
from storage.models import DutyLedgerEntry, DutyOverride, DutyRota

DUTY_DESK: dict[str, Any] = {
    "desk": {"name": "HW", "ticket_prefix": "HW", "calendar": "office", "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"], "holidays": "DE-BE"}},
    "people": {key: {"name": key.capitalize()} for key in ("jonas", "lea", "mira", "sarah")},
    "channels": {"duty": ["#support-duty"]},
    "duty": {"members": ["jonas", "lea"], "anchor": "2026-11-23", "coordinator": "sarah"},
}


def duty_settings(**duty: Any):
    data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DUTY_DESK.items()}
    data["duty"] = {**data["duty"], **duty}
    return settings_from_data(data, "(duty test desk)")


async def test_config_rota_is_kept_as_versions_and_edits_start_today(make_harness) -> None:
    first = await make_harness(duty_settings())
    async with first.sessions.begin() as session:
        state = await load_state(session, first.bot.desk, date(2026, 11, 23), date(2026, 12, 11))
        before = {d: state.assignment("phone", d).person for d in state.window.duty_days(state.first, state.last)}
    async with first.sessions.begin() as session:
        await load_state(session, first.bot.desk, date(2026, 11, 23))  # unchanged config: no new version
    rows = await first.rows(DutyRota)
    assert [(r.valid_from, r.members) for r in rows] == [(ALWAYS, ["jonas", "lea"])]

    # a week later the team edits the config: Mira replaces Jonas
    clock = VirtualClock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    edited = await make_harness(duty_settings(members=["mira", "lea"]), clock=clock)
    async with edited.sessions.begin() as session:
        state = await load_state(session, edited.bot.desk, date(2026, 11, 23), date(2026, 12, 11))
        after = {d: state.assignment("phone", d).person for d in state.window.duty_days(state.first, state.last)}
    rows = await edited.rows(DutyRota, order=DutyRota.id)
    assert [(r.valid_from, r.members) for r in rows] == [
        (ALWAYS, ["jonas", "lea"]), (date(2026, 12, 1), ["mira", "lea"])]
    for day, person in before.items():
        if day < date(2026, 12, 1):
            assert after[day] == person, day  # the past keeps its answers
        else:
            assert after[day] == {"jonas": "mira", "lea": "lea"}[person], day  # same k, new members


async def test_record_shift_is_written_once_per_date_and_role(make_harness) -> None:
    desk = await make_harness(duty_settings())
    tue = date(2026, 11, 24)
    async with desk.sessions.begin() as session:
        row = await record_shift(session, desk.bot.desk, tue, "phone")
        assert row is not None and (row.person, row.source) == ("lea", "rotation")
        assert row.start == datetime(2026, 11, 24, 15, tzinfo=UTC) and row.end == datetime(2026, 11, 24, 17, tzinfo=UTC)
    async with desk.sessions.begin() as session:
        # the rota changes afterwards; the ledger keeps who served
        session.add(DutyOverride(day=tue, role="phone", person="mira", reason="manual",
                                 created_at=desk.clock.now()))
    async with desk.sessions.begin() as session:
        assert await holder(session, desk.bot.desk, "phone", datetime(2026, 11, 24, 16, tzinfo=UTC)) == "mira"
        again = await record_shift(session, desk.bot.desk, tue, "phone")
        assert again is not None and again.person == "lea"
        served = await record_shifts(session, desk.bot.desk, datetime(2026, 11, 24, 15, tzinfo=UTC))
        assert {role: entry.person for role, entry in served.items() if entry} == {"phone": "lea", "standby": "jonas"}
        assert await record_shift(session, desk.bot.desk, date(2026, 11, 28), "phone") is None  # Saturday
        assert await record_shifts(session, desk.bot.desk, datetime(2026, 11, 24, 12, tzinfo=UTC)) == {}
    assert await desk.count(DutyLedgerEntry) == 2
    async with desk.sessions() as session:
        month = await ledger_month(session, 2026, 11)
        assert [(line.day, line.role, line.person, line.minutes) for line in month] == [
            (tue, "phone", "lea", 120), (tue, "standby", "jonas", 120)]
        assert [line.role for line in await ledger_month(session, 2026, 11, "jonas")] == ["standby"]
        assert await ledger_month(session, 2026, 12) == []


async def test_concurrent_records_of_one_shift_leave_one_row(make_harness) -> None:
    import asyncio

    desk = await make_harness(duty_settings())

    async def record(person: str) -> str:
        async with desk.sessions.begin() as session:
            row = await record_shift(session, desk.bot.desk, date(2026, 11, 24), "phone", person=person)
            assert row is not None
            return row.person

    results = await asyncio.gather(*(record(p) for p in ("lea", "mira", "jonas")), return_exceptions=True)
    assert await desk.count(DutyLedgerEntry) == 1
    async with desk.sessions() as session:
        stored = await session.scalar(select(DutyLedgerEntry.person))
    # every caller that got through saw the one stored row (SQLite may refuse a concurrent writer outright)
    assert all(r == stored for r in results if not isinstance(r, BaseException))


async def test_plan_is_fair_by_the_ledger(make_harness) -> None:
    """Three members; Mira served far more in the last weeks, so next week she is planned least."""
    desk = await make_harness(duty_settings(members=["jonas", "lea", "mira"]))
    async with desk.sessions.begin() as session:
        day = date(2026, 11, 2)
        while day < date(2026, 11, 21):
            if day.weekday() < 5:
                for role, person in (("phone", "mira"), ("standby", "mira" if day.day % 2 else "jonas")):
                    await record_shift(session, desk.bot.desk, day, role, person=person, source="manual")
            day += timedelta(days=1)
    async with desk.sessions.begin() as session:
        counts = await served_counts(session, date(2026, 10, 1), date(2026, 11, 30))
        proposal = await service.propose_plan(session, desk.bot.desk, "sarah")
    assert proposal.week == date(2026, 11, 30)
    planned = [person for _, _, person in proposal.rows]
    assert len(planned) == 10 and None not in planned
    assert planned.count("mira") < planned.count("lea") and planned.count("mira") < planned.count("jonas")
    assert counts["mira"]["phone"] == 15
    # confirmed, it is what /duty and who() answer
    async with desk.sessions.begin() as session:
        await service.confirm_plan(session, desk.bot.desk, "sarah")
    async with desk.sessions.begin() as session:
        monday = await holders_on(session, desk.bot.desk, date(2026, 11, 30))
    first = {role: person for day, role, person in proposal.rows if day == date(2026, 11, 30)}
    assert {role: a.person for role, a in monday.items()} == first
    assert {a.source for a in monday.values()} == {"plan"}


async def test_no_duty_section_means_no_rota(make_harness) -> None:
    desk = await make_harness()  # the plain test desk has no [duty]
    async with desk.sessions.begin() as session:
        assert await load_state(session, desk.bot.desk, date(2026, 11, 24)) is None
        assert await holder(session, desk.bot.desk, "phone", datetime(2026, 11, 24, 15, 30, tzinfo=UTC)) is None
        assert await record_shifts(session, desk.bot.desk, datetime(2026, 11, 24, 15, tzinfo=UTC)) == {}
    assert await desk.count(DutyRota) == 0
    async with desk.sessions() as session:
        assert (await session.scalar(select(func.count()).select_from(DutyLedgerEntry))) == 0
