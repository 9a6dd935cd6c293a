"""A due time for whoever has a ticket (``/ticket assign HW-5 @paul --due tomorrow``): the agency's phone duty
hands a caller's ticket to service management "for the next day".

WHEN is a day — ``today``, ``tomorrow``, ``day after tomorrow`` as one word, in the reader's language or any of
the desk's (``heute``, ``morgen``, ``übermorgen``, ``сегодня``, ``завтра``, ``послезавтра``), a weekday name
(``fri``: the next one), ``2026-12-08`` or ``08.12.2026`` — or an instant (``2026-12-08T14:00``, wall time in the
desk's zone, or with an offset). A day is due on the desk calendar: at the close of that working day (a day the
desk is closed moves to the next working day), and its assignee is reminded when that day opens. Without a desk
calendar a day runs from 09:00 to 17:00 in the desk's zone. An instant is due then, and reminded of then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import BusinessCalendar
from bot.calendar.walltime import FIRST_YEAR, LAST_YEAR, PLANNING_HORIZON, WallTimeError, parse_instant
from bot.core.desk import Desk
from bot.core.errors import Refused
from bot.core.types import MessageKind
from bot.duty.notify import tell
from bot.i18n.format import instant
from bot.tickets import service
from bot.tickets.states import OPEN_STATES
from storage.models import Person, Ticket, Timer

DUE_TIMER = "ticket:due"
# relative days, in every language of the catalogues: a reader types their own word
DAYS_FROM_TODAY = {"today": 0, "heute": 0, "сегодня": 0,
                   "tomorrow": 1, "morgen": 1, "завтра": 1,
                   "übermorgen": 2, "uebermorgen": 2, "послезавтра": 2}
WEEKDAYS = {**{w: n for n, w in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
            **{w: n for n, w in enumerate(("mo", "di", "mi", "do", "fr", "sa", "so"))},
            **{w: n for n, w in enumerate(("пн", "вт", "ср", "чт", "пт", "сб", "вс"))}}
_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})?")
DEFAULT_HOURS = (time(9, 0), time(17, 0))  # a desk without a calendar


@dataclass(frozen=True)
class Due:
    at: datetime      # when it is due
    remind: datetime  # when its assignee is reminded


def desk_calendar(desk: Desk) -> BusinessCalendar | None:
    """``[desk] calendar``, else the calendar of the desk's SLA policy, else none."""
    settings = desk.settings.desk
    if settings.calendar and settings.calendar in desk.calendars:
        return desk.calendars[settings.calendar]
    policy = desk.policies.get(settings.sla) if settings.sla else None
    return policy.calendar if policy is not None else None


def _day_of(word: str, today: date) -> date | None:
    if word in DAYS_FROM_TODAY:
        return today + timedelta(days=DAYS_FROM_TODAY[word])
    if word in WEEKDAYS or (word[:3] in WEEKDAYS and word.isalpha() and len(word) > 3):
        number = WEEKDAYS.get(word, WEEKDAYS.get(word[:3], 0))
        return today + timedelta(days=(number - today.weekday()) % 7)
    german = _GERMAN_DATE.fullmatch(word)
    try:
        if german is not None:
            return date(int(german[3] or today.year), int(german[2]), int(german[1]))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
            return date.fromisoformat(word)
    except ValueError:
        return None
    return None


def on_day(desk: Desk, day: date, now: datetime) -> Due:
    """Due at the close of ``day`` (or of the next working day) on the desk calendar; reminded when it opens."""
    calendar = desk_calendar(desk)
    if calendar is None:
        zone = ZoneInfo(desk.settings.desk.timezone)
        opens, closes = (datetime.combine(day, hour, tzinfo=zone) for hour in DEFAULT_HOURS)
    else:
        if not calendar.is_working_day(day):
            day = calendar.next_working_day(day)
        opening, closing = calendar.opening(day), calendar.closing(day)
        assert opening is not None and closing is not None  # a working day has hours
        opens, closes = opening, closing
    return Due(at=closes, remind=max(opens, now))


def parse(desk: Desk, text: str, now: datetime) -> Due:
    """WHEN as the module says; Refused with what was typed when it is no day or instant, or lies in the past or
    beyond the planning horizon."""
    zone = ZoneInfo(desk.settings.desk.timezone)
    word = text.strip().lower()
    today = now.astimezone(zone).date()
    day = _day_of(word, today)
    if day is not None:
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise Refused("due.bad", text=text[:40])
        due = on_day(desk, day, now)
    else:
        try:
            at = parse_instant(word.upper().replace(" ", "T", 1), zone) if re.match(r"\d{4}-", word) else None
        except WallTimeError:
            at = None
        if at is None:
            raise Refused("due.bad", text=text[:40])
        due = Due(at=at, remind=at)
    if due.at <= now:
        raise Refused("due.past", text=text[:40])
    if due.at > now + PLANNING_HORIZON:
        raise Refused("due.far", text=text[:40])
    return due


async def set_due(session: AsyncSession, desk: Desk, ticket: Ticket, due: Due, actor: Person) -> None:
    """Records the due time (``ticket.data["due"]``, a ``due`` event) and the reminder; an earlier one lapses."""
    await session.execute(update(Timer).where(Timer.ticket_id == ticket.id, Timer.kind == DUE_TIMER,
                                              Timer.fired_at.is_(None)).values(cancelled=True))
    at = due.at.isoformat()
    ticket.data = {**(ticket.data or {}), "due": {"at": at, "by": actor.key}}
    service.log(session, ticket, "due", desk.clock.now(), actor, new=at)
    session.add(Timer(ticket_id=ticket.id, kind=DUE_TIMER, due_at=due.remind, data={"at": at}))


def due_at(ticket: Ticket) -> datetime | None:
    raw = ((ticket.data or {}).get("due") or {}).get("at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


async def remind(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """The due day opened (or the due instant came): whoever has the ticket is reminded, else the duty channels."""
    ticket = await session.get(Ticket, timer.ticket_id)
    if ticket is None or ticket.state not in {s.value for s in OPEN_STATES}:
        return
    if ((ticket.data or {}).get("due") or {}).get("at") != (timer.data or {}).get("at"):
        return  # given another due time since
    at = due_at(ticket)
    assert at is not None
    zone = desk.settings.desk.timezone
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    if assignee is not None and await tell(
            session, desk, assignee.key, "due.reminder", kind=MessageKind.REMINDER, ticket=ticket.key,
            key=ticket.key, title=ticket.title, when=lambda lang: instant(lang, at, assignee.timezone or zone)):
        return
    service.notify_duty(session, desk, "due.reminder_duty", ticket, kind=MessageKind.REMINDER, title=ticket.title,
                        when=instant(desk.language, at, zone))
