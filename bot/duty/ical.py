"""The duty rota as an iCalendar (RFC 5545): one event per duty window of a role, or of a person's roles.

Built with the ``icalendar`` package. Events carry the duty calendar's zone (``DTSTART;TZID=Europe/Berlin``)
and the calendar its ``VTIMEZONE``, so a calendar app shows 16:00 on both sides of a clock change and a
subscriber in another zone converts correctly. Days already served come from the ledger (who really
served); later days from the rota, the plans and the overrides. ``dutydesk export-ical`` prints it; a feed
served over HTTP builds the same calendar.
"""

from __future__ import annotations

from datetime import date, timedelta

from icalendar import Calendar, Event, vText
from sqlalchemy import select

from bot.core.desk import Desk
from bot.duty.model import Assignment
from bot.duty.notify import name_of, role_name
from bot.duty.store import load_state, window_of
from bot.i18n import t
from storage.models import DutyLedgerEntry

PRODID = "-//dutydesk//duty rota//EN"


class NoRota(LookupError):
    """The desk has no ``[duty]`` section."""


def _source(lang: str, code: str) -> str:
    try:
        return t(lang, f"duty.ical.source.{code}")
    except KeyError:  # a ledger row written with a source this version does not name
        return code


def _note(desk: Desk, lang: str, assignment: Assignment, served: DutyLedgerEntry | None) -> str:
    """Why this person has the shift: served (from the ledger), uncovered, standing in, or the rule."""
    if served is not None:
        return t(lang, "duty.ical.served", source=_source(lang, served.source))
    if assignment.person is None:
        return t(lang, "duty.ical.uncovered")
    if assignment.planned and assignment.person != assignment.planned:
        return t(lang, "duty.ical.instead", name=name_of(desk, assignment.planned, lang),
                 source=_source(lang, assignment.source))
    if assignment.override is not None and assignment.override.replaced:
        return t(lang, "duty.ical.instead", name=name_of(desk, assignment.override.replaced, lang),
                 source=_source(lang, assignment.override.reason))
    return _source(lang, assignment.source)


async def rota_calendar(desk: Desk, first: date, last: date, *, role: str | None = None,
                        person: str | None = None, lang: str | None = None) -> Calendar:
    """The shifts from ``first`` through ``last`` of one ``role`` (everyone's), or of one ``person``
    (every role they hold; with ``role`` too, that role only). Texts in ``lang`` (default: the desk's).

    Raises :class:`NoRota` without ``[duty]``; the caller checks that ``role`` and ``person`` exist.
    """
    if role is None and person is None:
        raise ValueError("rota_calendar needs a role or a person")
    window = window_of(desk)
    if window is None:
        raise NoRota(desk.settings.source)
    lang = lang or desk.language
    subject = name_of(desk, person, lang) if person is not None else role_name(lang, role or "")
    if person is not None and role is not None:
        subject = f"{subject}, {role_name(lang, role)}"
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    title = vText(f"{desk.settings.desk.name}: {subject}")
    calendar.add("name", title)
    calendar.add("x-wr-calname", title)
    calendar.add("x-wr-timezone", window.zone.key)
    stamp = desk.clock.now()
    async with desk.sessions.begin() as session:  # begin(): reading the rota may store a config edit of it
        state = await load_state(session, desk, first, last)
        assert state is not None
        query = select(DutyLedgerEntry).where(DutyLedgerEntry.day >= first, DutyLedgerEntry.day <= last)
        ledger = {(row.day, row.role): row for row in (await session.scalars(query)).all()}
    for day in window.duty_days(first, last):
        for held in state.roles(day):
            if role is not None and held != role:
                continue
            served = ledger.get((day, held))
            assignment = state.assignment(held, day)
            who = served.person if served is not None else assignment.person
            if person is not None and who != person:
                continue
            label = role_name(lang, held)
            name = name_of(desk, who, lang)
            note = _note(desk, lang, assignment, served)
            for index, (begin, end) in enumerate(window.windows_on(day)):
                event = Event()
                event.add("uid", f"{day:%Y%m%d}-{held}-{index}-{desk.settings.desk.ticket_prefix.lower()}@dutydesk")
                event.add("dtstamp", stamp)
                event.add("dtstart", begin.astimezone(window.zone))
                event.add("dtend", end.astimezone(window.zone))
                event.add("summary", f"{label}: {name}")
                event.add("description", f"{label}: {name} — {note}\n{desk.settings.desk.name}")
                event.add("categories", [held])
                event.add("status", "CONFIRMED" if who else "TENTATIVE")
                event.add("transp", "OPAQUE")
                calendar.add_component(event)
    # the zone's rules for the exported dates, a year either side (a subscriber keeps old events)
    calendar.add_missing_timezones(first_date=first - timedelta(days=366), last_date=last + timedelta(days=366))
    return calendar


def as_text(calendar: Calendar) -> str:
    """The calendar as RFC 5545 text (CRLF lines, folded at 75 octets)."""
    return calendar.to_ical().decode("utf-8")

