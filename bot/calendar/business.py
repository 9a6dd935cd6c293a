"""Business calendars: when is a desk open, and how much open time lies between two instants.

Every rule is applied on the wall clock of the calendar's zone and only then turned into instants,
so 08:00-16:00 is 08:00-16:00 local on the days the clocks change. Internally an instant is an
integer count of microseconds since the Unix epoch (UTC): exact, cheap to compare and add, and
independent of the process time zone. Each date's opening intervals are computed once and cached,
and the dates of a run of consecutive years are flattened into one timeline with running totals
of business time and of working dates, so that adding or measuring business time, or counting
working days, is a binary search or an index lookup whatever the span: a 30-day target costs what
a 4-hour one costs.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.calendar.config import CalendarConfig
from bot.calendar.holiday_source import HolidaySource
from bot.calendar.hours import Range, WeeklyHours, parse_ranges, parse_weekly_hours
from bot.calendar.walltime import ensure_aware

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MINUTE_US = 60_000_000
_DAY_US = 86_400_000_000

# Instants in microseconds since the epoch; a date's openings as half-open [start, end) pairs.
_Span = tuple[int, int]


class CalendarError(ValueError):
    """A question the calendar cannot answer, e.g. no working time within the search horizon."""


class Interval(NamedTuple):
    """One opening of a date, both ends aware datetimes in the calendar's zone, end exclusive."""

    start: datetime
    end: datetime


def _to_us(instant: datetime) -> int:
    return (ensure_aware(instant) - _EPOCH) // _US


class _Day(NamedTuple):
    """One date's openings as instants, and where each lies in the date's wall-clock business time."""

    spans: tuple[_Span, ...]
    # Wall-clock business time of the date before each span, when wall clock and elapsed time agree
    # throughout the openings (no clock change inside them, no range lost to a skipped hour): then a
    # position in the working day is plain arithmetic. None on the few dates where they do not.
    wall_before: tuple[int, ...] | None


# How many years a timeline may grow by to take in a new question before it is rebuilt around it.
_JOIN_YEARS = 5


class _Timeline:
    """The openings of the dates of consecutive years, in order, with running totals.

    ``cum_end[i]`` is the business time from the timeline's first opening to the end of span ``i``,
    so the business time between two instants is a difference of two lookups and the instant at
    which an amount is used up is one bisection; ``work_before[k]`` counts the working dates before
    the timeline's ``k``-th date, so "the n-th working day after" is an index.
    """

    __slots__ = ("base", "cum_end", "end_ordinal", "ends", "first_year", "hi_us", "last_year", "lo_us",
                 "span_day", "span_wall", "starts", "total", "work_before", "workdays")

    def __init__(self, first_year: int, last_year: int, days: list[_Day]) -> None:
        self.first_year = first_year
        self.last_year = last_year
        self.base = date(first_year, 1, 1).toordinal()
        self.end_ordinal = self.base + len(days)
        starts: list[int] = []
        ends: list[int] = []
        cum_end: list[int] = []
        span_day: list[int] = []
        span_wall: list[int] = []  # the span's wall-clock position in its date; -1: work it out the long way
        work_before: list[int] = []
        workdays: list[int] = []
        total = 0
        for ordinal, day in enumerate(days, self.base):
            work_before.append(len(workdays))
            if day.spans:
                workdays.append(ordinal)
            for index, (start, end) in enumerate(day.spans):
                wall = day.wall_before[index] if day.wall_before is not None else -1
                if ends and start < ends[-1]:
                    start, wall = ends[-1], -1  # never count an instant twice, whatever a clock change did
                if end <= start:
                    continue
                total += end - start
                starts.append(start)
                ends.append(end)
                cum_end.append(total)
                span_day.append(ordinal)
                span_wall.append(wall)
        work_before.append(len(workdays))
        self.starts, self.ends, self.cum_end, self.total = starts, ends, cum_end, total
        self.span_day, self.span_wall = span_day, span_wall
        self.work_before, self.workdays = work_before, workdays
        # The instants it answers for: a date's openings lie between its midnight and the next (24:00),
        # and no zone is more than a day away from UTC, so a day's margin at each end keeps out the
        # openings of the dates just outside, which the timeline does not hold.
        self.lo_us = (datetime(first_year, 1, 1, tzinfo=UTC) - _EPOCH) // _US + _DAY_US
        self.hi_us = (datetime(last_year + 1, 1, 1, tzinfo=UTC) - _EPOCH) // _US - _DAY_US

    def before(self, us: int) -> int:
        """Business time of the timeline's openings that lies before ``us``."""
        index = bisect_right(self.ends, us)  # spans 0 … index-1 ended at or before us
        done = self.cum_end[index - 1] if index else 0
        if index < len(self.starts) and self.starts[index] < us:
            done += us - self.starts[index]
        return done

    def at(self, amount: int) -> int:
        """The instant at which ``amount`` (0 < amount ≤ total) of business time is used up."""
        index = bisect_left(self.cum_end, amount)  # the first span that reaches it; its end if exactly
        return self.ends[index] - (self.cum_end[index] - amount)


