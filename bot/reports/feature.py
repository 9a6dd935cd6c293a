"""Reports for the team leads: `/report`, and the queue's gauges on /metrics (issue #19)."""

from __future__ import annotations

from bot.core.features import Features
from bot.infra import metrics
from bot.reports import gauges
from commands import report


def register(features: Features) -> None:
    report.register(features.commands)
    features.on(metrics.SCRAPE, gauges.scrape)
