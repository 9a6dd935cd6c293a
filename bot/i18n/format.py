"""Times, dates, durations and numbers as the reader's language writes them (Babel, from CLDR).

Every instant a person reads goes through :func:`instant` in that person's zone: ``Do., 26. Nov., 08:00``,
``Thu 26 Nov, 08:00``, ``чт, 26 нояб., 08:00``. The zone is not named: a reader sees their own zone (or the
desk's), and the letters "UTC" appear in no chat or mail text (docs/architecture.md, "Language and time").
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_interval, format_skeleton, format_timedelta, get_timezone_name
from babel.lists import format_list
from babel.units import format_unit

from bot.i18n import FALLBACK, LANGUAGES, t

# English for an international team: day before month, 24-hour clock ("Thu 26 Nov, 08:00"), as the design shows
_LOCALES = {"de": "de_DE", "en": "en_GB", "ru": "ru_RU"}
# a date this far from "now" names its year; nearer ones are read without it
_YEAR_AFTER = timedelta(days=183)
_UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60))


@cache
def locale(lang: str | None) -> Locale:
    return Locale.parse(_LOCALES[lang if lang in LANGUAGES else FALLBACK])


def _zone(zone: str | tzinfo) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def _with_year(value: date, now: datetime | date | None) -> bool:
    if now is None:
        return False
    today = now.date() if isinstance(now, datetime) else now
    return abs(value - today) > _YEAR_AFTER


def day(lang: str | None, value: date, *, now: datetime | date | None = None) -> str:
    """``Mi., 25. Nov.``, ``Wed 25 Nov``, ``ср, 25 нояб.``; with the year when it lies more than half a year from
    ``now`` (``Mi., 25. Nov. 2026``)."""
    skeleton = "yMMMEd" if _with_year(value, now) else "MMMEd"
    return format_skeleton(skeleton, value, locale=locale(lang))


def clock(lang: str | None, value: datetime, zone: str | tzinfo) -> str:
    """``08:00`` in ``zone``."""
    return format_skeleton("Hm", value.astimezone(_zone(zone)), locale=locale(lang))


def instant(lang: str | None, value: datetime, zone: str | tzinfo, *, now: datetime | None = None) -> str:
    """Weekday, date and time of ``value`` in ``zone``: ``Do., 26. Nov., 08:00``."""
    local = value.astimezone(_zone(zone))
    loc = locale(lang)
    pattern = loc.datetime_formats.get("medium") or "{1}, {0}"
    return str(pattern).replace("{1}", day(lang, local.date(), now=now)).replace("{0}", clock(lang, local, zone))


def hours(lang: str | None, start: datetime, end: datetime, zone: str | tzinfo) -> str:
    """A time range in ``zone``, ``16:00–18:00``."""
    tz = _zone(zone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() != b.date() and b.time() == datetime.min.time():
        return f"{clock(lang, a, tz)}–24:00"  # a window to midnight ends at 24:00, not at 00:00 of the next day
    return str(format_interval(a, b, skeleton="Hm", tzinfo=tz, locale=locale(lang)))


def duration(lang: str | None, delta: timedelta) -> str:
    """The two largest units, written out with the language's plural forms: ``2 Tage, 4 Stunden``,
    ``1 hour, 20 minutes``, ``5 минут``."""
    seconds = max(int(delta.total_seconds()) // 60 * 60, 0)
    parts = []
    for unit, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(format_unit(amount, unit, length="long", locale=locale(lang)))
    shown = parts[:2] or [format_unit(0, "duration-minute", length="long", locale=locale(lang))]
    return format_list(shown, style="unit", locale=locale(lang))


def ago(lang: str | None, delta: timedelta) -> str:
    """How long ago, rounded to one unit: ``vor 3 Stunden``, ``3 hours ago``, ``3 часа назад``."""
    if delta < timedelta(minutes=1):
        delta = timedelta(minutes=1)
    return format_timedelta(-delta, add_direction=True, threshold=1.0, locale=locale(lang))


def zone_name(lang: str | None, zone: str | tzinfo) -> str:
    """A zone as people name it: ``Mitteleuropäische Zeit``, ``Moscow Time``; UTC in words."""
    key = zone if isinstance(zone, str) else str(zone)
    if key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu", "GMT",
               "Etc/GMT"):
        return t(lang, "time.utc")
    return str(get_timezone_name(_zone(zone), zone_variant="generic", locale=locale(lang)))


def plural_form(lang: str | None, count: int | float) -> str:
    """The CLDR plural category of ``count`` in ``lang``: ``one``, ``few``, ``many`` or ``other``."""
    return str(locale(lang).plural_form(count))


def listing(lang: str | None, items: list[str]) -> str:
    """``a, b und c``."""
    return format_list(items, locale=locale(lang)) if items else ""


# --------------------------------------------------------------------------- days a person types

_RELATIVE = (("time.today", 0), ("time.tomorrow", 1), ("time.day_after_tomorrow", 2))
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})?")


@cache
def _day_words() -> dict[str, int]:
    """Every language's word for a relative day (→ days from today) and weekday (→ -1 - weekday)."""
    words: dict[str, int] = {}
    for lang in LANGUAGES:
        for key, offset in _RELATIVE:
            words[t(lang, key).lower()] = offset
        days = locale(lang).days
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated", "short"):
                for weekday, name in days[context][width].items():
                    words[str(name).lower().rstrip(".")] = -1 - int(weekday)
    return words


def typed_day(text: str, today: date) -> date | None:
    """A day as a person writes it, in any of the desk's languages: ``2026-11-25``, ``25.11.2026``, ``25.11.``,
    ``today``/``heute``/``сегодня``, ``tomorrow``/``morgen``/``завтра``, a weekday (``wed``, ``Mittwoch``,
    ``ср``: the next one, today included). None when it is none of these."""
    word = text.strip().lower().rstrip(".")
    found = _day_words().get(word)
    if found is None and len(word) >= 3:
        # "wedn", "donn": a weekday's beginning, when it is one weekday's only
        matches = {value for name, value in _day_words().items() if value < 0 and name.startswith(word)}
        found = matches.pop() if len(matches) == 1 else None
    if found is not None:
        if found >= 0:
            return today + timedelta(days=found)
        return today + timedelta(days=(-1 - found - today.weekday()) % 7)
    dotted = _DOTTED.fullmatch(text.strip())
    try:
        if dotted:
            year = int(dotted.group(3)) if dotted.group(3) else today.year
            value = date(year, int(dotted.group(2)), int(dotted.group(1)))
            return value if dotted.group(3) or value >= today else date(year + 1, value.month, value.day)
        return date.fromisoformat(word)
    except ValueError:
        return None
