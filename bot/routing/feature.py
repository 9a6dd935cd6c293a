"""Routing: an absent assignee's routed tickets move on (joins duty's absence hook; the timer of an absence
that starts later)."""

from __future__ import annotations

from bot.core.features import Features
from bot.duty.hooks import ABSENCE
from bot.routing import away


def register(features: Features) -> None:
    features.on(ABSENCE, away.absence_recorded)
    features.timer(away.ABSENCE_TIMER, away.absence_starts)
