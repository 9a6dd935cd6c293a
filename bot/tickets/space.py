"""A ticket's private space over its life: archived when the ticket is closed, usable again when it is reopened.

Closing marks the ticket on the unit of work; once the unit's messages to the space are queued (the closing
words, the thanks for an answered satisfaction question), the finishing step queues the bot's goodbye with the
archiving (``[desk] archive_on_close``, default on). The satisfaction question comes before the close (it is
answered or times out first), and the requester keeps their DM with the bot. Reopening queues the unarchiving
ahead of the reopening's own messages. The ticket's history keeps every message either way.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.uow import UnitOfWork
from bot.i18n import t
from bot.infra.outbox import enqueue_space
from bot.tickets.states import State
from storage.models import Ticket

ARCHIVED = "space_archived"  # ticket.data: its space was archived (so a reopening unarchives it)


def closing(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """``ticket`` is being closed: its space is archived when the unit finishes."""
    unit = UnitOfWork.find(session)
    if unit is not None and desk.settings.desk.archive_on_close:
        unit.mark(unit.closed, ticket)


def reopening(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """``ticket`` leaves the closed state: an archived space is unarchived before anything is said there."""
    unit = UnitOfWork.find(session)
    if unit is not None:
        unit.closed.discard(ticket.id)
    if not (ticket.data or {}).get(ARCHIVED):
        return
    from bot.tickets.service import space_target  # service imports this module

    enqueue_space(session, desk.clock.now(), space_target(ticket), "unarchive", "", ticket=ticket.key)
    ticket.data = {**(ticket.data or {}), ARCHIVED: False}


async def archive_closed(unit: UnitOfWork) -> None:
    """The finishing step (Stage.SPACES): the goodbye and the archiving for each ticket closed in the unit."""
    from bot.tickets.service import space_target

    for ticket_id in sorted(unit.closed):
        ticket = await unit.session.get(Ticket, ticket_id)
        if ticket is None or ticket.state != State.CLOSED.value:
            continue
        enqueue_space(unit.session, unit.desk.clock.now(), space_target(ticket), "archive",
                      t(ticket.language, "space.goodbye", key=ticket.key), ticket=ticket.key)
        ticket.data = {**(ticket.data or {}), ARCHIVED: True}
