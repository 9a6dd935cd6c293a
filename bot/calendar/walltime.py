"""Turning text and naive wall times into instants without guessing across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class WallTimeError(ValueError):
    """A wall time that names no instant, or two of them, in the given zone."""


def _fmt(naive: datetime) -> str:
    return naive.isoformat(timespec="seconds" if naive.microsecond == 0 else "auto")


def resolve_wall_time(naive: datetime, zone: ZoneInfo) -> datetime:
    """The one instant that shows ``naive`` on the wall clock of ``zone``.

    zoneinfo silently picks an instant for a repeated or skipped wall time (``fold`` decides); a
    deadline computed from a guessed hour is wrong by that hour, so both cases are refused here.
    """
    if naive.tzinfo is not None:
        raise ValueError("resolve_wall_time takes a naive datetime")
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        # In a gap fold=0 uses the offset before the change, which lands after the gap: a valid example.
        later = first.astimezone(UTC).astimezone(zone)
        raise WallTimeError(
            f"{_fmt(naive)} does not exist in {zone.key}: the clock change skips it; "
            f"give an existing time or an offset, e.g. {later.isoformat()}"
        )
    raise WallTimeError(
        f"{_fmt(naive)} is ambiguous in {zone.key}: the clock change repeats it; add the offset, "
        f"{first.isoformat()} (first) or {second.isoformat()} (second)"
    )


# the years an instant a person types may fall in: calendars, holidays and deadlines are computed day by day
# from it, and a year like 9999 would run past what a datetime can hold
FIRST_YEAR, LAST_YEAR = 1970, 2199
# how far ahead a person may plan in chat (an absence, a deferral's review date): two years
PLANNING_HORIZON = timedelta(days=731)


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """Parse ISO 8601; without an offset it is wall time in ``zone``. The result is in ``zone``."""
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise WallTimeError(
            f"bad instant {text!r}: use ISO 8601, e.g. 2026-11-24T09:15 or 2026-11-24T09:15:00+01:00"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise WallTimeError(f"{raw} is outside the years {FIRST_YEAR} to {LAST_YEAR} that dates may fall in")
    if parsed.tzinfo is None:
        return resolve_wall_time(parsed, zone)
    return parsed.astimezone(zone)


def ensure_aware(instant: datetime, what: str = "instant") -> datetime:
    """Refuse naive datetimes: treating them as UTC or as process-local time is a silent hour error."""
    if instant.tzinfo is None or instant.tzinfo.utcoffset(instant) is None:
        raise ValueError(f"{what} {instant.isoformat()} has no time zone; pass an aware datetime")
    return instant


__all__ = ["FIRST_YEAR", "LAST_YEAR", "PLANNING_HORIZON", "WallTimeError", "ensure_aware", "parse_instant",
           "resolve_wall_time"]
