"""Target durations: working days versus business time, and clear refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.sla import Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", Duration(business_time=timedelta(minutes=30))),
        ("4h", Duration(business_time=timedelta(hours=4))),
        ("1h30m", Duration(business_time=timedelta(hours=1, minutes=30))),
        (" 2H ", Duration(business_time=timedelta(hours=2))),
        ("90s", Duration(business_time=timedelta(seconds=90))),
        ("2d", Duration(working_days=2)),
        ("30d", Duration(working_days=30)),
    ],
)
def test_parse(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


def test_kinds_and_text() -> None:
    assert parse_duration("2d").is_days
    assert not parse_duration("4h").is_days
    assert str(parse_duration("1h30m")) == "1h30m"
    assert str(parse_duration("2d")) == "2d"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty duration"),
        ("4", "bad duration '4'"),
        ("h", "bad duration 'h'"),
        ("4x", "unknown unit 'x'"),
        ("4 hours", "unknown unit 'hours'"),
        ("2d4h", "do not mix working days"),
        ("1h1h", "given twice"),
        ("30m1h", "hours before minutes"),
        ("0h", "longer than zero"),
        ("0d", "longer than zero"),
        ("-4h", "bad duration '-4h'"),
        ("4.5h", "bad duration '4.5h'"),
    ],
)
def test_bad_durations(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        parse_duration(text)
    assert '"4h"' in str(info.value)  # every message shows valid forms


def test_duration_is_one_kind() -> None:
    with pytest.raises(ValueError, match="either working days or business time"):
        Duration(working_days=1, business_time=timedelta(hours=1))
    with pytest.raises(ValueError):
        Duration()
