"""Durations of the config: one parser, :func:`parse_duration`, for every duration dutydesk reads.

SLA targets: ``"30m"``, ``"4h"``, ``"1h30m"`` (business time) or ``"2d"`` (working days: what a day is
worth depends on the policy). Everything else is wall-clock time, the pydantic type :data:`WallDuration`
(a timedelta): ``"30s"``, ``"15m"``, ``"1h30m"``, and ``"3d"`` = 72 hours; :func:`wall_duration` makes
variants that refuse days or word the problem their own way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_EXAMPLE = 'e.g. "30m", "4h", "1h30m" (business time) or "2d" (working days)'
_PART_RE = re.compile(r"(\d+)([a-z]+)")


@dataclass(frozen=True)
class Duration:
    """Either a number of working days or an amount of business time, never both.

    Working days stay a count because what a day is worth depends on the policy (``working_day``)
    and on the calendar date, so it cannot be turned into a timedelta here.
    """

    working_days: int = 0
    business_time: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.working_days < 0 or self.business_time < timedelta(0):
            raise ValueError("a duration cannot be negative")
        if bool(self.working_days) == bool(self.business_time):
            raise ValueError("a duration is either working days or business time, and not zero")

    @property
    def is_days(self) -> bool:
        return self.working_days > 0

    def __str__(self) -> str:
        if self.is_days:
            return f"{self.working_days}d"
        total = int(self.business_time.total_seconds())
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
        return text + (f"{seconds}s" if seconds else "")


_UNITS = {"d": 0, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> Duration:
    """Parse a target duration; raises ValueError that names the problem and shows valid forms."""
    if not isinstance(text, str):
        raise ValueError(f"bad duration {text!r}: {_EXAMPLE}")
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError(f"empty duration: {_EXAMPLE}")
    pos = 0
    seen: list[str] = []
    days = 0
    seconds = 0
    for match in _PART_RE.finditer(compact):
        if match.start() != pos:
            break
        pos = match.end()
        amount, unit = int(match.group(1)), match.group(2)
        if unit not in _UNITS:
            raise ValueError(f"bad duration {text!r}: unknown unit {unit!r}; {_EXAMPLE}")
        if unit in seen:
            raise ValueError(f"bad duration {text!r}: unit {unit!r} given twice; {_EXAMPLE}")
        seen.append(unit)
        if unit == "d":
            days = amount
        else:
            seconds += amount * _UNITS[unit]
    if pos != len(compact):
        raise ValueError(f"bad duration {text!r}: {_EXAMPLE}")
    if "d" in seen and len(seen) > 1:
        # A working day is not a fixed number of hours (see working_day), so "1d4h" has no single meaning.
        raise ValueError(f"bad duration {text!r}: do not mix working days with hours or minutes; {_EXAMPLE}")
    if [u for u in "hms" if u in seen] != [u for u in seen if u != "d"]:
        raise ValueError(f"bad duration {text!r}: write hours before minutes before seconds; {_EXAMPLE}")
    if days == 0 and seconds == 0:
        raise ValueError(f"bad duration {text!r}: a target must be longer than zero; {_EXAMPLE}")
    return Duration(working_days=days, business_time=timedelta(seconds=seconds))


def duration_text(span: timedelta) -> str:
    """``timedelta(minutes=90)`` → ``"1h30m"`` (how the config writes it)."""
    return str(Duration(business_time=span))


WALL_BAD = '"{text}" is not a duration; write e.g. "30m", "2h" or "3d"'
NO_DAYS = 'give seconds, minutes or hours (e.g. "30s"), not working days'


def wall_duration(*, days: bool = True, bad: str = WALL_BAD) -> Any:
    """The pydantic type of a wall-clock duration in the config: text parsed by :func:`parse_duration` into a
    positive timedelta, a day being 24 hours; ``days=False`` refuses days (a lease is never meant in days).
    ``bad`` words a value that is no duration (``{text}`` is the value)."""

    def parse(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            if value <= timedelta(0):
                raise ValueError("a duration must be longer than zero")
            return value
        try:
            duration = parse_duration(value)
        except ValueError:
            raise ValueError(bad.format(text=value)) from None
        if duration.is_days and not days:
            raise ValueError(NO_DAYS)
        return timedelta(days=duration.working_days) + duration.business_time

    return Annotated[timedelta, BeforeValidator(parse), PlainSerializer(duration_text, return_type=str,
                                                                        when_used="json")]


WallDuration = wall_duration()
