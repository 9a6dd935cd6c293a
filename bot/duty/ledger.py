"""The duty ledger: an append-only record of who really served each role on each duty date.

The scheduler calls :func:`record_shifts` (or :func:`record_shift` per role) at the start of each
window. A (date, role) is written once: a second call, from another replica or after a restart,
keeps the first row and returns it, so the ledger never changes after the fact.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.duty.model import Assignment
from bot.duty.store import load_state, window_of
from storage.models import DutyLedgerEntry
from storage.upsert import upsert


def _source(assignment: Assignment) -> str:
    if assignment.source == "override" and assignment.override is not None:
        return assignment.override.reason
    return assignment.source


async def record_shift(
    session: AsyncSession,
    desk: Desk,
    day: date,
    role: str,
    *,
    person: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    source: str | None = None,
) -> DutyLedgerEntry | None:
    """Records who serves ``role`` on the duty date ``day`` (by default: whoever the rota says now).

    Idempotent per (day, role): the row already there is returned unchanged. ``start``/``end``
    default to the day's first window start and last window end. Returns None when the desk has no
    ``[duty]``, ``day`` is not a duty day, or nobody holds the role.
    """
    state = await load_state(session, desk, day)
    if state is None:
        return None
    windows = state.window.windows_on(day)
    if not windows:
        return None
    if person is None:
        assignment = state.assignment(role, day)
        if assignment.person is None:
            return None
        person, source = assignment.person, source or _source(assignment)
    now = desk.clock.now()
    await session.execute(upsert(session, DutyLedgerEntry, {
        "day": day, "role": role, "person": person, "start": start or windows[0][0], "end": end or windows[-1][1],
        "source": source or "manual", "recorded_at": now}, key=["day", "role"]))
    return await session.scalar(select(DutyLedgerEntry).where(DutyLedgerEntry.day == day,
                                                              DutyLedgerEntry.role == role))


async def record_shifts(session: AsyncSession, desk: Desk, at: datetime) -> dict[str, DutyLedgerEntry | None]:
    """Records every role of the duty window that contains ``at`` (call it at the window's start).

    Returns the ledger row per role (None for a role nobody holds); empty outside the windows."""
    window = window_of(desk)
    if window is None:
        return {}
    day = window.duty_date_of(at)
    if day is None:
        return {}
    state = await load_state(session, desk, day)
    assert state is not None
    return {role: await record_shift(session, desk, day, role) for role in state.roles(day)}


@dataclass(frozen=True)
class LedgerLine:
    day: date
    role: str
    person: str
    start: datetime
    end: datetime
    source: str

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


async def ledger_month(session: AsyncSession, year: int, month: int, person: str | None = None) -> list[LedgerLine]:
    """The ledger rows of one month, by date and role; only ``person``'s when given."""
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    stmt = select(DutyLedgerEntry).where(DutyLedgerEntry.day >= first, DutyLedgerEntry.day <= last)
    if person is not None:
        stmt = stmt.where(DutyLedgerEntry.person == person)
    rows = (await session.scalars(stmt.order_by(DutyLedgerEntry.day, DutyLedgerEntry.role))).all()
    return [LedgerLine(r.day, r.role, r.person, r.start, r.end, r.source) for r in rows]


async def served_counts(session: AsyncSession, first: date, last: date) -> dict[str, dict[str, int]]:
    """How many shifts each person served per role in ``first``..``last`` (for fair planning)."""
    counts: dict[str, dict[str, int]] = {}
    rows = (await session.execute(
        select(DutyLedgerEntry.person, DutyLedgerEntry.role)
        .where(DutyLedgerEntry.day >= first, DutyLedgerEntry.day <= last)
    )).all()
    for person, role in rows:
        counts.setdefault(person, {}).setdefault(role, 0)
        counts[person][role] += 1
    return counts
