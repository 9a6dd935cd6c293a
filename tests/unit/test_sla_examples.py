"""Every hand-checked row of shared/sla-examples.md, through the engine."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.calendar import BusinessCalendar, CalendarConfig
from bot.sla import Pause, SlaPolicy, SlaPolicyConfig

CALENDARS = {
    "vendor": CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE-BE"),
    "desk": CalendarConfig(timezone="Europe/Moscow", hours=["mon-fri 10:00-18:00"], holidays="RU"),
}
VENDOR_TARGETS = {"P1": {"within": "4h", "cutoff": "12:00"}, "P2": {"within": "2d"}, "P3": {"within": "5d"}}
POLICIES = {
    "vendor": SlaPolicyConfig(calendar="vendor", working_day="hours", targets=VENDOR_TARGETS),
    "vendor-closing": SlaPolicyConfig(calendar="vendor", working_day="closing", targets=VENDOR_TARGETS),
    "desk": SlaPolicyConfig(
        calendar="desk",
        working_day="hours",
        targets={"fast": {"within": "2h"}, "slow": {"within": "12h"}, "merge": {"within": "30d"}},
    ),
}

# policy, target, reported at, pauses, due — in the order of the table.
ROWS = [
    ("vendor", "P1", "2026-11-24T09:15:00+01:00", [], "2026-11-24T13:15:00+01:00"),
    ("vendor", "P1", "2026-11-24T12:00:00+01:00", [], "2026-11-24T16:00:00+01:00"),
    ("vendor", "P1", "2026-11-24T12:01:00+01:00", [], "2026-11-25T12:00:00+01:00"),
    ("vendor", "P1", "2026-11-24T07:10:00+01:00", [], "2026-11-24T12:00:00+01:00"),
    ("vendor", "P1", "2026-11-27T15:30:00+01:00", [], "2026-11-30T12:00:00+01:00"),
    ("vendor", "P1", "2026-11-28T10:00:00+01:00", [], "2026-11-30T12:00:00+01:00"),
    ("vendor", "P2", "2026-03-27T10:00:00+01:00", [], "2026-03-31T10:00:00+02:00"),
    ("vendor-closing", "P2", "2026-03-27T10:00:00+01:00", [], "2026-03-31T16:00:00+02:00"),
    (
        "vendor",
        "P2",
        "2026-11-23T09:00:00+01:00",
        [("2026-11-23T14:00:00+01:00", "2026-11-24T11:00:00+01:00")],
        "2026-11-25T14:00:00+01:00",
    ),
    ("vendor", "P3", "2026-04-29T16:00:00+02:00", [], "2026-05-07T16:00:00+02:00"),
    ("desk", "fast", "2026-11-24T17:30:00+03:00", [], "2026-11-25T11:30:00+03:00"),
    ("desk", "fast", "2026-11-28T11:00:00+03:00", [], "2026-11-30T12:00:00+03:00"),
    ("desk", "slow", "2026-03-06T14:00:00+03:00", [], "2026-03-10T18:00:00+03:00"),
    ("desk", "merge", "2026-11-02T10:00:00+03:00", [], "2026-12-14T18:00:00+03:00"),
]


def build_policies() -> dict[str, SlaPolicy]:
    calendars = {name: BusinessCalendar.from_config(name, cfg) for name, cfg in CALENDARS.items()}
    return {name: SlaPolicy.from_config(name, cfg, calendars) for name, cfg in POLICIES.items()}


@pytest.fixture(scope="module")
def policies() -> dict[str, SlaPolicy]:
    return build_policies()


def _row_id(row: tuple[str, str, str, list[tuple[str, str]], str]) -> str:
    return f"{row[0]}/{row[1]}@{row[2]}" + ("+pause" if row[3] else "")


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(row) for row in ROWS])
def test_example_row(policies: dict[str, SlaPolicy], row: tuple[str, str, str, list[tuple[str, str]], str]) -> None:
    policy_name, target, reported, pauses, due = row
    policy = policies[policy_name]
    deadline = policy.deadline(
        target,
        datetime.fromisoformat(reported),
        [Pause(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in pauses],
    )
    # Same instant and same offset: the output is in the calendar's zone.
    assert deadline.due.isoformat() == due
    assert deadline.due == datetime.fromisoformat(due)


@pytest.mark.parametrize(
    ("policy_name", "target", "reported", "start"),
    [
        ("vendor", "P1", "2026-11-24T07:10:00+01:00", "2026-11-24T08:00:00+01:00"),
        ("vendor", "P1", "2026-11-24T12:00:00+01:00", "2026-11-24T12:00:00+01:00"),
        ("vendor", "P1", "2026-11-24T12:01:00+01:00", "2026-11-25T08:00:00+01:00"),
        ("vendor", "P1", "2026-11-28T10:00:00+01:00", "2026-11-30T08:00:00+01:00"),
        ("vendor", "P3", "2026-04-29T16:00:00+02:00", "2026-04-30T08:00:00+02:00"),
        ("desk", "fast", "2026-11-24T17:30:00+03:00", "2026-11-24T17:30:00+03:00"),
    ],
)
def test_clock_start(policies: dict[str, SlaPolicy], policy_name: str, target: str, reported: str, start: str) -> None:
    deadline = policies[policy_name].deadline(target, datetime.fromisoformat(reported))
    assert deadline.start.isoformat() == start
