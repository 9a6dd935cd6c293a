"""SLA policies and clocks beyond the example table: cut-offs, pauses, elapsed/remaining, 75 %."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.calendar import BusinessCalendar, CalendarConfig
from bot.sla import (
    Pause,
    SlaClock,
    SlaError,
    SlaPolicy,
    SlaPolicyConfig,
    SlaTargetConfig,
    UnknownTargetError,
    parse_duration,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def vendor_calendar() -> BusinessCalendar:
    cfg = CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE-BE")
    return BusinessCalendar.from_config("vendor", cfg)


def policy(calendar: BusinessCalendar, working_day: str = "hours", **targets: Any) -> SlaPolicy:
    targets = targets or {"P1": {"within": "4h", "cutoff": "12:00"}, "P2": {"within": "2d"}}
    cfg = SlaPolicyConfig(calendar="vendor", working_day=working_day, targets=targets)  # type: ignore[arg-type]
    return SlaPolicy.from_config("vendor", cfg, {"vendor": calendar})


# ----------------------------------------------------------------------------- config


def test_policy_config_validation() -> None:
    with pytest.raises(ValidationError, match="at least one target"):
        SlaPolicyConfig(calendar="x", targets={})
    with pytest.raises(ValidationError, match="bad duration"):
        SlaTargetConfig(within="4 hours")
    with pytest.raises(ValidationError, match='cutoff = "12:00"'):
        SlaTargetConfig(within="4h", cutoff="noon")
    with pytest.raises(ValidationError, match="working_day"):
        SlaPolicyConfig(calendar="x", working_day="days", targets={"a": {"within": "1h"}})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        SlaTargetConfig(within="4h", cut_off="12:00")  # type: ignore[call-arg]


def test_unknown_calendar_and_target(vendor_calendar: BusinessCalendar) -> None:
    cfg = SlaPolicyConfig(calendar="nope", targets={"a": {"within": "1h"}})  # type: ignore[dict-item]
    with pytest.raises(SlaError, match="unknown calendar 'nope'"):
        SlaPolicy.from_config("p", cfg, {"vendor": vendor_calendar})
    with pytest.raises(UnknownTargetError, match=r"no target 'P9' \(targets: P1, P2\)"):
        policy(vendor_calendar).deadline("P9", at("2026-11-24T09:00+01:00"))


# ----------------------------------------------------------------------------- cut-off


def test_cutoff_is_checked_on_the_wall_clock_in_summer(vendor_calendar: BusinessCalendar) -> None:
    # 11:30 Berlin summer time is 09:30 UTC; a cut-off checked in UTC would not notice the difference
    # between 11:30 and 12:30 local.
    p = policy(vendor_calendar)
    assert p.deadline("P1", at("2026-06-16T09:30:00+00:00")).due.isoformat() == "2026-06-16T15:30:00+02:00"
    assert p.deadline("P1", at("2026-06-16T10:30:00+00:00")).due.isoformat() == "2026-06-17T12:00:00+02:00"


def test_cutoff_to_the_second(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    assert p.deadline("P1", at("2026-11-24T12:00:00+01:00")).start.isoformat() == "2026-11-24T12:00:00+01:00"
    late = p.deadline("P1", at("2026-11-24T12:00:00.000001+01:00"))
    assert late.start.isoformat() == "2026-11-25T08:00:00+01:00"


def test_cutoff_on_a_holiday_eve(vendor_calendar: BusinessCalendar) -> None:
    # Reported after the cut-off on Thursday 2026-04-30; Friday is May Day, so Monday 12:00.
    p = policy(vendor_calendar)
    assert p.deadline("P1", at("2026-04-30T13:00+02:00")).due.isoformat() == "2026-05-04T12:00:00+02:00"


def test_ad_hoc_within_has_no_cutoff(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    due = p.deadline(parse_duration("4h"), at("2026-11-24T12:01+01:00")).due
    assert due.isoformat() == "2026-11-25T08:01:00+01:00"


def test_closing_mode_with_cutoff_counts_from_the_deferred_day(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar, "closing", P2={"within": "2d", "cutoff": "12:00"})
    # Before the cut-off: received Tuesday, due Thursday closing; after it: received Wednesday.
    assert p.deadline("P2", at("2026-11-24T11:00+01:00")).due.isoformat() == "2026-11-26T16:00:00+01:00"
    assert p.deadline("P2", at("2026-11-24T13:00+01:00")).due.isoformat() == "2026-11-27T16:00:00+01:00"


def test_closing_mode_weekend_report(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar, "closing")
    # Saturday is not counted; Monday is the first working day after it.
    assert p.deadline("P2", at("2026-11-28T10:00+01:00")).due.isoformat() == "2026-12-01T16:00:00+01:00"


def test_closing_mode_pause_moves_by_business_time(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar, "closing")
    pause = Pause(at("2026-11-24T10:00+01:00"), at("2026-11-24T13:00+01:00"))
    due = p.deadline("P2", at("2026-11-23T09:00+01:00"), [pause]).due
    assert due.isoformat() == "2026-11-26T11:00:00+01:00"


# ----------------------------------------------------------------------------- pauses


def test_pause_outside_hours_costs_nothing(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    night = (at("2026-11-24T16:30+01:00"), at("2026-11-25T07:30+01:00"))
    assert p.deadline("P2", at("2026-11-24T09:00+01:00"), [night]).due.isoformat() == "2026-11-26T09:00:00+01:00"


def test_pause_before_the_start_is_ignored_and_overlaps_count_once(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    pauses = [
        (at("2026-11-23T07:00+01:00"), at("2026-11-23T10:00+01:00")),  # one hour after the start at 09:00
        (at("2026-11-23T11:00+01:00"), at("2026-11-23T13:00+01:00")),
        (at("2026-11-23T12:00+01:00"), at("2026-11-23T14:00+01:00")),  # overlaps the previous one
    ]
    deadline = p.deadline("P1", at("2026-11-23T09:00+01:00"), pauses)
    # Running 10-11 and 14-16 on Monday (the pauses cover 09-10 and 11-14), the last hour on Tuesday.
    assert deadline.due.isoformat() == "2026-11-24T09:00:00+01:00"


def test_pause_after_the_due_does_not_move_it(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    late = (at("2026-11-23T13:00+01:00"), at("2026-11-23T15:00+01:00"))
    assert p.deadline("P1", at("2026-11-23T09:00+01:00"), [late]).due.isoformat() == "2026-11-23T13:00:00+01:00"


def test_open_pause(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    clock = p.clock("P1", at("2026-11-23T09:00+01:00"), [Pause(at("2026-11-23T10:00+01:00"))])
    assert clock.due is None
    assert clock.is_paused(at("2026-11-30T10:00+01:00"))
    assert clock.elapsed(at("2026-11-24T10:00+01:00")) == timedelta(hours=1)
    with pytest.raises(SlaError, match="still open"):
        p.deadline("P1", at("2026-11-23T09:00+01:00"), [Pause(at("2026-11-23T10:00+01:00"))])


def test_pause_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        Pause(at("2026-11-23T10:00+01:00"), at("2026-11-23T09:00+01:00"))
    # In the repeated hour, +01:00 02:15 is after +02:00 02:45: compared as instants, not wall clock.
    pause = Pause(at("2026-10-25T02:45+02:00").astimezone(BERLIN), at("2026-10-25T02:15+01:00").astimezone(BERLIN))
    assert pause.end is not None and pause.end > pause.start


def test_naive_instants_are_refused(vendor_calendar: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        policy(vendor_calendar).deadline("P1", datetime(2026, 11, 24, 9, 0))


# ----------------------------------------------------------------------------- the clock


def test_clock_elapsed_remaining_and_warning(vendor_calendar: BusinessCalendar) -> None:
    p = policy(vendor_calendar)
    clock = p.clock(
        "P2",
        at("2026-11-23T09:00+01:00"),
        [(at("2026-11-23T14:00+01:00"), at("2026-11-24T11:00+01:00"))],
    )
    assert clock.budget == timedelta(hours=16)
    assert clock.due == at("2026-11-25T14:00+01:00")
    # 75 % = 12 h of running time: 5 h on Monday, 5 h Tuesday from 11:00, 2 h on Wednesday.
    assert clock.instant_at_fraction(0.75) == at("2026-11-25T10:00+01:00")
    tuesday_noon = at("2026-11-24T12:00+01:00")
    assert clock.paused_time(tuesday_noon) == timedelta(hours=5)
    assert clock.elapsed(tuesday_noon) == timedelta(hours=6)
    assert clock.remaining(tuesday_noon) == timedelta(hours=10)
    assert clock.elapsed(at("2026-11-20T12:00+01:00")) == timedelta(0)
    # Overdue by one business hour on Wednesday 15:00.
    assert clock.remaining(at("2026-11-25T15:00+01:00")) == timedelta(hours=-1)
    assert clock.is_paused(at("2026-11-23T15:00+01:00"))
    assert not clock.is_paused(at("2026-11-24T11:00+01:00"))


def test_clock_is_plain_data(vendor_calendar: BusinessCalendar) -> None:
    start = at("2026-11-23T09:00+01:00")
    clock = SlaClock(vendor_calendar, start, timedelta(hours=4))
    assert clock.start == start and clock.start.tzinfo == UTC
    assert clock.due == at("2026-11-23T13:00+01:00")
    paused = clock.with_pauses([Pause(at("2026-11-23T10:00+01:00"), at("2026-11-23T11:00+01:00"))])
    assert paused.due == at("2026-11-23T14:00+01:00")
    with pytest.raises(ValueError, match="between 0 and 1"):
        clock.instant_at_fraction(1.5)
