"""Reports for the team leads: `/report` (issue #19)."""

from __future__ import annotations

from bot.core.features import Features
from commands import report


def register(features: Features) -> None:
    report.register(features.commands)
