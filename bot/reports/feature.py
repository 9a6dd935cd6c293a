"""Reports for the team leads: `/report`, the weekly post, the duty calendar feeds, the gauges (issue #19)."""

from __future__ import annotations

from bot.core.features import Features
from bot.infra import metrics, ops
from bot.reports import feed, gauges, weekly
from commands import report


def register(features: Features) -> None:
    report.register(features.commands)
    features.on(metrics.SCRAPE, gauges.scrape)
    features.on(ops.ROUTES, feed.mount)
    features.job(weekly.weekly_jobs)
