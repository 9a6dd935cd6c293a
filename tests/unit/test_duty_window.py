"""DutyWindow: the [duty] window on the duty calendar's wall clock, duty days and the alternate-daily index."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import BusinessCalendar, CalendarConfig
from bot.calendar.hours import parse_weekly_hours
from bot.duty.window import DutyWindow
from bot.settings import DutyConfig

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-18:00"], holidays="DE-BE",
                        closed=[date(2026, 12, 24)], open={date(2026, 12, 31): "09:00-12:00"})


def make(window: str = "mon-fri 16:00-18:00", anchor: date | None = date(2026, 11, 23),
         cal: CalendarConfig = OFFICE) -> DutyWindow:
    config = DutyConfig(window=window, members=["jonas", "lea"], anchor=anchor)
    return DutyWindow(config, BusinessCalendar.from_config("office", cal))


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_duty_days_of_the_agency_week() -> None:
    w = make()
    days = w.duty_days(date(2026, 11, 23), date(2026, 11, 29))
    assert days == [date(2026, 11, d) for d in range(23, 28)]
    assert w.windows_on(date(2026, 11, 24)) == [(berlin(2026, 11, 24, 16), berlin(2026, 11, 24, 18))]
    assert w.windows_on(date(2026, 11, 28)) == []


def test_holidays_closed_and_open_dates() -> None:
    w = make()
    assert not w.is_duty_day(date(2026, 12, 24))  # closed
    assert not w.is_duty_day(date(2026, 12, 25))  # Christmas (DE-BE)
    assert not w.is_duty_day(date(2026, 4, 3))  # Good Friday
    assert not w.is_duty_day(date(2026, 4, 6))  # Easter Monday
    # an open date keeps the window's own hours (16-18), not the open date's 09-12
    assert w.windows_on(date(2026, 12, 31)) == [(berlin(2026, 12, 31, 16), berlin(2026, 12, 31, 18))]
    # a Saturday is never a duty day with a mon-fri window, whatever the calendar says
    sat_open = OFFICE.model_copy(update={"open": {date(2026, 11, 28): "10:00-14:00"}})
    assert not make(cal=sat_open).is_duty_day(date(2026, 11, 28))


@pytest.mark.parametrize(("day", "start_utc"), [
    (date(2026, 3, 27), utc(2026, 3, 27, 15)),  # Friday before the change: CET
    (date(2026, 3, 30), utc(2026, 3, 30, 14)),  # Monday after: CEST
    (date(2026, 10, 23), utc(2026, 10, 23, 14)),  # CEST
    (date(2026, 10, 26), utc(2026, 10, 26, 15)),  # CET again
])
def test_dst_weeks_keep_the_wall_clock(day: date, start_utc: datetime) -> None:
    (start, end), = make().windows_on(day)
    assert start == start_utc and end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)
    assert (start.astimezone(BERLIN).hour, end.astimezone(BERLIN).hour) == (16, 18)


def test_window_in_a_skipped_hour_shrinks() -> None:
    round_the_clock = CalendarConfig(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"])
    w = make(window="mon-sun 02:00-04:00", cal=round_the_clock)
    (start, end), = w.windows_on(date(2026, 3, 29))
    assert (start, end) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))  # 03:00-04:00 CEST: one hour
    (start, end), = w.windows_on(date(2026, 10, 25))
    # the repeated hour counts twice (elapsed time: subtract in UTC, same-zone subtraction is wall time)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=3)


def test_is_on_and_its_edges() -> None:
    w = make()
    assert not w.is_on(berlin(2026, 11, 24, 15, 59, 59))
    assert w.is_on(berlin(2026, 11, 24, 16))
    assert w.is_on(datetime(2026, 11, 24, 10, 30, tzinfo=NEW_YORK))  # 16:30 in Berlin
    assert not w.is_on(berlin(2026, 11, 24, 18))
    assert not w.is_on(berlin(2026, 11, 28, 17))
    assert w.duty_date_of(berlin(2026, 11, 24, 17)) == date(2026, 11, 24)
    assert w.duty_date_of(berlin(2026, 11, 24, 19)) is None
    with pytest.raises(ValueError, match="no time zone"):
        w.is_on(datetime(2026, 11, 24, 17))


def test_current_or_next_and_windows_between() -> None:
    w = make()
    assert w.current_or_next(berlin(2026, 11, 24, 17)) == (berlin(2026, 11, 24, 16), berlin(2026, 11, 24, 18))
    # Friday after duty → Monday; across Christmas: 23rd → 28th
    assert w.current_or_next(berlin(2026, 11, 27, 18))[0] == berlin(2026, 11, 30, 16)
    assert w.current_or_next(berlin(2026, 12, 23, 18, 0, 1))[0] == berlin(2026, 12, 28, 16)
    found = w.windows_between(berlin(2026, 11, 23, 17), berlin(2026, 11, 25, 16))
    assert [s.day for s, _ in found] == [23, 24]  # overlapping windows, whole; the 25th starts at the end
    never = make(window="sat 10:00-12:00", cal=CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-18:00"]))
    assert never.current_or_next(berlin(2026, 11, 24, 12)) is None


def test_duty_day_index_counts_duty_days_from_the_anchor() -> None:
    w = make()
    assert w.duty_day_index(date(2026, 11, 23)) == 0
    assert w.duty_day_index(date(2026, 11, 24)) == 1
    assert w.duty_day_index(date(2026, 11, 30)) == 5  # the weekend does not count
    assert w.duty_day_index(date(2026, 12, 23)) == 22
    assert w.duty_day_index(date(2026, 12, 28)) == 23  # 24 closed, 25 holiday
    assert w.duty_day_index(date(2026, 11, 20)) == -1
    assert w.duty_day_index(date(2026, 11, 16)) == -5
    # a day without duty keeps the index of the duty day before it
    assert w.duty_day_index(date(2026, 11, 28)) == 4
    assert w.duty_day_index(date(2026, 12, 25)) == 22
    # another anchor (a rota version's) is counted on its own
    assert w.duty_day_index(date(2026, 11, 30), date(2026, 11, 27)) == 1


def test_anchor_on_a_day_without_duty() -> None:
    w = make(anchor=date(2026, 11, 22))  # a Sunday
    assert w.duty_day_index(date(2026, 11, 22)) == 0
    assert w.duty_day_index(date(2026, 11, 23)) == 1
    assert w.duty_day_index(date(2026, 11, 20)) == -1


WINDOW = make()


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)))
def test_consecutive_duty_days_have_consecutive_indexes(day: date) -> None:
    first = WINDOW.next_duty_day(day, include=True)
    assert first is not None
    second = WINDOW.next_duty_day(first)
    assert second is not None
    assert WINDOW.duty_day_index(second) == WINDOW.duty_day_index(first) + 1
    # and it agrees with counting by hand
    lo, hi = sorted((first, WINDOW.anchor))
    count = len(WINDOW.duty_days(lo + timedelta(days=1), hi)) if first >= WINDOW.anchor \
        else -len(WINDOW.duty_days(lo, hi - timedelta(days=1)))
    assert WINDOW.duty_day_index(first) == count


def test_from_desk_without_duty_is_none() -> None:
    class FakeDesk:
        settings = type("S", (), {"duty": None})()

    assert DutyWindow.from_desk(FakeDesk()) is None  # type: ignore[arg-type]


def test_hours_parser_is_the_calendars() -> None:
    assert make(window="mon,wed 16:00-17:00, 17:30-18:00").weekly == parse_weekly_hours(
        ["mon,wed 16:00-17:00, 17:30-18:00"])
