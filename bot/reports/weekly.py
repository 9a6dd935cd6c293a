"""``[reports] weekly = { channel, at }``: last week's report posted to a channel once a week.

A scheduled job (bot/infra/scheduler.py) at ``at`` on the wall clock of the desk calendar's zone; its slot is
claimed in ``job_runs`` with the post, so with several replicas the week is posted exactly once. The report covers
the Monday to Sunday before the slot's date; its chart (bot/reports/chart.py), captioned in the desk's language, is
sent with it as a file (stored with the outbox row, in the same transaction as the slot's claim).
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import MessageKind, Platform, Target, Visibility
from bot.infra.outbox import enqueue
from bot.infra.scheduler import Job
from bot.reports.chart import chart_file
from bot.reports.config import DAYS
from bot.reports.figures import build_report, report_calendar
from bot.reports.text import last_week, render

JOB = "report-weekly"


def targets(desk: Desk, channel: str) -> list[Target]:
    """The channel on every running platform; ``slack:#x`` or ``matrix:#x`` limits it to that one."""
    only, sep, name = channel.partition(":")
    if not sep or only not in {p.value for p in Platform}:
        only, name = "", channel
    return [Target(kind="channel", platform=platform, channel_id=name)
            for platform in desk.platforms if not only or platform.value == only]


def weekly_jobs(desk: Desk) -> list[Job]:
    weekly = desk.settings.reports.weekly
    if weekly is None:
        return []
    day, hour, minute = weekly.weekday_and_time()
    trigger = CronTrigger(day_of_week=DAYS[day], hour=hour, minute=minute, timezone=report_calendar(desk).zone)
    return [Job(JOB, trigger, post_weekly)]


async def post_weekly(session: AsyncSession, desk: Desk, slot: datetime) -> None:
    weekly = desk.settings.reports.weekly
    assert weekly is not None
    first, last = last_week(slot.astimezone(report_calendar(desk).zone).date())
    report = await build_report(session, desk, first, last)
    text = render(report, desk.language, desk.settings.desk.timezone)
    files = () if report.empty else (chart_file(report, desk.language),)
    for target in targets(desk, weekly.channel):
        enqueue(session, slot, target, text, kind=MessageKind.REPORT, visibility=Visibility.PUBLIC, files=files)
