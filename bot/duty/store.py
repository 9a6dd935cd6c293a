"""Reading the duty rota from the database into the resolver's values, in the caller's unit of work.

The rota of the config (``[duty] members, roles, rotation, anchor``) is kept as versions in
``duty_rotas``: the first one answers for every date, and when the config's rota differs from the
newest config version, a new version is written that takes effect on today's duty date. So editing
the members in the config changes today and later, never an answer about an earlier date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.duty.config import DutyConfig
from bot.duty.model import ALWAYS, Absence, Assignment, DutyFacts, Override, RotaHistory, RotaVersion
from bot.duty.resolve import assignment_on, assignments_on, planned_holder
from bot.duty.window import DutyWindow
from storage.models import DutyAbsence, DutyOverride, DutyPlan, DutyRota

_WINDOW = "duty_window"


def window_of(desk: Desk) -> DutyWindow | None:
    """The desk's duty window (built once per desk), or None without ``[duty]``."""
    cached = desk.__dict__.get(_WINDOW)
    if cached is None or cached.config is not desk.settings.duty:
        cached = DutyWindow.from_desk(desk)
        desk.__dict__[_WINDOW] = cached
    return cached


def version_from_config(config: DutyConfig, window: DutyWindow, valid_from: date = ALWAYS) -> RotaVersion:
    return RotaVersion(valid_from=valid_from, members=tuple(config.members), roles=tuple(config.roles),
                       rotation=config.rotation, anchor=window.anchor)


def _version(row: DutyRota) -> RotaVersion:
    return RotaVersion(valid_from=row.valid_from, members=tuple(row.members), roles=tuple(row.roles),
                       rotation=row.rotation, anchor=row.anchor)  # type: ignore[arg-type]


def today(desk: Desk, window: DutyWindow) -> date:
    return window.local_date(desk.clock.now())


async def add_rota_version(session: AsyncSession, desk: Desk, version: RotaVersion, *, source: str = "command",
                           created_by: str | None = None) -> DutyRota:
    """Stores a rota edit in effect from ``version.valid_from``; earlier dates keep their answers."""
    row = DutyRota(valid_from=version.valid_from, members=list(version.members), roles=list(version.roles),
                   rotation=version.rotation, anchor=version.anchor, source=source, created_by=created_by,
                   created_at=desk.clock.now())
    session.add(row)
    await session.flush()
    return row


async def load_rota(session: AsyncSession, desk: Desk, window: DutyWindow) -> RotaHistory:
    """Every rota version; writes a new version first when the config's rota was edited."""
    config = desk.settings.duty
    assert config is not None
    rows = list((await session.scalars(select(DutyRota).order_by(DutyRota.valid_from, DutyRota.id))).all())
    wanted = version_from_config(config, window)
    from_config = [row for row in rows if row.source == "config"]
    if not from_config:
        rows.append(await add_rota_version(session, desk, wanted, source="config"))
    elif not _version(from_config[-1]).same_rule(wanted):
        start = max(today(desk, window), from_config[-1].valid_from)
        edit = version_from_config(config, window, valid_from=start)
        rows.append(await add_rota_version(session, desk, edit, source="config"))
    # versions sorted by valid_from, and by id among equal dates: the newest edit of a date wins
    rows.sort(key=lambda r: (r.valid_from, r.id))
    return RotaHistory(tuple(_version(row) for row in rows))


async def load_facts(session: AsyncSession, desk: Desk, window: DutyWindow, first: date, last: date) -> DutyFacts:
    """Rota, confirmed plans, overrides and absences that matter for the dates ``first``..``last``."""
    config = desk.settings.duty
    assert config is not None
    rota = await load_rota(session, desk, window)
    plans: dict[tuple[date, str], str] = {}
    for row in (await session.scalars(
        select(DutyPlan).where(DutyPlan.status == "confirmed", DutyPlan.day >= first, DutyPlan.day <= last)
        .order_by(DutyPlan.id)
    )).all():
        plans[(row.day, row.role)] = row.person
    overrides = tuple(
        Override(day=row.day, role=row.role, person=row.person, reason=row.reason, replaced=row.replaced, seq=row.id)
        for row in (await session.scalars(
            select(DutyOverride).where(DutyOverride.cancelled.is_(False), DutyOverride.day >= first,
                                       DutyOverride.day <= last).order_by(DutyOverride.id)
        )).all()
    )
    absences = tuple(
        Absence(person=row.person, first=row.first_day, last=row.last_day, kind=row.kind,  # type: ignore[arg-type]
                substitute=row.substitute, seq=row.id)
        for row in (await session.scalars(
            select(DutyAbsence).where(DutyAbsence.cancelled.is_(False), DutyAbsence.first_day <= last,
                                      DutyAbsence.last_day >= first).order_by(DutyAbsence.id)
        )).all()
    )
    return DutyFacts(rota=rota, plans=plans, overrides=overrides, absences=absences,
                     coordinator=config.coordinator, fallback=config.fallback)


@dataclass
class DutyState:
    """The rota of a range of dates, loaded once; answers with the pure resolver."""

    desk: Desk
    window: DutyWindow
    facts: DutyFacts
    first: date
    last: date

    def _check(self, day: date) -> None:
        if not self.first <= day <= self.last:
            raise ValueError(f"{day} is outside the loaded dates {self.first}..{self.last}")

    def assignment(self, role: str, day: date) -> Assignment:
        self._check(day)
        return assignment_on(role, day, self.facts, self.window)

    def assignments(self, day: date) -> dict[str, Assignment]:
        self._check(day)
        return assignments_on(day, self.facts, self.window)

    def planned(self, role: str, day: date) -> str | None:
        """The holder before absences (override, plan, rotation)."""
        self._check(day)
        return planned_holder(self.facts, role, day, self.window)[0]

    def who(self, role: str, instant: datetime) -> str | None:
        day = self.window.duty_date_of(instant)
        return None if day is None else self.assignment(role, day).person

    def roles(self, day: date) -> tuple[str, ...]:
        version = self.facts.rota.at(day)
        return version.roles if version is not None else ()

    def members(self, day: date) -> tuple[str, ...]:
        version = self.facts.rota.at(day)
        return version.members if version is not None else ()


async def load_state(session: AsyncSession, desk: Desk, first: date, last: date | None = None) -> DutyState | None:
    """The rota for ``first``..``last`` (one date by default); None when the desk has no ``[duty]``."""
    window = window_of(desk)
    if window is None:
        return None
    last = last or first
    facts = await load_facts(session, desk, window, first, last)
    return DutyState(desk, window, facts, first, last)


async def holder(session: AsyncSession, desk: Desk, role: str, instant: datetime) -> str | None:
    """Who holds ``role`` at ``instant`` (None outside the windows): ``who`` with the desk's data."""
    window = window_of(desk)
    if window is None:
        return None
    day = window.duty_date_of(instant)
    if day is None:
        return None
    state = await load_state(session, desk, day)
    assert state is not None
    return state.assignment(role, day).person


async def holders_on(session: AsyncSession, desk: Desk, day: date) -> dict[str, Assignment]:
    """Every role's assignment on ``day`` (empty on days without duty or without ``[duty]``)."""
    state = await load_state(session, desk, day)
    if state is None or not state.window.is_duty_day(day):
        return {}
    return state.assignments(day)


def week_of(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)
