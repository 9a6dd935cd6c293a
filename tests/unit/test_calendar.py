"""Business calendars: holidays, decrees, overrides, several ranges, round the clock, clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import (
    BusinessCalendar,
    CalendarConfig,
    CalendarError,
    HolidaySource,
    WallTimeError,
    parse_instant,
)

BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")


def calendar(**kwargs: Any) -> BusinessCalendar:
    return BusinessCalendar.from_config("test", CalendarConfig(**kwargs))


@pytest.fixture(scope="module")
def desk() -> BusinessCalendar:
    return calendar(timezone="Europe/Moscow", hours=["mon-fri 10:00-18:00"], holidays="RU")


@pytest.fixture(scope="module")
def vendor() -> BusinessCalendar:
    return calendar(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE-BE")


def length(start: datetime, end: datetime) -> timedelta:
    # Subtracting two datetimes of the same zone gives the wall-clock difference; we want elapsed time.
    return end.astimezone(UTC) - start.astimezone(UTC)


def hm(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M %z")


# ----------------------------------------------------------------------------- Russia


def test_ru_decreed_working_saturday_2027_02_20(desk: BusinessCalendar) -> None:
    saturday = date(2027, 2, 20)
    assert saturday.weekday() == 5
    assert desk.is_working_day(saturday)
    # Normal hours although the weekly hours are mon-fri.
    assert [(hm(i.start), hm(i.end)) for i in desk.intervals_on(saturday)] == [
        ("2027-02-20 10:00 +0300", "2027-02-20 18:00 +0300")
    ]
    # ... and the Monday it was swapped for is off, as is Defender of the Fatherland Day.
    assert not desk.is_working_day(date(2027, 2, 22))
    assert not desk.is_working_day(date(2027, 2, 23))
    assert desk.next_opening(datetime(2027, 2, 19, 19, 0, tzinfo=MOSCOW)) == datetime(2027, 2, 20, 10, 0, tzinfo=MOSCOW)


def test_ru_working_saturday_only_when_decreed(desk: BusinessCalendar) -> None:
    assert not desk.is_working_day(date(2027, 2, 13))
    assert not desk.is_working_day(date(2027, 2, 27))


@pytest.mark.parametrize("day", [date(2026, 1, 9), date(2026, 12, 31), date(2026, 3, 9), date(2026, 11, 4)])
def test_ru_days_off(desk: BusinessCalendar, day: date) -> None:
    assert day.weekday() < 5
    assert not desk.is_working_day(day)
    assert desk.intervals_on(day) == ()


def test_ru_ordinary_days_work(desk: BusinessCalendar) -> None:
    assert desk.is_working_day(date(2026, 1, 12))
    assert desk.is_working_day(date(2026, 12, 30))


def test_working_days_iteration_skips_new_year_holidays(desk: BusinessCalendar) -> None:
    days = list(desk.working_days(date(2025, 12, 29), date(2026, 1, 16)))
    assert days == [
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2026, 1, 12),
        date(2026, 1, 13),
        date(2026, 1, 14),
        date(2026, 1, 15),
        date(2026, 1, 16),
    ]


# ----------------------------------------------------------------------------- Germany / Berlin


def test_berlin_womens_day_is_not_national(vendor: BusinessCalendar) -> None:
    national = calendar(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE")
    bavaria = calendar(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE-BY")
    womens_day = date(2027, 3, 8)  # a Monday (in 2026 it is a Sunday)
    assert not vendor.is_working_day(womens_day)
    assert national.is_working_day(womens_day)
    assert bavaria.is_working_day(womens_day)
    # And the other way round: Epiphany is Bavarian, not Berlin.
    assert vendor.is_working_day(date(2027, 1, 6))
    assert not bavaria.is_working_day(date(2027, 1, 6))


def test_berlin_one_off_holiday_2025_05_08(vendor: BusinessCalendar) -> None:
    assert not vendor.is_working_day(date(2025, 5, 8))


def test_germany_has_no_observed_monday(vendor: BusinessCalendar) -> None:
    # Christmas Day 2027 is a Saturday; Germany does not move it to Monday.
    assert vendor.is_working_day(date(2027, 12, 27))


# ----------------------------------------------------------------------------- overrides and hours


def test_closed_date() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], closed=["2026-12-23"])
    assert not cal.is_working_day(date(2026, 12, 23))
    start = datetime(2026, 12, 22, 15, 0, tzinfo=BERLIN)
    assert cal.add_business_time(start, timedelta(hours=2)) == datetime(2026, 12, 24, 9, 0, tzinfo=BERLIN)


def test_open_override_adds_and_changes_dates() -> None:
    cal = calendar(
        timezone="Europe/Berlin",
        hours=["mon-fri 08:00-16:00"],
        holidays="DE-BE",
        open={"2026-11-28": "10:00-18:00", "2026-11-24": "12:00-13:00, 14:00-15:00", "2026-12-25": "09:00-10:00"},
    )
    assert cal.opening(date(2026, 11, 28)) == datetime(2026, 11, 28, 10, 0, tzinfo=BERLIN)  # a Saturday
    assert cal.closing(date(2026, 11, 28)) == datetime(2026, 11, 28, 18, 0, tzinfo=BERLIN)
    assert len(cal.intervals_on(date(2026, 11, 24))) == 2
    assert cal.is_working_day(date(2026, 12, 25))  # the override beats the holiday
    assert cal.business_time_between(
        datetime(2026, 11, 24, 0, 0, tzinfo=BERLIN), datetime(2026, 11, 25, 0, 0, tzinfo=BERLIN)
    ) == timedelta(hours=2)


def test_several_ranges_per_day() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-thu 08:00-12:00, 13:00-17:00", "fri 08:00-14:00"])
    monday = date(2026, 11, 23)
    assert [(i.start.hour, i.end.hour) for i in cal.intervals_on(monday)] == [(8, 12), (13, 17)]
    lunch = datetime(2026, 11, 23, 12, 30, tzinfo=BERLIN)
    assert not cal.is_open(lunch)
    assert cal.next_opening(lunch) == datetime(2026, 11, 23, 13, 0, tzinfo=BERLIN)
    # Exactly at the end of the morning: that closing time, not 13:00.
    start = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
    assert cal.add_business_time(start, timedelta(hours=2)) == datetime(2026, 11, 23, 12, 0, tzinfo=BERLIN)
    assert cal.add_business_time(start, timedelta(hours=3)) == datetime(2026, 11, 23, 14, 0, tzinfo=BERLIN)
    friday = datetime(2026, 11, 27, 13, 0, tzinfo=BERLIN)
    assert cal.add_business_time(friday, timedelta(hours=2)) == datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)


def test_saturday_hours() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00", "sat 10:00-14:00"])
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=BERLIN)
    assert cal.add_business_time(friday, timedelta(hours=3)) == datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN)


def test_round_the_clock() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"])
    start = datetime(2026, 11, 28, 23, 0, tzinfo=BERLIN)
    assert cal.is_open(start)
    assert cal.add_business_time(start, timedelta(hours=30)) == datetime(2026, 11, 30, 5, 0, tzinfo=BERLIN)
    assert cal.business_time_between(start, start + timedelta(days=10)) == timedelta(days=10)


def test_round_the_clock_with_holidays_closes_on_holidays() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"], holidays="DE-BE")
    assert not cal.is_working_day(date(2026, 12, 25))
    assert cal.next_opening(datetime(2026, 12, 25, 12, 0, tzinfo=BERLIN)) == datetime(2026, 12, 27, 0, 0, tzinfo=BERLIN)


def test_calendar_without_working_time_fails_clearly() -> None:
    cal = calendar(timezone="UTC", hours=[])
    with pytest.raises(CalendarError, match="no working time"):
        cal.next_opening(datetime(2026, 1, 1, tzinfo=UTC))


def test_naive_datetimes_are_refused(vendor: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        vendor.is_open(datetime(2026, 11, 24, 10, 0))


# ----------------------------------------------------------------------------- instants


def test_open_is_half_open(vendor: BusinessCalendar) -> None:
    assert vendor.is_open(datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN))
    assert not vendor.is_open(datetime(2026, 11, 24, 16, 0, tzinfo=BERLIN))
    assert vendor.next_opening(datetime(2026, 11, 24, 16, 0, tzinfo=BERLIN)) == datetime(
        2026, 11, 25, 8, 0, tzinfo=BERLIN
    )


def test_instants_are_compared_not_wall_times(vendor: BusinessCalendar) -> None:
    # 07:30 UTC is 08:30 in Berlin: open, whatever zone the caller used.
    assert vendor.is_open(datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
    assert vendor.next_opening(datetime(2026, 11, 24, 6, 0, tzinfo=UTC)) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    result = vendor.add_business_time(datetime(2026, 11, 24, 8, 15, tzinfo=UTC), timedelta(hours=1))
    assert result.tzinfo == BERLIN
    assert result.isoformat() == "2026-11-24T10:15:00+01:00"


def test_adding_zero_gives_the_next_opening(vendor: BusinessCalendar) -> None:
    assert vendor.add_business_time(datetime(2026, 11, 24, 17, 0, tzinfo=BERLIN), timedelta(0)) == datetime(
        2026, 11, 25, 8, 0, tzinfo=BERLIN
    )


def test_negative_amount_is_refused(vendor: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        vendor.add_business_time(datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN), timedelta(hours=-1))


def test_between_is_signed(vendor: BusinessCalendar) -> None:
    a = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
    b = datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)
    assert vendor.business_time_between(a, b) == timedelta(hours=8)
    assert vendor.business_time_between(b, a) == timedelta(hours=-8)


def test_opening_and_closing(vendor: BusinessCalendar) -> None:
    assert vendor.opening(date(2026, 11, 24)) == datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN)
    assert vendor.closing(date(2026, 11, 24)) == datetime(2026, 11, 24, 16, 0, tzinfo=BERLIN)
    assert vendor.opening(date(2026, 11, 28)) is None
    assert vendor.next_working_day(date(2026, 11, 27)) == date(2026, 11, 30)
    assert vendor.nth_working_day_after(date(2026, 4, 29), 5) == date(2026, 5, 7)


def test_add_working_days_closing(vendor: BusinessCalendar) -> None:
    # The report day never counts, even a report before opening.
    early = datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN)
    assert vendor.add_working_days_closing(early, 2) == datetime(2026, 11, 25, 16, 0, tzinfo=BERLIN)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=BERLIN)
    assert vendor.add_working_days_closing(saturday, 1) == datetime(2026, 11, 30, 16, 0, tzinfo=BERLIN)


def test_add_working_days_with_days_of_different_length() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-thu 08:00-16:00", "fri 08:00-14:00"])
    thursday = datetime(2026, 11, 26, 15, 0, tzinfo=BERLIN)
    # 7 h into Thursday; Friday has only 6 h, so one working day later is Friday's closing.
    assert cal.add_working_days(thursday, 1) == datetime(2026, 11, 27, 14, 0, tzinfo=BERLIN)
    # Two days later it is the same time of day again.
    assert cal.add_working_days(thursday, 2) == datetime(2026, 11, 30, 15, 0, tzinfo=BERLIN)
    opening = datetime(2026, 11, 26, 8, 0, tzinfo=BERLIN)
    assert cal.add_working_days(opening, 1) == datetime(2026, 11, 26, 16, 0, tzinfo=BERLIN)
    assert cal.add_working_days(opening, 2) == datetime(2026, 11, 27, 14, 0, tzinfo=BERLIN)


# ----------------------------------------------------------------------------- clock changes


def test_office_hours_stay_on_the_wall_clock_on_dst_days(vendor: BusinessCalendar) -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 08:00-16:00"])
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        (interval,) = cal.intervals_on(day)
        assert (interval.start.hour, interval.end.hour) == (8, 16)
        assert length(*interval) == timedelta(hours=8)


def test_round_the_clock_dst_days_are_23_and_25_hours() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"])
    assert sum((length(*i) for i in cal.intervals_on(date(2026, 3, 29))), timedelta()) == timedelta(hours=23)
    assert sum((length(*i) for i in cal.intervals_on(date(2026, 10, 25))), timedelta()) == timedelta(hours=25)
    # One working day from 10:00 is 10:00 the next day, whatever the length of the day.
    assert cal.add_working_days(datetime(2026, 3, 29, 10, 0, tzinfo=BERLIN), 1) == datetime(
        2026, 3, 30, 10, 0, tzinfo=BERLIN
    )
    assert cal.add_working_days(datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN), 1) == datetime(
        2026, 3, 29, 10, 0, tzinfo=BERLIN
    )


def test_range_across_the_skipped_hour() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 01:00-05:00"])
    (interval,) = cal.intervals_on(date(2026, 3, 29))
    assert interval.start.isoformat() == "2026-03-29T01:00:00+01:00"
    assert interval.end.isoformat() == "2026-03-29T05:00:00+02:00"
    assert length(*interval) == timedelta(hours=3)
    (repeated,) = cal.intervals_on(date(2026, 10, 25))
    assert length(*repeated) == timedelta(hours=5)


def test_range_starting_inside_the_skipped_hour() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 02:30-04:00"])
    (interval,) = cal.intervals_on(date(2026, 3, 29))
    # 02:30 does not exist that night; the desk opens when the clock reaches 03:00.
    assert interval.start.isoformat() == "2026-03-29T03:00:00+02:00"
    assert interval.end.isoformat() == "2026-03-29T04:00:00+02:00"


def test_range_wholly_inside_the_skipped_hour_is_closed() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 02:00-03:00"])
    assert not cal.is_working_day(date(2026, 3, 29))
    assert cal.is_working_day(date(2026, 3, 30))


def test_zone_that_skips_midnight() -> None:
    # Chile moves its clocks at midnight: on 2026-09-06 the day starts at 01:00.
    cal = calendar(timezone="America/Santiago", hours=["mon-sun 00:00-24:00"])
    (interval,) = cal.intervals_on(date(2026, 9, 6))
    assert interval.start.isoformat() == "2026-09-06T01:00:00-03:00"
    assert length(*interval) == timedelta(hours=23)


# ----------------------------------------------------------------------------- wall-time parsing


def test_parse_instant_wall_time_and_offsets() -> None:
    assert parse_instant("2026-11-24T09:15", BERLIN).isoformat() == "2026-11-24T09:15:00+01:00"
    assert parse_instant("2026-11-24T08:15:00Z", BERLIN).isoformat() == "2026-11-24T09:15:00+01:00"
    assert parse_instant("2026-11-24T09:15+03:00", BERLIN).isoformat() == "2026-11-24T07:15:00+01:00"
    # With an offset the repeated hour is not ambiguous.
    assert parse_instant("2026-10-25T02:30+01:00", BERLIN).isoformat() == "2026-10-25T02:30:00+01:00"


def test_parse_instant_refuses_ambiguous_wall_time() -> None:
    with pytest.raises(WallTimeError, match=r"ambiguous in Europe/Berlin.*\+02:00.*\+01:00"):
        parse_instant("2026-10-25T02:30", BERLIN)


def test_parse_instant_refuses_skipped_wall_time() -> None:
    with pytest.raises(WallTimeError, match="does not exist in Europe/Berlin"):
        parse_instant("2026-03-29T02:30", BERLIN)


def test_parse_instant_refuses_garbage() -> None:
    with pytest.raises(WallTimeError, match="ISO 8601"):
        parse_instant("next tuesday", BERLIN)


def test_working_days_never_go_back_in_the_repeated_hour() -> None:
    cal = calendar(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"])
    first_pass = datetime(2026, 10, 25, 0, 59, tzinfo=UTC)  # 02:59 CEST
    second_pass = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 02:00 CET, one minute later
    due_first = cal.add_working_days(first_pass, 1)
    due_second = cal.add_working_days(second_pass, 1)
    assert due_first.isoformat() == "2026-10-26T02:59:00+01:00"
    assert due_second.isoformat() == "2026-10-26T03:00:00+01:00"


def test_holiday_names() -> None:
    source = HolidaySource.from_spec("de-be")
    assert source.spec == "DE-BE"
    # The wording follows the package's language setting; that there is a name is what matters here.
    name = source.name(date(2027, 3, 8))
    assert isinstance(name, str) and name
    assert source.name(date(2027, 3, 9)) is None
