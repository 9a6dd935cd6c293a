"""Properties of calendar arithmetic on calendars with holidays, split days and clock changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import BusinessCalendar, CalendarConfig

CALENDARS = {
    "vendor": CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE-BE"),
    "desk": CalendarConfig(timezone="Europe/Moscow", hours=["mon-fri 10:00-18:00"], holidays="RU"),
    "split": CalendarConfig(
        timezone="Europe/Berlin",
        hours=["mon-thu 08:00-12:00, 13:00-17:00", "fri 08:00-14:00", "sat 10:00-13:00"],
        holidays="DE-BY",
        closed=["2026-12-24", "2026-12-31"],  # type: ignore[list-item]
        open={"2026-12-27": "10:00-12:00"},  # type: ignore[dict-item]
    ),
    "round-the-clock": CalendarConfig(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"]),
    # Opens and closes inside the hours the clock changes skip or repeat.
    "night": CalendarConfig(timezone="Europe/Berlin", hours=["mon-sun 01:00-02:30, 02:45-04:00"]),
    "new-york": CalendarConfig(timezone="America/New_York", hours=["mon-fri 09:00-17:00"], holidays="US"),
}
BUILT = {name: BusinessCalendar.from_config(name, cfg) for name, cfg in CALENDARS.items()}

_BASE = datetime(2025, 1, 1, tzinfo=UTC)
_SPAN = int(timedelta(days=4 * 365).total_seconds())
_VIEW_ZONES = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Europe/Moscow"), ZoneInfo("Pacific/Kiritimati")]


def _clock_changes() -> list[datetime]:
    """Instants (to the hour) at which Berlin or New York change their clocks, 2025-2028."""
    changes = []
    for zone in (ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")):
        hour = _BASE
        while hour < _BASE + timedelta(seconds=_SPAN):
            if (hour + timedelta(hours=1)).astimezone(zone).utcoffset() != hour.astimezone(zone).utcoffset():
                changes.append(hour + timedelta(hours=1))
            hour += timedelta(hours=1)
    return changes


_CHANGES = _clock_changes()

calendars = st.sampled_from(sorted(BUILT))
# Any instant 2025-2028, microseconds included, seen from any zone: the zone of an input must not matter.
_anywhere = st.builds(
    lambda seconds, micro: _BASE + timedelta(seconds=seconds, microseconds=micro),
    st.integers(0, _SPAN),
    st.integers(0, 999_999),
)
# Uniform instants rarely hit the weekend of a clock change, so half of them are drawn near one.
_near_change = st.builds(
    lambda change, seconds: change + timedelta(seconds=seconds),
    st.sampled_from(_CHANGES),
    st.integers(-3 * 86400, 3 * 86400),
)
instants = st.builds(
    lambda instant, zone: instant.astimezone(zone),
    st.one_of(_anywhere, _near_change),
    st.sampled_from(_VIEW_ZONES),
)
amounts = st.integers(0, 400 * 3600 * 1_000_000).map(lambda us: timedelta(microseconds=us))

bounded = settings(max_examples=200, deadline=None)


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def at_open_or_closing(cal: BusinessCalendar, instant: datetime) -> bool:
    if cal.is_open(instant):
        return True
    day = cal.local_date(instant)
    return any(
        utc(interval.end) == utc(instant) for d in (day - timedelta(days=1), day) for interval in cal.intervals_on(d)
    )


@bounded
@given(calendars, instants, amounts)
def test_add_then_measure_gives_the_amount_back(name: str, start: datetime, amount: timedelta) -> None:
    cal = BUILT[name]
    end = cal.add_business_time(start, amount)
    assert cal.business_time_between(start, end) == amount


@bounded
@given(calendars, instants, amounts.filter(lambda a: a > timedelta(0)))
def test_added_instant_lies_in_opening_hours_or_at_closing(name: str, start: datetime, amount: timedelta) -> None:
    cal = BUILT[name]
    end = cal.add_business_time(start, amount)
    assert utc(end) > utc(start)
    assert at_open_or_closing(cal, end)


@bounded
@given(calendars, instants, instants, amounts)
def test_adding_is_monotonic_in_the_start(name: str, a: datetime, b: datetime, amount: timedelta) -> None:
    cal = BUILT[name]
    first, second = sorted((a, b), key=utc)
    assert utc(cal.add_business_time(first, amount)) <= utc(cal.add_business_time(second, amount))


@bounded
@given(calendars, instants, amounts, amounts)
def test_adding_is_monotonic_in_the_amount(name: str, start: datetime, x: timedelta, y: timedelta) -> None:
    cal = BUILT[name]
    small, large = sorted((x, y))
    assert utc(cal.add_business_time(start, small)) <= utc(cal.add_business_time(start, large))


@bounded
@given(calendars, instants, instants, instants)
def test_between_adds_up(name: str, a: datetime, b: datetime, c: datetime) -> None:
    cal = BUILT[name]
    assert cal.business_time_between(a, b) + cal.business_time_between(b, c) == cal.business_time_between(a, c)


@bounded
@given(calendars, instants)
def test_next_opening(name: str, instant: datetime) -> None:
    cal = BUILT[name]
    opening = cal.next_opening(instant)
    assert utc(opening) >= utc(instant)
    assert cal.is_open(opening)
    assert cal.business_time_between(instant, opening) == timedelta(0)
    assert (utc(opening) == utc(instant)) == cal.is_open(instant)


@bounded
@given(calendars, instants)
def test_intervals_are_ordered_and_disjoint_across_days(name: str, instant: datetime) -> None:
    cal = BUILT[name]
    day = cal.local_date(instant)
    intervals = [i for d in (day - timedelta(days=1), day, day + timedelta(days=1)) for i in cal.intervals_on(d)]
    for interval in intervals:
        assert utc(interval.start) < utc(interval.end)
    for before, after in itertools.pairwise(intervals):
        assert utc(before.end) <= utc(after.start)


@bounded
@given(calendars, instants, st.integers(1, 40))
def test_working_days_results_are_in_hours(name: str, start: datetime, days: int) -> None:
    cal = BUILT[name]
    due = cal.add_working_days(start, days)
    assert at_open_or_closing(cal, due)
    assert utc(due) > utc(start)
    closing = cal.add_working_days_closing(start, days)
    # A closing time (24:00 belongs to the next date, hence the day before too) ...
    day = cal.local_date(closing)
    closings = [cal.closing(d) for d in (day - timedelta(days=1), day)]
    assert utc(closing) in [utc(c) for c in closings if c is not None]
    # ... and never earlier than the "hours" reading: a working day is at most a whole day's hours.
    assert utc(due) <= utc(closing)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_cache_makes_repeated_questions_consistent(name: str) -> None:
    cal = BUILT[name]
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    first = cal.add_business_time(start, timedelta(hours=100))
    assert cal.add_business_time(start, timedelta(hours=100)) == first


@bounded
@given(calendars, instants)
def test_working_day_position_shortcut_agrees_with_the_wall_clock(name: str, instant: datetime) -> None:
    # Where a date's openings keep one UTC offset, a position in its working day is taken from the
    # timeline by arithmetic; it must be what the wall-clock rule gives.
    cal = BUILT[name]
    line, index, us = cal._open_span(cal.to_us(instant))
    if line.span_wall[index] >= 0:
        assert (line.span_day[index], line.span_wall[index] + us - line.starts[index]) == cal._position(us)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_questions_far_apart_give_the_answers_of_a_fresh_calendar(name: str) -> None:
    # The timeline covers a run of years and is rebuilt around a question far outside it (1971, 2198):
    # going there and back must not change any answer.
    cal = BusinessCalendar.from_config(name, CALENDARS[name])
    near = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    answers = []
    for at in (near, datetime(1971, 6, 1, tzinfo=UTC), datetime(2198, 6, 1, tzinfo=UTC), near):
        answers.append((cal.add_business_time(at, timedelta(hours=100)), cal.add_working_days(at, 3),
                        cal.business_time_between(at, at + timedelta(days=400))))
        fresh = BusinessCalendar.from_config(name, CALENDARS[name])
        assert answers[-1] == (fresh.add_business_time(at, timedelta(hours=100)), fresh.add_working_days(at, 3),
                               fresh.business_time_between(at, at + timedelta(days=400)))
    assert answers[0] == answers[-1]
