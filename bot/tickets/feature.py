"""The tickets feature: `/ticket` (open, show, take, assign, …) and `/queue`."""

from __future__ import annotations

from bot.core.features import Features
from bot.tickets import due
from commands import queue, ticket


def register(features: Features) -> None:
    features.timer(due.DUE_TIMER, due.remind)
    ticket.register(features.commands)
    queue.register(features.commands)
