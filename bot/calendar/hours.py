"""Parsing of opening-hours text: weekly entries like ``"mon-fri 08:00-16:00"`` and date ranges.

Hours are kept as wall-clock minutes since midnight, half-open ``[open, close)``; ``24:00`` is
allowed as a closing time so that ``"mon-sun 00:00-24:00"`` means round the clock. Turning wall
clock into instants is the calendar's job, because only it knows the zone and the date.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

# (open, close) in wall-clock minutes since midnight; close may be 1440 (24:00).
Range = tuple[int, int]
# One tuple of ranges per weekday, Monday first (date.weekday() indexes it).
WeeklyHours = tuple[tuple[Range, ...], ...]

WEEKLY_EXAMPLE = '"mon-fri 08:00-16:00" (several ranges: "mon-fri 08:00-12:00, 13:00-17:00")'
RANGES_EXAMPLE = '"10:00-18:00" (several ranges: "08:00-12:00, 13:00-17:00")'

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_clock_time(text: str, *, allow_midnight_end: bool = False) -> int:
    """Parse ``HH:MM`` into minutes since midnight; ``24:00`` only where it closes a day."""
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"bad time {text!r}: write it as HH:MM, e.g. 08:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and (minute != 0 or not allow_midnight_end)):
        limit = "from 00:00 to 24:00" if allow_midnight_end else "from 00:00 to 23:59"
        raise ValueError(f"bad time {text!r}: it must lie {limit}")
    return hour * 60 + minute


def format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_range(rng: Range) -> str:
    return f"{format_minutes(rng[0])}-{format_minutes(rng[1])}"


def parse_range(text: str, *, example: str = RANGES_EXAMPLE) -> Range:
    parts = text.strip().split("-")
    if len(parts) != 2:
        raise ValueError(f"bad time range {text!r}: write it as HH:MM-HH:MM, e.g. {example}")
    try:
        start = parse_clock_time(parts[0])
        end = parse_clock_time(parts[1], allow_midnight_end=True)
    except ValueError as exc:
        raise ValueError(f"bad time range {text!r}: {exc}; e.g. {example}") from None
    if end <= start:
        # Overnight shifts are two entries, one per day; saying so is more useful than "invalid".
        raise ValueError(
            f"bad time range {text!r}: the end must be after the start; a range past midnight is "
            f'split in two, e.g. "mon 22:00-24:00" and "tue 00:00-06:00"'
        )
    return (start, end)


def _split_ranges(text: str) -> list[str]:
    return [piece for piece in re.split(r"[,\s]+", text.strip()) if piece]


def normalise_ranges(ranges: Sequence[Range], *, where: str, example: str) -> tuple[Range, ...]:
    """Sort ranges, refuse overlaps and merge touching ones (08-12 + 12-16 is one opening)."""
    ordered = sorted(ranges)
    merged: list[Range] = []
    for rng in ordered:
        if merged and rng[0] < merged[-1][1]:
            raise ValueError(
                f"{where}: {format_range(merged[-1])} overlaps {format_range(rng)}; "
                f"ranges of one day must not overlap, e.g. {example}"
            )
        if merged and rng[0] == merged[-1][1]:
            merged[-1] = (merged[-1][0], rng[1])
        else:
            merged.append(rng)
    return tuple(merged)


def parse_ranges(text: str) -> tuple[Range, ...]:
    """Parse the hours of one date: ``"10:00-18:00"`` or ``"08:00-12:00, 13:00-17:00"``."""
    pieces = _split_ranges(text)
    if not pieces:
        raise ValueError(f"empty hours {text!r}: give at least one range, e.g. {RANGES_EXAMPLE}")
    ranges = [parse_range(piece) for piece in pieces]
    return normalise_ranges(ranges, where=f"hours {text!r}", example=RANGES_EXAMPLE)


def _day_index(name: str, entry: str) -> int:
    try:
        return DAY_NAMES.index(name.lower())
    except ValueError:
        raise ValueError(
            f"hours entry {entry!r}: unknown day {name!r}; days are {', '.join(DAY_NAMES)} "
            f"or a range of them, e.g. {WEEKLY_EXAMPLE}"
        ) from None


def parse_days(text: str, entry: str) -> tuple[int, ...]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed,fri"``, ``"sun-thu"`` (ranges may wrap past Sunday)."""
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"hours entry {entry!r}: empty day in {text!r}; e.g. {WEEKLY_EXAMPLE}")
        if "-" in part:
            first_name, _, last_name = part.partition("-")
            first, last = _day_index(first_name, entry), _day_index(last_name, entry)
            # Wrapping ranges exist in real weeks (sun-thu in the Gulf states).
            span = (last - first) % 7
            days.extend((first + offset) % 7 for offset in range(span + 1))
        else:
            days.append(_day_index(part, entry))
    return tuple(days)


def parse_weekly_hours(entries: Sequence[str]) -> WeeklyHours:
    """Parse the ``hours`` list of a calendar into ranges per weekday, checking overlaps across entries."""
    per_day: list[list[Range]] = [[] for _ in DAY_NAMES]
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"hours entry {entry!r} is not text; e.g. {WEEKLY_EXAMPLE}")
        head, _, tail = entry.strip().partition(" ")
        if not head or not tail.strip():
            raise ValueError(
                f"hours entry {entry!r}: write the days, a space, then the time ranges, e.g. {WEEKLY_EXAMPLE}"
            )
        days = parse_days(head, entry)
        ranges = [parse_range(piece, example=WEEKLY_EXAMPLE) for piece in _split_ranges(tail)]
        for day in days:
            per_day[day].extend(ranges)
    return tuple(
        normalise_ranges(day_ranges, where=f"hours on {DAY_NAMES[day]}", example=WEEKLY_EXAMPLE)
        for day, day_ranges in enumerate(per_day)
    )
