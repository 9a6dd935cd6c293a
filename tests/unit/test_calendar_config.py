"""Validation of ``[calendars.*]``: every mistake is refused with a message that says what and how."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from bot.calendar import CalendarConfig
from bot.calendar.hours import parse_ranges, parse_weekly_hours


def error_of(**kwargs: Any) -> str:
    with pytest.raises(ValidationError) as info:
        CalendarConfig(**kwargs)
    return str(info.value)


def test_contract_example_is_accepted() -> None:
    cfg = CalendarConfig(
        timezone="Europe/Berlin",
        hours=["mon-fri 08:00-18:00"],
        holidays="DE-BE",
        closed=["2026-12-24"],  # type: ignore[list-item]
        open={"2027-02-20": "10:00-18:00"},  # type: ignore[dict-item]
    )
    assert cfg.closed == [date(2026, 12, 24)]
    assert cfg.open == {date(2027, 2, 20): "10:00-18:00"}


def test_holiday_spec_is_normalised() -> None:
    assert CalendarConfig(timezone="UTC", hours=[], holidays="de-be").holidays == "DE-BE"
    assert CalendarConfig(timezone="UTC", hours=[], holidays="ru").holidays == "RU"


def test_unknown_keys_are_refused() -> None:
    assert "extra" in error_of(timezone="UTC", hours=[], hollidays="DE")


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"timezone": "Europe/Berln", "hours": []}, ["Europe/Berln", "Europe/Berlin"]),
        ({"timezone": "UTC", "hours": ["mon-fry 08:00-16:00"]}, ["unknown day 'fry'", "mon-fri 08:00-16:00"]),
        ({"timezone": "UTC", "hours": ["monday 08:00-16:00"]}, ["unknown day 'monday'"]),
        ({"timezone": "UTC", "hours": ["mon-fri 8-16"]}, ["'8-16'", "HH:MM"]),
        ({"timezone": "UTC", "hours": ["mon-fri 08:00-16:60"]}, ["16:60"]),
        ({"timezone": "UTC", "hours": ["mon-fri 24:00-24:00"]}, ["24:00"]),
        ({"timezone": "UTC", "hours": ["mon 16:00-08:00"]}, ["end must be after the start", "22:00-24:00"]),
        ({"timezone": "UTC", "hours": ["mon 08:00-08:00"]}, ["end must be after the start"]),
        ({"timezone": "UTC", "hours": ["mon-fri"]}, ["days, a space, then the time ranges"]),
        (
            {"timezone": "UTC", "hours": ["mon-fri 08:00-16:00", "fri 15:00-18:00"]},
            ["hours on fri", "08:00-16:00 overlaps 15:00-18:00"],
        ),
        ({"timezone": "UTC", "hours": ["mon 08:00-12:00, 11:00-13:00"]}, ["overlaps"]),
        ({"timezone": "UTC", "hours": [], "holidays": "XX"}, ["unknown holidays country 'XX'", "DE-BE"]),
        ({"timezone": "UTC", "hours": [], "holidays": "DE-XY"}, ["unknown subdivision 'XY' of DE", "BE"]),
        ({"timezone": "UTC", "hours": [], "holidays": "RU-MOW"}, ["RU has no subdivisions"]),
        (
            {"timezone": "UTC", "hours": [], "open": {"2027-02-20": "10-18"}},
            ["open 2027-02-20", "HH:MM", "10:00-18:00"],
        ),
        (
            {"timezone": "UTC", "hours": [], "closed": ["2027-02-20"], "open": {"2027-02-20": "10:00-18:00"}},
            ["2027-02-20 listed both in closed and in open"],
        ),
        ({"timezone": "UTC", "hours": [], "closed": ["2027-02-30"]}, ["closed"]),
    ],
)
def test_bad_calendar_is_explained(kwargs: dict[str, Any], needles: list[str]) -> None:
    message = error_of(**kwargs)
    for needle in needles:
        assert needle in message


def test_several_entries_and_ranges_per_day() -> None:
    weekly = parse_weekly_hours(["mon-thu 08:00-12:00, 13:00-17:00", "fri 08:00-14:00", "sat 10:00-14:00"])
    assert weekly[0] == ((480, 720), (780, 1020))
    assert weekly[4] == ((480, 840),)
    assert weekly[5] == ((600, 840),)
    assert weekly[6] == ()


def test_round_the_clock_and_day_lists() -> None:
    assert parse_weekly_hours(["mon-sun 00:00-24:00"]) == ((((0, 1440),),) * 7)
    weekly = parse_weekly_hours(["mon,wed,fri 09:00-10:00"])
    assert [bool(day) for day in weekly] == [True, False, True, False, True, False, False]


def test_wrapping_day_range() -> None:
    weekly = parse_weekly_hours(["sun-thu 08:00-16:00"])
    assert [bool(day) for day in weekly] == [True, True, True, True, False, False, True]


def test_touching_ranges_are_one_opening() -> None:
    assert parse_ranges("08:00-12:00 12:00-16:00") == ((480, 960),)
    assert parse_weekly_hours(["mon 08:00-12:00", "mon 12:00-16:00"])[0] == ((480, 960),)
