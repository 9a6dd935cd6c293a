"""Business time as the reader counts it: a target in working days ("30d") shows what is left in working days
and hours ("29 Arbeitstage, 7 Stunden", "29 рабочих дней, 7 часов"), not as wall days of business hours
("9 Tage, 23 Stunden", which is 239 business hours read as days of 24)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from babel.lists import format_list

from bot.calendar import BusinessCalendar
from bot.i18n import t
from bot.i18n.format import duration, locale
from bot.sla.tickets import TicketClock

# how many dates ahead are looked at to learn the calendar's usual working day
SAMPLE_DAYS = 28


def usual_day(calendar: BusinessCalendar, around: datetime) -> timedelta | None:
    """The business time of the calendar's usual working day (the most common length among the working days of
    the next four weeks: a short Friday or a half holiday does not change what "a working day" is)."""
    first = calendar.local_date(around)
    lengths: Counter[timedelta] = Counter()
    for offset in range(SAMPLE_DAYS):
        spans = calendar.intervals_on(first + timedelta(days=offset))
        if spans:
            lengths[sum((iv.end - iv.start for iv in spans), timedelta(0))] += 1
    if not lengths:
        return None
    return max(lengths.items(), key=lambda item: (item[1], item[0]))[0]


def business_left(lang: str, clock: TicketClock, amount: timedelta, now: datetime) -> str:
    """``amount`` of ``clock``'s business time in the reader's words: working days and hours for a target set in
    working days, hours and minutes for one set in business time."""
    if not clock.target.within.is_days:
        return duration(lang, amount)
    day = usual_day(clock.policy.calendar, now)
    if day is None or day <= timedelta(0):
        return duration(lang, amount)
    days, rest = divmod(max(amount, timedelta(0)), day)
    parts = [t(lang, "sla.working_days", count=days)] if days else []
    if rest >= timedelta(minutes=1) or not parts:
        parts.append(duration(lang, rest))
    return str(format_list(parts, style="unit", locale=locale(lang)))