class BusinessCalendar:
    """Opening hours of one desk: zone, weekly hours, holidays, closed and extra working dates.

    Dates are resolved in this order: an ``open`` override wins; then ``closed``; then a day off
    from the holidays package; then the weekly hours; a weekend date that a decree made a working
    day (Russian working Saturdays) gets the hours of the next weekday that has weekly hours,
    which is the weekday the day off was moved to in the decrees so far.
    """

    def __init__(
        self,
        name: str,
        zone: ZoneInfo,
        weekly: WeeklyHours,
        *,
        holidays: HolidaySource | None = None,
        closed: frozenset[date] = frozenset(),
        open_dates: Mapping[date, tuple[Range, ...]] | None = None,
        horizon_days: int = 3660,
    ) -> None:
        if len(weekly) != 7:
            raise ValueError("weekly hours need one entry per weekday, Monday first")
        self.name = name
        self.zone = zone
        self.weekly = weekly
        self.holidays = holidays
        self.closed = closed
        self.open_dates: dict[date, tuple[Range, ...]] = dict(open_dates or {})
        # A calendar with no working time at all would make every search loop forever.
        self.horizon_days = horizon_days
        self._decreed_hours = tuple(self._hours_of_next_working_weekday(day) for day in range(7))
        self._days: dict[int, _Day] = {}
        self._line: _Timeline | None = None

    @classmethod
    def from_config(cls, name: str, cfg: CalendarConfig) -> BusinessCalendar:
        return cls(
            name,
            ZoneInfo(cfg.timezone),
            parse_weekly_hours(cfg.hours),
            holidays=HolidaySource.from_spec(cfg.holidays) if cfg.holidays else None,
            closed=frozenset(cfg.closed),
            open_dates={day: parse_ranges(text) for day, text in cfg.open.items()},
        )

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, zone={self.zone.key!r})"

    # ----------------------------------------------------------------- dates and wall clock

    def _hours_of_next_working_weekday(self, weekday: int) -> tuple[Range, ...]:
        for step in range(1, 8):
            ranges = self.weekly[(weekday + step) % 7]
            if ranges:
                return ranges
        return ()

    def wall_hours(self, day: date) -> tuple[Range, ...]:
        """Opening ranges of ``day`` on the wall clock, in minutes since midnight."""
        override = self.open_dates.get(day)
        if override is not None:
            return override
        if day in self.closed:
            return ()
        if self.holidays is not None and self.holidays.is_day_off(day):
            return ()
        ranges = self.weekly[day.weekday()]
        if ranges:
            return ranges
        if self.holidays is not None and self.holidays.is_decreed_workday(day):
            return self._decreed_hours[day.weekday()]
        return ()

    def _wall_to_us(self, naive: datetime, fold: int) -> int:
        """The instant of a wall time; a skipped wall time maps to the end of the gap.

        ``fold`` picks the first (0) or second (1) pass through a repeated hour: openings take the
        first so that no open time is lost, closings the second for the same reason.
        """
        candidate = naive.replace(tzinfo=self.zone, fold=fold)
        utc = candidate.astimezone(UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) == naive:
            return (utc - _EPOCH) // _US
        # Inside a gap: the first existing instant whose wall time is later lies between the two
        # readings of the gap time; a bisection on whole seconds finds the change.
        low = (naive.replace(tzinfo=self.zone, fold=1).astimezone(UTC) - _EPOCH) // _US
        high = (naive.replace(tzinfo=self.zone, fold=0).astimezone(UTC) - _EPOCH) // _US
        low, high = min(low, high), max(low, high)
        while high - low > 1_000_000:
            mid = (low + high) // 2
            wall = (_EPOCH + mid * _US).astimezone(self.zone).replace(tzinfo=None)
            if wall >= naive:
                high = mid
            else:
                low = mid
        # Clock changes happen on whole seconds, and the change lies in (high - 1 s, high].
        return high - high % 1_000_000

    def _day(self, ordinal: int) -> _Day:
        day = self._days.get(ordinal)
        if day is None:
            day = self._compute_day(date.fromordinal(ordinal))
            self._days[ordinal] = day
        return day

    def _spans(self, ordinal: int) -> tuple[_Span, ...]:
        return self._day(ordinal).spans

    def _offset_at(self, us: int) -> timedelta | None:
        return (_EPOCH + us * _US).astimezone(self.zone).utcoffset()

    def _compute_day(self, day: date) -> _Day:
        spans = self._compute_spans(day)
        ranges = self.wall_hours(day)
        if len(ranges) != len(spans):
            return _Day(spans, None)
        wall_before: list[int] = []
        before = 0
        for (open_min, close_min), (start, end) in zip(ranges, spans, strict=True):
            length = (close_min - open_min) * _MINUTE_US
            # Same length and the same UTC offset at both ends: the span is its wall range, moved by
            # a constant offset (tzdata has no zone that changes its clock twice within hours).
            if end - start != length or self._offset_at(start) != self._offset_at(end - 1):
                return _Day(spans, None)
            wall_before.append(before)
            before += length
        return _Day(spans, tuple(wall_before))

    def _compute_spans(self, day: date) -> tuple[_Span, ...]:
        midnight = datetime.combine(day, time())
        result: list[_Span] = []
        for open_min, close_min in self.wall_hours(day):
            start = self._wall_to_us(midnight + timedelta(minutes=open_min), 0)
            # 24:00 belongs to the next date: its first pass, or the next date would overlap this one.
            close_fold = 0 if close_min == 24 * 60 else 1
            end = self._wall_to_us(midnight + timedelta(minutes=close_min), close_fold)
            if end <= start:
                continue  # the whole range lies in a skipped hour
            if result and start <= result[-1][1]:
                # A repeated hour can make two wall ranges overlap as instants: join them.
                result[-1] = (result[-1][0], max(result[-1][1], end))
            else:
                result.append((start, end))
        return tuple(result)

    def _local_ordinal(self, us: int) -> int:
        return (_EPOCH + us * _US).astimezone(self.zone).toordinal()

    def _out(self, us: int) -> datetime:
        return (_EPOCH + us * _US).astimezone(self.zone)

    # The questions below come in two forms: on aware datetimes, and (``…_us``) on instants as integer
    # microseconds since the epoch, for a caller that chains several (an SLA deadline takes four):
    # one conversion in and one out instead of one each way per question.

    @staticmethod
    def to_us(instant: datetime, what: str = "instant") -> int:
        """An aware instant as microseconds since the epoch (a naive one is refused)."""
        return (ensure_aware(instant, what) - _EPOCH) // _US

    def from_us(self, us: int) -> datetime:
        """Microseconds since the epoch as an instant in the calendar's zone."""
        return self._out(us)

    def local_date(self, instant: datetime) -> date:
        return ensure_aware(instant).astimezone(self.zone).date()

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The openings of ``day`` as instants in the calendar's zone (empty on a day off)."""
        return tuple(Interval(self._out(s), self._out(e)) for s, e in self._spans(day.toordinal()))

    def opening(self, day: date) -> datetime | None:
        spans = self._spans(day.toordinal())
        return self._out(spans[0][0]) if spans else None

    def closing(self, day: date) -> datetime | None:
        spans = self._spans(day.toordinal())
        return self._out(spans[-1][1]) if spans else None

    def is_working_day(self, day: date) -> bool:
        return bool(self._spans(day.toordinal()))

    def working_days(self, first: date, last: date | None = None) -> Iterator[date]:
        """Working dates from ``first`` on (through ``last`` if given), in order."""
        ordinal = first.toordinal()
        end = last.toordinal() if last is not None else None
        idle = 0
        while end is None or ordinal <= end:
            if self._spans(ordinal):
                idle = 0
                yield date.fromordinal(ordinal)
            else:
                idle += 1
                if idle > self.horizon_days:
                    raise self._no_working_time(date.fromordinal(ordinal - idle))
            ordinal += 1

    def next_working_day(self, day: date) -> date:
        """The first working date strictly after ``day``."""
        return next(self.working_days(day + timedelta(days=1)))

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The ``n``-th working date after ``day`` (``day`` itself is not counted; n ≥ 1)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        return date.fromordinal(self._nth_working_ordinal(day.toordinal(), n))

    def _nth_working_ordinal(self, ordinal: int, n: int) -> int:
        line = self._line
        if line is None or not line.base <= ordinal < line.end_ordinal:
            year = date.fromordinal(ordinal).year
            line = self._cover(year - 1, year + 1)
        index = line.work_before[ordinal + 1 - line.base] + n - 1  # working dates up to ordinal, then n on
        while index >= len(line.workdays):
            line = self._grow(line, ordinal)
        return line.workdays[index]

    def _no_working_time(self, since: date) -> CalendarError:
        return CalendarError(
            f"calendar {self.name!r} has no working time within {self.horizon_days} days after {since}"
        )

    # ----------------------------------------------------------------- instants

    def _local_year(self, us: int) -> int:
        return (_EPOCH + us * _US).astimezone(self.zone).year

    def _cover(self, first_year: int, last_year: int) -> _Timeline:
        """The timeline of the years ``first_year`` … ``last_year``, joined with the current one if near."""
        line = self._line
        near = line is not None and line.first_year - _JOIN_YEARS <= first_year
        if line is not None and near and last_year <= line.last_year + _JOIN_YEARS:
            first_year, last_year = min(first_year, line.first_year), max(last_year, line.last_year)
        first = date(first_year, 1, 1).toordinal()
        days = [self._day(ordinal) for ordinal in range(first, date(last_year + 1, 1, 1).toordinal())]
        line = _Timeline(first_year, last_year, days)
        self._line = line
        return line

    def _line_for(self, a: int, b: int | None = None) -> _Timeline:
        """A timeline that answers for the instants ``a`` (and ``b`` ≥ ``a``)."""
        line = self._line
        last = a if b is None else b
        if line is not None and line.lo_us <= a and last < line.hi_us:
            return line
        return self._cover(self._local_year(a) - 1, self._local_year(last) + 1)

    def _grow(self, line: _Timeline, since: int) -> _Timeline:
        """The timeline one year longer, for a search from date ``since`` that ran off its end.

        Fails once the search has found no working date for more than the horizon: a calendar
        without working time would otherwise grow forever.
        """
        idle_from = max(since, line.workdays[-1] + 1) if line.workdays else since
        if line.end_ordinal - idle_from > self.horizon_days:
            raise self._no_working_time(date.fromordinal(idle_from))
        return self._cover(line.first_year, line.last_year + 1)

    def is_open(self, instant: datetime) -> bool:
        us = _to_us(instant)
        line = self._line_for(us)
        index = bisect_right(line.ends, us)
        return index < len(line.starts) and line.starts[index] <= us

    def _open_span(self, us: int) -> tuple[_Timeline, int, int]:
        """(timeline, index of the span, instant) of the first business instant at or after ``us``."""
        line = self._line_for(us)
        while True:
            index = bisect_right(line.ends, us)
            if index < len(line.ends):
                return line, index, max(line.starts[index], us)
            line = self._grow(line, self._local_ordinal(us))

    def next_opening_us(self, us: int) -> int:
        """:meth:`next_opening` on microseconds."""
        return self._open_span(us)[2]

    def next_opening(self, instant: datetime) -> datetime:
        """The first business instant at or after ``instant`` (itself while open)."""
        return self._out(self.next_opening_us(_to_us(instant)))

    def add_business_time_us(self, us: int, amount: int) -> int:
        """:meth:`add_business_time` on microseconds (``amount`` ≥ 0)."""
        if amount == 0:
            return self.next_opening_us(us)
        line = self._line_for(us)
        # "<=": a budget used up exactly at closing ends at closing, not at the next opening.
        while line.before(us) + amount > line.total:
            line = self._grow(line, self._local_ordinal(us))
        return line.at(line.before(us) + amount)

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which ``amount`` of business time after ``start`` is used up.

        Ending exactly at a closing time gives that closing time; ``amount == 0`` gives
        ``next_opening(start)``.
        """
        if amount < timedelta(0):
            raise ValueError(f"cannot add a negative business time ({amount})")
        return self._out(self.add_business_time_us(_to_us(start), amount // _US))

    def business_time_between_us(self, a: int, b: int) -> int:
        """:meth:`business_time_between` on microseconds."""
        if b < a:
            return -self.business_time_between_us(b, a)
        line = self._line_for(a, b)
        return line.before(b) - line.before(a)

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time in ``[a, b)``; negative when ``b`` is before ``a``."""
        return self.business_time_between_us(_to_us(a), _to_us(b)) * _US

    # ----------------------------------------------------------------- working-day targets

    def _position(self, us: int) -> tuple[int, int]:
        """(date ordinal, wall-clock business microseconds since that date's opening) of an open instant.

        Wall-clock, not elapsed, time: 10:00 on a 23-hour round-the-clock day is 10 h into the day,
        so "one working day later" is 10:00 again on the next day.
        """
        local = (_EPOCH + us * _US).astimezone(self.zone)
        local_ordinal = local.toordinal()
        for ordinal in (local_ordinal, local_ordinal - 1):
            spans = self._spans(ordinal)
            for index, (start, end) in enumerate(spans):
                if start <= us < end:
                    ranges = self.wall_hours(date.fromordinal(ordinal))
                    # Spans and ranges correspond unless a clock change merged or dropped ranges;
                    # then fall back to elapsed time, which differs by at most the changed hour.
                    before = sum(e - s for s, e in spans[:index])
                    if len(ranges) == len(spans):
                        open_min, close_min = ranges[index]
                        before = sum(c - o for o, c in ranges[:index]) * _MINUTE_US
                        midnight = datetime.combine(date.fromordinal(ordinal), time())
                        wall = local.replace(tzinfo=None)
                        if local.fold == 1 and self._is_repeated(wall):
                            # The second pass through a repeated hour would map back onto the first
                            # pass; it sits where the repeat ends so that positions never go back.
                            wall = self._repeat_end(wall)
                        offset = (wall - midnight) // _US - open_min * _MINUTE_US
                        offset = min(max(offset, 0), (close_min - open_min) * _MINUTE_US - 1)
                        return ordinal, before + offset
                    return ordinal, before + (us - start)
        raise AssertionError("_position() needs an open instant")  # pragma: no cover

    def _is_repeated(self, naive: datetime) -> bool:
        first = naive.replace(tzinfo=self.zone, fold=0)
        second = naive.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            return False
        return first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == naive

    def _repeat_end(self, naive: datetime) -> datetime:
        """The first wall time after ``naive`` that the clock shows once (changes fall on whole minutes)."""
        step = naive.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while self._is_repeated(step):
            step += timedelta(minutes=1)
        return step

    def _at_position(self, ordinal: int, offset: int) -> int:
        """The instant ``offset`` wall-clock business microseconds into a date, at most its closing."""
        day = self._day(ordinal)
        spans = day.spans
        ranges = self.wall_hours(date.fromordinal(ordinal)) if day.wall_before is None else ()
        if day.wall_before is not None or len(ranges) != len(spans):
            # Wall clock and elapsed time agree on this date (or cannot be matched): walk the spans.
            remaining = offset
            for start, end in spans:
                if remaining <= end - start:
                    return start + remaining
                remaining -= end - start
            return spans[-1][1]
        midnight = datetime.combine(date.fromordinal(ordinal), time())
        remaining = offset
        for (open_min, close_min), (start, end) in zip(ranges, spans, strict=True):
            length = (close_min - open_min) * _MINUTE_US
            if remaining <= length:
                if remaining == length:
                    return end
                wall = midnight + timedelta(minutes=open_min) + remaining * _US
                return min(max(self._wall_to_us(wall, 0), start), end)
            remaining -= length
        return spans[-1][1]

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """``n`` working days of business time from ``start`` (``working_day = "hours"``).

        The clock starts at ``next_opening(start)``, at a position (how far into its working day,
        on the wall clock); the result is the same position on the ``n``-th working day after, so
        every day walked counts with its own hours. A position past a shorter day's end is that
        day's closing, and position 0 (the opening) is the previous working day's closing:
        a budget used up exactly at closing ends at closing.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        return self._out(self.add_working_days_us(_to_us(start), n))

    def add_working_days_us(self, us: int, n: int) -> int:
        """:meth:`add_working_days` on microseconds (n ≥ 1)."""
        line, index, us = self._open_span(us)
        wall = line.span_wall[index]
        if wall >= 0:
            ordinal, offset = line.span_day[index], wall + us - line.starts[index]
        else:
            ordinal, offset = self._position(us)
        if offset == 0:
            target = ordinal if n == 1 else self._nth_working_ordinal(ordinal, n - 1)
            return self._spans(target)[-1][1]
        return self._at_position(self._nth_working_ordinal(ordinal, n), offset)

    def add_working_days_closing(self, start: datetime, n: int) -> datetime:
        """Closing time of the ``n``-th working day after the date of ``start`` (``working_day = "closing"``).

        The day of ``start`` is not counted, whatever the time, as with statutory day periods.
        """
        target = self.nth_working_day_after(self.local_date(start), n)
        return self._out(self._spans(target.toordinal())[-1][1])


def build_calendars(configs: Mapping[str, CalendarConfig]) -> dict[str, BusinessCalendar]:
    return {name: BusinessCalendar.from_config(name, cfg) for name, cfg in configs.items()}
