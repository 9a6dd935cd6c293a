"""``dutydesk export-ical --role ROLE`` and ``dutydesk duty ledger --month YYYY-MM``.

``export-ical`` writes an iCalendar (RFC 5545) of who holds one role, from the rota, the plans and
the overrides (days already served: from the ledger, who really served). It is written by hand:
a handful of fixed properties, UTC times, escaped and folded lines, CRLF.

``duty ledger`` prints one month of the duty ledger as CSV (for pay and fairness reviews).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
from datetime import UTC, date, datetime, timedelta
from typing import TextIO

from bot.settings import Settings

ICAL_LINE = 75  # octets per line before folding (RFC 5545, 3.1)
MAX_WEEKS = 104


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ical = sub.add_parser("export-ical", help="iCalendar of who holds a duty role, for calendar apps")
    ical.add_argument("--role", required=True, help="the duty role, e.g. phone or standby")
    ical.add_argument("--config", help="the config file (default: $DUTYDESK_CONFIG or ./dutydesk.toml)")
    ical.add_argument("--db", help="database URL (default: [storage] url of the config)")
    ical.add_argument("--weeks", default="8", help="how many weeks, from this week's Monday (default 8)")
    ical.add_argument("--start", help="first date instead of this week's Monday (YYYY-MM-DD)")

    duty = sub.add_parser("duty", help="the duty rota: ledger of who served")
    duty_sub = duty.add_subparsers(dest="duty_command", required=True, parser_class=sub._parser_class)
    ledger = duty_sub.add_parser("ledger", help="one month of the duty ledger as CSV")
    ledger.add_argument("--month", required=True, help="the month, YYYY-MM")
    ledger.add_argument("--person", help="only this person (people key)")
    ledger.add_argument("--config")
    ledger.add_argument("--db", help="database URL (default: [storage] url of the config)")


def _usage(message: str) -> Exception:
    from bot.cli import UsageError

    return UsageError(message)


def _settings(args: argparse.Namespace, prog: str) -> Settings:
    from bot.cli import settings_for

    settings = settings_for(args.config)
    if settings.duty is None:
        raise _usage(f"{prog}: {settings.source} has no [duty] section, so there is no rota")
    return settings


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.command == "export-ical":
        settings = _settings(args, "dutydesk export-ical")
        if args.role not in settings.duty.roles:  # type: ignore[union-attr]
            roles = ", ".join(settings.duty.roles)  # type: ignore[union-attr]
            raise _usage(f"dutydesk export-ical: --role: unknown role \"{args.role}\" (roles: {roles})")
        if not re.fullmatch(r"\d{1,3}", args.weeks) or not 1 <= int(args.weeks) <= MAX_WEEKS:
            raise _usage(f"dutydesk export-ical: --weeks: \"{args.weeks}\" is not a number of weeks from 1 to "
                         f"{MAX_WEEKS}")
        start = None
        if args.start is not None:
            try:
                start = date.fromisoformat(args.start)
            except ValueError:
                raise _usage(f"dutydesk export-ical: --start: \"{args.start}\" is not a date; "
                             "write it as YYYY-MM-DD") from None
        text = asyncio.run(_export(settings, args.db, args.role, int(args.weeks), start))
        out.write(text)
        return 0
    if args.command == "duty" and args.duty_command == "ledger":
        match = re.fullmatch(r"(\d{4})-(\d{2})", args.month)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise _usage(f"dutydesk duty ledger: --month: \"{args.month}\" is not a month; write it as YYYY-MM, "
                         "e.g. 2026-11")
        settings = _settings(args, "dutydesk duty ledger")
        asyncio.run(_ledger(settings, args.db, int(match.group(1)), int(match.group(2)), args.person, out))
        return 0
    raise _usage(f"dutydesk: unknown command {args.command}")  # pragma: no cover


async def _open(settings: Settings, url: str | None):
    from bot.app import prepare_storage
    from bot.core.clock import SystemClock
    from bot.core.desk import Desk
    from bot.core.registry import Registry
    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(url or settings.storage.url)
    try:
        await prepare_storage(engine, upgrade=False)
    except Exception:
        await engine.dispose()
        raise
    desk = Desk(settings=settings, clock=SystemClock(), sessions=make_sessionmaker(engine), registry=Registry())
    return engine, desk


# --------------------------------------------------------------------------- iCalendar


def escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def fold(line: str) -> str:
    """Splits a content line into lines of at most 75 octets, continued with a leading space."""
    raw = line.encode("utf-8")
    if len(raw) <= ICAL_LINE:
        return line
    parts: list[str] = []
    current = b""
    limit = ICAL_LINE
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > limit:
            parts.append(current.decode("utf-8"))
            current = b""
            limit = ICAL_LINE - 1  # continuation lines start with a space
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def render_ical(name: str, zone: str, events: list[dict[str, str]]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//dutydesk//duty rota//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{escape(name)}", f"X-WR-TIMEZONE:{zone}"]
    for event in events:
        lines.append("BEGIN:VEVENT")
        lines += [f"{key}:{value}" for key, value in event.items()]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


async def _export(settings: Settings, url: str | None, role: str, weeks: int, start: date | None) -> str:
    from sqlalchemy import select

    from bot.duty.notify import name_of, role_name
    from bot.duty.store import load_state, today, window_of
    from storage.models import DutyLedgerEntry

    engine, desk = await _open(settings, url)
    try:
        window = window_of(desk)
        assert window is not None
        now = desk.clock.now()
        first = start or (today(desk, window) - timedelta(days=today(desk, window).weekday()))
        last = first + timedelta(days=7 * weeks - 1)
        lang = desk.language
        label = role_name(lang, role)
        events: list[dict[str, str]] = []
        async with desk.sessions.begin() as session:
            state = await load_state(session, desk, first, last)
            assert state is not None
            served = {row.day: row for row in (await session.scalars(select(DutyLedgerEntry).where(
                DutyLedgerEntry.role == role, DutyLedgerEntry.day >= first, DutyLedgerEntry.day <= last))).all()}
            for day in window.duty_days(first, last):
                if role not in state.roles(day):
                    continue
                entry = served.get(day)
                assignment = state.assignment(role, day)
                person = entry.person if entry is not None else assignment.person
                note = ""
                if entry is not None:
                    note = f"served ({entry.source})"
                elif assignment.person is None:
                    note = "uncovered"
                elif assignment.planned and assignment.person != assignment.planned:
                    note = f"for {name_of(desk, assignment.planned)} ({assignment.source})"
                elif assignment.override is not None and assignment.override.replaced:
                    note = f"for {name_of(desk, assignment.override.replaced)} ({assignment.override.reason})"
                else:
                    note = assignment.source
                who = name_of(desk, person, lang) if person else "nobody"
                for index, (begin, end) in enumerate(window.windows_on(day)):
                    events.append({
                        "UID": f"{day:%Y%m%d}-{role}-{index}-{settings.desk.ticket_prefix.lower()}@dutydesk",
                        "DTSTAMP": _utc(now),
                        "DTSTART": _utc(begin),
                        "DTEND": _utc(end),
                        "SUMMARY": escape(f"{label}: {who}"),
                        "DESCRIPTION": escape(f"{settings.desk.name}, {label}: {who} ({note})"),
                        "CATEGORIES": escape(role),
                        "STATUS": "CONFIRMED" if person else "TENTATIVE",
                        "TRANSP": "OPAQUE",
                    })
        return render_ical(f"{settings.desk.name}: {label}", window.zone.key, events)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- ledger CSV


async def _ledger(settings: Settings, url: str | None, year: int, month: int, person: str | None,
                  out: TextIO) -> None:
    from bot.duty.ledger import ledger_month
    from bot.duty.notify import name_of
    from bot.duty.store import window_of

    engine, desk = await _open(settings, url)
    try:
        window = window_of(desk)
        assert window is not None
        async with desk.sessions() as session:
            lines = await ledger_month(session, year, month, person)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "role", "person", "name", "start", "end", "minutes", "source"])
        for line in lines:
            writer.writerow([line.day.isoformat(), line.role, line.person, name_of(desk, line.person),
                             line.start.astimezone(window.zone).isoformat(),
                             line.end.astimezone(window.zone).isoformat(), line.minutes, line.source])
    finally:
        await engine.dispose()
