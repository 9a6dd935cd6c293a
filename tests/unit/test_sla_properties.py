"""Properties of SLA deadlines, and independence from the process time zone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import BusinessCalendar, CalendarConfig
from bot.sla import Duration, Pause, SlaPolicy, SlaPolicyConfig

CALENDARS = {
    "vendor": CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-16:00"], holidays="DE-BE"),
    "desk": CalendarConfig(timezone="Europe/Moscow", hours=["mon-fri 10:00-18:00"], holidays="RU"),
    "uneven": CalendarConfig(
        timezone="Europe/Berlin", hours=["mon-thu 08:00-12:00, 13:00-17:00", "fri 08:00-14:00"], holidays="DE-BE"
    ),
    "round-the-clock": CalendarConfig(timezone="Europe/Berlin", hours=["mon-sun 00:00-24:00"]),
}
_TARGETS = {
    "P1": {"within": "4h", "cutoff": "12:00"},
    "P2": {"within": "2d"},
    "P3": {"within": "5d"},
    "late": {"within": "2d", "cutoff": "12:00"},
    "fast": {"within": "2h"},
    "merge": {"within": "30d"},
}
_BUILT = {name: BusinessCalendar.from_config(name, cfg) for name, cfg in CALENDARS.items()}
POLICIES = {
    f"{cal}-{mode}": SlaPolicy.from_config(
        f"{cal}-{mode}",
        SlaPolicyConfig(calendar=cal, working_day=mode, targets=_TARGETS),  # type: ignore[arg-type]
        _BUILT,
    )
    for cal in CALENDARS
    for mode in ("hours", "closing")
}

_BASE = datetime(2025, 1, 1, tzinfo=UTC)
_SPAN = int(timedelta(days=4 * 365).total_seconds())
policies = st.sampled_from(sorted(POLICIES))
targets = st.sampled_from(sorted(_TARGETS))
_BERLIN = ZoneInfo("Europe/Berlin")
# The instants at which Berlin changes its clocks, 2025-2028; half of the reports fall near one.
_CHANGES = [
    hour
    for hour in (_BASE + timedelta(hours=h) for h in range(_SPAN // 3600))
    if hour.astimezone(_BERLIN).utcoffset() != (hour - timedelta(hours=1)).astimezone(_BERLIN).utcoffset()
]
instants = st.one_of(
    st.integers(0, _SPAN).map(lambda s: _BASE + timedelta(seconds=s)),
    st.builds(
        lambda change, s: change + timedelta(seconds=s), st.sampled_from(_CHANGES), st.integers(-2 * 86400, 86400)
    ),
)
bounded = settings(max_examples=200, deadline=None)


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


@bounded
@given(policies, targets, instants, instants)
def test_deadline_is_monotonic_in_the_report(policy: str, target: str, a: datetime, b: datetime) -> None:
    p = POLICIES[policy]
    first, second = sorted((a, b))
    assert utc(p.deadline(target, first).due) <= utc(p.deadline(target, second).due)


@bounded
@given(policies, instants, st.integers(1, 40), st.integers(1, 40))
def test_deadline_is_monotonic_in_working_days(policy: str, reported: datetime, m: int, n: int) -> None:
    p = POLICIES[policy]
    small, large = sorted((m, n))
    due_small = p.deadline(Duration(working_days=small), reported).due
    due_large = p.deadline(Duration(working_days=large), reported).due
    assert utc(due_small) <= utc(due_large)
    if small < large:
        assert utc(due_small) < utc(due_large)


@bounded
@given(policies, instants, st.integers(1, 300 * 60), st.integers(1, 300 * 60))
def test_deadline_is_monotonic_in_business_time(policy: str, reported: datetime, m: int, n: int) -> None:
    p = POLICIES[policy]
    small, large = sorted((m, n))
    due_small = p.deadline(Duration(business_time=timedelta(minutes=small)), reported).due
    due_large = p.deadline(Duration(business_time=timedelta(minutes=large)), reported).due
    assert utc(due_small) <= utc(due_large)


@bounded
@given(policies, targets, instants)
def test_deadline_lies_in_opening_hours_or_at_closing(policy: str, target: str, reported: datetime) -> None:
    p = POLICIES[policy]
    cal = p.calendar
    deadline = p.deadline(target, reported)
    assert utc(reported) <= utc(deadline.start) < utc(deadline.due)
    assert cal.is_open(deadline.start)
    if not cal.is_open(deadline.due):
        # Exactly at the end of an opening (the day's closing, or the start of a lunch break).
        day = cal.local_date(deadline.due)
        ends = [utc(i.end) for d in (day - timedelta(days=1), day) for i in cal.intervals_on(d)]
        assert utc(deadline.due) in ends


pauses = st.lists(st.tuples(st.integers(0, 30 * 86400), st.integers(0, 5 * 86400)), max_size=4)


@bounded
@given(policies, targets, instants, pauses)
def test_clock_uses_exactly_its_budget(
    policy: str, target: str, reported: datetime, raw_pauses: list[tuple[int, int]]
) -> None:
    p = POLICIES[policy]
    given_pauses = [
        Pause(reported + timedelta(seconds=offset), reported + timedelta(seconds=offset + length))
        for offset, length in raw_pauses
    ]
    clock = p.clock(target, reported, given_pauses)
    due = clock.due
    assert due is not None
    assert clock.elapsed(due) == clock.budget
    assert clock.remaining(due) == timedelta(0)
    warning = clock.instant_at_fraction(0.75)
    assert warning is not None and utc(warning) <= utc(due)
    # Pauses only ever move the deadline later, by no more than the business time they cover.
    unpaused = p.clock(target, reported).due
    assert unpaused is not None and utc(unpaused) <= utc(due)
    assert p.calendar.business_time_between(unpaused, due) <= clock.paused_time(due)


# ----------------------------------------------------------------------------- process time zone

_PROBES = [
    ("vendor-hours", "P1", "2026-11-24T12:01:00+01:00"),
    ("vendor-hours", "P2", "2026-03-27T10:00:00+01:00"),
    ("desk-hours", "merge", "2026-11-02T10:00:00+03:00"),
    ("round-the-clock-hours", "P2", "2026-10-24T22:30:00+02:00"),
    ("uneven-closing", "late", "2026-11-26T13:00:00+01:00"),
]


def _answers() -> list[str]:
    return [POLICIES[p].deadline(t, datetime.fromisoformat(r)).due.isoformat() for p, t, r in _PROBES]


@pytest.fixture
def process_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the process time zone set (time.tzset), then restore it."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


_REFERENCE = _answers()


@pytest.mark.parametrize(
    "process_zone", ["Pacific/Kiritimati", "America/Los_Angeles", "Asia/Kathmandu", "UTC"], indirect=True
)
def test_results_do_not_depend_on_the_process_zone(process_zone: str) -> None:
    assert time.tzname[0] != "" and _answers() == _REFERENCE


def test_example_suite_passes_in_another_process_zone() -> None:
    root = Path(__file__).resolve().parents[2]
    here = Path(__file__).resolve().parent
    env = {**os.environ, "TZ": "Pacific/Kiritimati"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(here / "test_sla_examples.py"),
            str(here / "test_calendar.py"),
            str(here / "test_sla_policy.py"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


@bounded
@given(policies, targets, instants)
def test_deadline_without_pauses_is_the_clocks_due(policy: str, target: str, reported: datetime) -> None:
    # deadline() skips building a clock when there are no pauses; it must say what the clock says.
    p = POLICIES[policy]
    clock = p.clock(target, reported)
    deadline = p.deadline(target, reported)
    assert (utc(deadline.start), utc(deadline.due)) == (utc(clock.start), utc(clock.due))  # type: ignore[arg-type]
