"""The tickets feature: `/ticket` (open, show, take, assign, …), a requester's DMs as a conversation
(`/ticket append` · `separate`), `/queue`, and the archiving of a closed ticket's private space."""

from __future__ import annotations

from bot.core.features import Features
from bot.core.uow import Stage
from bot.tickets import conversation as dms
from bot.tickets import due, space
from commands import conversation, queue, ticket


def register(features: Features) -> None:
    features.timer(due.DUE_TIMER, due.remind)
    features.timer(dms.UNANSWERED_TIMER, dms.unanswered)
    ticket.register(features.commands)
    conversation.register(features.commands)
    queue.register(features.commands)
    features.finish(Stage.SPACES, space.retitle_changed)   # before the archiving: a closed space shows 'closed'
    features.finish(Stage.SPACES, space.archive_closed)
