"""`/report [week|month|last week|last month|FROM TO]`: the desk's figures for team leads, coordinators and admins.

The answer is for the asker alone: it names assignees and ticket ids, no ticket title. Its chart image
(bot/reports/chart.py) comes with it as a file; since no platform shows a file to one person in a channel, the
answer goes to the asker's direct chat (the dispatcher's rule for a reply with files). A range without tickets is
said in one line, without a chart.
"""

from __future__ import annotations

import calendar as months
from datetime import date, timedelta

from pydantic import BaseModel

from bot.access import role_names
from bot.core.context import Context
from bot.core.errors import Refused
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.reports.chart import chart_file
from bot.reports.figures import RangeError, build_report, report_calendar
from bot.reports.text import last_week, render


class ReportArgs(BaseModel):
    period: str | None = None


def period_of(text: str | None, today: date) -> tuple[date, date]:
    """The dates a ``/report`` argument names; raises Refused for anything else."""
    words = " ".join((text or "week").lower().split())
    monday = today - timedelta(days=today.weekday())
    if words == "week":
        return monday, monday + timedelta(days=6)
    if words == "last week":
        return last_week(today)
    if words == "month":
        return today.replace(day=1), today.replace(day=months.monthrange(today.year, today.month)[1])
    if words == "last month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    parts = words.split(" ")
    if len(parts) == 2:
        try:
            first, last_day = date.fromisoformat(parts[0]), date.fromisoformat(parts[1])
        except ValueError:
            raise Refused("report.bad_period", text=text or "") from None
        if not (1970 <= first.year <= 2199 and 1970 <= last_day.year <= 2199):
            raise Refused("report.bad_period", text=text or "")
        return first, last_day
    raise Refused("report.bad_period", text=text or "")


async def report(ctx: Context, args: ReportArgs) -> list[Reply]:
    if not (ctx.actor.has("lead") or ctx.actor.has("coordinator")):
        raise Refused("access.report", roles=role_names(ctx.actor))
    zone = report_calendar(ctx.desk).zone
    first, last = period_of(args.period, ctx.now.astimezone(zone).date())
    try:
        figures = await build_report(ctx.session, ctx.desk, first, last)
    except RangeError as exc:
        raise Refused("report.bad_range", why=str(exc)) from None
    lang = ctx.actor.language
    files = () if figures.empty else (chart_file(figures, lang),)
    return [Reply(text=render(figures, lang, ctx.actor.timezone), files=files)]


def register(registry: Registry) -> None:
    registry.add(Command(("report",), ReportArgs, report, "help.report",
                         (Arg("period", "rest", metavar="week|month|last week|FROM TO", required=False),),
                         permission="staff", refusal="access.report"))
