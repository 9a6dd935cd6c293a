"""``dutydesk report --config FILE [--db URL] --from DATE --to DATE [--format text|csv|json]`` (DESIGN.md, CLI).

Reads only: the database must be at the current schema (``dutydesk db upgrade``). Text is in the desk's language;
JSON is the object DESIGN.md specifies; CSV one row per ticket opened in the range.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from typing import Any, TextIO

from bot.settings import Settings

FORMATS = ("text", "csv", "json")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    report = sub.add_parser("report", help="the desk's figures over a range of dates (text, CSV or JSON)")
    report.add_argument("--config", help="the config file (default: $DUTYDESK_CONFIG or ./dutydesk.toml)")
    report.add_argument("--db", help="database URL (default: [storage] url of the config)")
    report.add_argument("--from", dest="first", required=True, metavar="DATE", help="first date, YYYY-MM-DD")
    report.add_argument("--to", dest="last", required=True, metavar="DATE", help="last date (inclusive), YYYY-MM-DD")
    report.add_argument("--format", default="text", help="text (default), csv or json")


def _usage(message: str) -> Exception:
    from bot.cli import UsageError

    return UsageError(f"dutydesk report: {message}")


def _date(text: str, option: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise _usage(f'{option}: "{text}" is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23') from None
    if not 1970 <= value.year <= 2199:
        raise _usage(f"{option}: {text} lies outside the years 1970 to 2199")
    return value


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from bot.cli import settings_for
    from bot.reports.figures import RangeError

    out = out or sys.stdout
    if args.format not in FORMATS:
        raise _usage(f'--format: "{args.format}" is none of text, csv, json')
    first, last = _date(args.first, "--from"), _date(args.last, "--to")
    settings = settings_for(args.config)
    try:
        out.write(asyncio.run(_report(settings, args.db, first, last, args.format)))
    except RangeError as exc:
        raise _usage(f"--from/--to: {exc}") from None
    return 0


async def _report(settings: Settings, url: str | None, first: date, last: date, fmt: str) -> str:
    from bot.app import prepare_storage
    from bot.core.clock import SystemClock
    from bot.core.desk import Desk
    from bot.core.registry import Registry
    from bot.reports.figures import bounds, build_report, report_calendar
    from bot.reports.text import as_csv, render
    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(url or settings.storage.url)
    try:
        desk = Desk(settings=settings, clock=SystemClock(), sessions=make_sessionmaker(engine), registry=Registry())
        bounds(report_calendar(desk).zone, first, last)  # a bad range is told before the database is asked
        await prepare_storage(engine, upgrade=False)
        async with desk.sessions() as session:
            report = await build_report(session, desk, first, last)
    finally:
        await engine.dispose()
    if fmt == "json":
        return json.dumps(report.as_json(), ensure_ascii=False) + "\n"
    if fmt == "csv":
        return as_csv(report)
    return render(report, settings.desk.language) + "\n"
