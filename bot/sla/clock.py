"""An SLA clock: a start instant, a business-time budget and the pauses taken so far.

The clock is pure data plus arithmetic, so the ticket log can rebuild it at any moment (pauses are
the intervals the ticket spent in a pausing state) and every answer follows from that data alone:
due instant, elapsed and remaining business time, the instant a fraction of the budget is used.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.calendar.business import BusinessCalendar
from bot.calendar.walltime import ensure_aware


def _utc(instant: datetime, what: str) -> datetime:
    # Python compares two datetimes of the same zone by wall clock, ignoring fold, which is wrong
    # inside a repeated hour; in UTC every comparison is between instants.
    return ensure_aware(instant, what).astimezone(UTC)


@dataclass(frozen=True)
class Pause:
    """An interval in which the clock does not run; ``end`` is None while the pause lasts (kept in UTC)."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "pause start"))
        if self.end is not None:
            object.__setattr__(self, "end", _utc(self.end, "pause end"))
            if self.end < self.start:
                raise ValueError(f"pause ends before it starts: {self.start.isoformat()} → {self.end.isoformat()}")


def _merge(pauses: Iterable[Pause], start: datetime) -> tuple[Pause, ...]:
    """Pauses clipped to the clock start, sorted, overlaps joined (a pause counts once)."""
    merged: list[Pause] = []
    for pause in sorted(pauses, key=lambda p: p.start):
        if pause.end is not None and pause.end <= start:
            continue
        begin = max(pause.start, start)
        if merged and (merged[-1].end is None or begin <= merged[-1].end):
            last = merged[-1]
            end = None if last.end is None or pause.end is None else max(last.end, pause.end)
            merged[-1] = Pause(last.start, end)
        else:
            merged.append(Pause(begin, pause.end))
    return tuple(merged)


@dataclass(frozen=True)
class SlaClock:
    """``budget`` of business time on ``calendar`` counted from ``start``, minus ``pauses``.

    Instants are kept in UTC; results come back in the calendar's zone.
    """

    calendar: BusinessCalendar
    start: datetime
    budget: timedelta
    pauses: tuple[Pause, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "clock start"))
        if self.budget < timedelta(0):
            raise ValueError("an SLA budget cannot be negative")
        object.__setattr__(self, "pauses", _merge(self.pauses, self.start))

    def with_pauses(self, pauses: Sequence[Pause]) -> SlaClock:
        return SlaClock(self.calendar, self.start, self.budget, tuple(pauses))

    def instant_elapsed(self, amount: timedelta) -> datetime | None:
        """When ``amount`` of running business time is used up; None while an open pause holds it."""
        remaining = amount
        cursor = self.start
        cal = self.calendar
        for pause in self.pauses:
            if pause.start > cursor:
                running = cal.business_time_between(cursor, pause.start)
                # "<=": a budget used up exactly when a pause begins was met before the pause.
                if remaining <= running:
                    return cal.add_business_time(cursor, remaining)
                remaining -= running
            if pause.end is None:
                return None
            cursor = max(cursor, pause.end)
        return cal.add_business_time(cursor, remaining)

    @functools.cached_property
    def due(self) -> datetime | None:
        """The breach instant; None while an open pause started before the budget ran out (computed once: the
        clock is immutable, and a ticket's SLA refresh asks for it several times)."""
        return self.instant_elapsed(self.budget)

    def instant_at_fraction(self, fraction: float) -> datetime | None:
        """E.g. ``0.75`` for the warning; the fraction is of the budget, pauses excluded."""
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must lie between 0 and 1")
        return self.instant_elapsed(self.budget * fraction)

    def paused_time(self, at: datetime) -> timedelta:
        """Business time spent paused between the start and ``at``."""
        at = _utc(at, "at")
        total = timedelta(0)
        for pause in self.pauses:
            if pause.start >= at:
                break
            end = at if pause.end is None else min(pause.end, at)
            total += self.calendar.business_time_between(pause.start, end)
        return total

    def elapsed(self, at: datetime) -> timedelta:
        """Running business time between the start and ``at`` (zero before the start)."""
        at = _utc(at, "at")
        if at <= self.start:
            return timedelta(0)
        return self.calendar.business_time_between(self.start, at) - self.paused_time(at)

    def remaining(self, at: datetime) -> timedelta:
        """Budget left at ``at``; negative once breached (by how much it is overdue)."""
        return self.budget - self.elapsed(at)

    def is_paused(self, at: datetime) -> bool:
        at = _utc(at, "at")
        return any(p.start <= at and (p.end is None or at < p.end) for p in self.pauses)
