"""Small formatting helpers for user-facing text (durations, instants in a person's zone)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import t


def duration(lang: str, delta: timedelta) -> str:
    """``2d 4h``, ``3h 20m``, ``5m``: the two largest units, in the language's abbreviations."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "units.d"), (hours, "units.h"), (mins, "units.m")]
    shown = [f"{value}{t(lang, unit)}" for value, unit in parts if value][:2]
    return " ".join(shown) if shown else f"0{t(lang, 'units.m')}"


def instant(value: datetime, zone: str) -> str:
    local = value.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone)
