"""``dutydesk export-ical --role ROLE`` and ``dutydesk duty ledger --month YYYY-MM``.

``export-ical`` writes an iCalendar (RFC 5545) of who holds one role, from the rota, the plans and
the overrides (days already served: from the ledger, who really served); bot/duty/ical.py builds it.

``duty ledger`` prints one month of the duty ledger as CSV (for pay and fairness reviews).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
from datetime import date, timedelta
from typing import Any, TextIO

from bot.settings import Settings

MAX_WEEKS = 104


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
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


async def _export(settings: Settings, url: str | None, role: str, weeks: int, start: date | None) -> str:
    from bot.duty.ical import as_text, rota_calendar
    from bot.duty.store import today, window_of

    engine, desk = await _open(settings, url)
    try:
        window = window_of(desk)
        assert window is not None
        first = start or (today(desk, window) - timedelta(days=today(desk, window).weekday()))
        calendar = await rota_calendar(desk, first, first + timedelta(days=7 * weeks - 1), role=role)
        return as_text(calendar)
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
