"""The tickets feature: `/ticket` (open, show, take, assign, …), a requester's DMs as a conversation
(`/ticket append` · `separate`) and `/queue`."""

from __future__ import annotations

from bot.core.features import Features
from bot.tickets import due
from commands import conversation, queue, ticket


def register(features: Features) -> None:
    features.timer(due.DUE_TIMER, due.remind)
    ticket.register(features.commands)
    conversation.register(features.commands)
    queue.register(features.commands)
