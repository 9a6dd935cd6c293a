"""When duty runs: the ``[duty] window`` on the wall clock of the duty calendar's zone.

A date is a **duty day** when it is a working day of the duty calendar (weekly hours, holidays and
``closed`` dates off, ``open`` dates on) *and* the window has hours on that weekday. The window's
hours are its own (``"mon-fri 16:00-18:00"``), not the calendar's opening hours: the afternoon duty
may run outside core hours. Wall times become instants through the calendar machinery, so a window
is 16:00-18:00 local on the days the clocks change, and a window inside a skipped hour shrinks.

``duty_day_index`` counts duty days from an anchor (the anchor is 0, earlier dates negative); it is
the ``k`` of the alternate-daily rule in DESIGN.md: on the k-th duty day after ``anchor`` roles[j]
is held by members[(j + k) mod len(members)].
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.calendar import BusinessCalendar
from bot.calendar.hours import parse_weekly_hours
from bot.calendar.walltime import ensure_aware
from bot.duty.config import DutyConfig

if TYPE_CHECKING:
    from bot.core.desk import Desk

Window = tuple[datetime, datetime]

# the anchor used when [duty] anchor is not set: a Monday, so "members[0] starts on Mondays"
DEFAULT_ANCHOR = date(2026, 1, 5)
# how far current_or_next looks ahead before it gives up (a window that never opens)
SEARCH_DAYS = 800


def duty_calendar(desk: Desk) -> BusinessCalendar:
    """The calendar duty days are taken from: ``[duty] calendar``, else ``[desk] calendar``, else
    every day of the week in the desk's zone (then only the window's weekdays matter)."""
    settings = desk.settings
    duty = settings.duty
    name = (duty.calendar if duty is not None else None) or settings.desk.calendar
    if name is not None and name in desk.calendars:
        return desk.calendars[name]
    return BusinessCalendar(
        "duty-default", ZoneInfo(settings.desk.timezone), parse_weekly_hours(["mon-sun 00:00-24:00"])
    )


class DutyWindow:
    """The duty window of one desk; all answers are aware datetimes in the duty calendar's zone."""

    def __init__(self, config: DutyConfig, calendar: BusinessCalendar) -> None:
        self.config = config
        self.calendar = calendar
        self.zone = calendar.zone
        self.weekly = parse_weekly_hours([config.window])
        # The window as a calendar of its own (same zone, no holidays): it turns the window's wall
        # hours into instants with the calendar's DST handling; the duty calendar decides the dates.
        self._hours = BusinessCalendar(f"duty-window:{calendar.name}", self.zone, self.weekly)
        self.anchor = config.anchor or DEFAULT_ANCHOR
        # sorted duty-day ordinals around the anchors asked for, grown on demand
        self._index_cache: dict[date, tuple[list[int], int, int]] = {}

    @classmethod
    def from_desk(cls, desk: Desk) -> DutyWindow | None:
        """The desk's duty window, or None when the config has no ``[duty]`` section."""
        if desk.settings.duty is None:
            return None
        return cls(desk.settings.duty, duty_calendar(desk))

    def __repr__(self) -> str:
        return f"DutyWindow({self.config.window!r}, calendar={self.calendar.name!r}, zone={self.zone.key!r})"

    # ------------------------------------------------------------------ dates

    def is_duty_day(self, day: date) -> bool:
        return bool(self.weekly[day.weekday()]) and self.calendar.is_working_day(day)

    def duty_days(self, first: date, last: date) -> list[date]:
        """The duty days from ``first`` through ``last`` (both included), in order."""
        days = []
        day = first
        while day <= last:
            if self.is_duty_day(day):
                days.append(day)
            day += timedelta(days=1)
        return days

    def next_duty_day(self, day: date, *, include: bool = False) -> date | None:
        """The first duty day after ``day`` (or on it with ``include``), None within ~2 years."""
        start = day if include else day + timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            candidate = start + timedelta(days=offset)
            if self.is_duty_day(candidate):
                return candidate
        return None

    def previous_duty_day(self, day: date, *, include: bool = False) -> date | None:
        start = day if include else day - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            candidate = start - timedelta(days=offset)
            if self.is_duty_day(candidate):
                return candidate
        return None

    def local_date(self, instant: datetime) -> date:
        return ensure_aware(instant).astimezone(self.zone).date()

    # ------------------------------------------------------------------ windows

    def windows_on(self, day: date) -> list[Window]:
        """The windows of ``day`` as (start, end) instants, end exclusive; empty on a non-duty day."""
        if not self.is_duty_day(day):
            return []
        return [(iv.start, iv.end) for iv in self._hours.intervals_on(day)]

    def windows_between(self, a: datetime, b: datetime) -> list[Window]:
        """Every window that overlaps ``[a, b)`` (whole windows, not clipped), in order."""
        a, b = ensure_aware(a, "a"), ensure_aware(b, "b")
        found: list[Window] = []
        day = self.local_date(a) - timedelta(days=1)
        last = self.local_date(b)
        while day <= last:
            for start, end in self.windows_on(day):
                if end > a and start < b:
                    found.append((start, end))
            day += timedelta(days=1)
        return found

    def iter_windows(self, after: datetime) -> Iterator[Window]:
        """Windows that end after ``after``, in order (the one containing it first); unbounded."""
        after = ensure_aware(after, "after")
        day = self.local_date(after) - timedelta(days=1)
        idle = 0
        while idle < SEARCH_DAYS:
            windows = self.windows_on(day)
            idle = 0 if windows else idle + 1
            for start, end in windows:
                if end > after:
                    yield (start, end)
            day += timedelta(days=1)

    def is_on(self, instant: datetime) -> bool:
        """Whether duty runs at ``instant`` (start inclusive, end exclusive)."""
        return self.window_at(instant) is not None

    def window_at(self, instant: datetime) -> Window | None:
        """The window that contains ``instant``, or None."""
        instant = ensure_aware(instant)
        day = self.local_date(instant)
        for candidate in (day - timedelta(days=1), day):
            for start, end in self.windows_on(candidate):
                if start <= instant < end:
                    return (start, end)
        return None

    def current_or_next(self, instant: datetime) -> Window | None:
        """The window running at ``instant``, else the next one; None when none opens within ~2 years."""
        return next(self.iter_windows(instant), None)

    def duty_date_of(self, instant: datetime) -> date | None:
        """The duty day whose window contains ``instant``, or None outside the windows."""
        window = self.window_at(instant)
        return self.local_date(window[0]) if window else None

    # ------------------------------------------------------------------ alternate-daily index

    def duty_day_index(self, day: date, anchor: date | None = None) -> int:
        """k of ``day``: duty days counted from ``anchor`` (default ``[duty] anchor``), the anchor being 0.

        For a duty day after the anchor, k is the number of duty days in (anchor, day]; before it,
        minus the number of duty days in [day, anchor). A date that is not a duty day gets the index
        of the last duty day before it (the rotation does not move on days without duty).
        """
        anchor = anchor or self.anchor
        if day == anchor:
            return 0
        if not self.is_duty_day(day):
            previous = self.previous_duty_day(day)
            if previous is None:
                return 0
            if previous <= anchor < day:
                return 0
            return self.duty_day_index(previous, anchor)
        ordinals, low, high = self._index_cache.get(anchor, ([], anchor.toordinal(), anchor.toordinal()))
        target = day.toordinal()
        # grow the sorted list of duty-day ordinals to cover the target
        if target > high:
            ordinals.extend(o for o in range(high + 1, target + 1) if self.is_duty_day(date.fromordinal(o)))
            high = target
        if target < low:
            before = [o for o in range(target, low) if self.is_duty_day(date.fromordinal(o))]
            ordinals[:0] = before
            low = target
        self._index_cache[anchor] = (ordinals, low, high)
        a = anchor.toordinal()
        if target > a:
            # duty days in (anchor, day]
            return bisect_right(ordinals, target) - bisect_right(ordinals, a)
        # minus duty days in [day, anchor)
        return -(bisect_left(ordinals, a) - bisect_left(ordinals, target))


__all__ = ["DEFAULT_ANCHOR", "DutyWindow", "Window", "duty_calendar"]
