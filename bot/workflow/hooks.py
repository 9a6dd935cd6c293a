"""Where the processes meet the dispatcher: after every unit of work (new tickets are routed and asked
for their documentation) and for every message in a ticket's private space (files, intake answers)."""

from __future__ import annotations

from bot import routing
from bot.core.context import Context
from bot.core.errors import Refused
from bot.core.types import MessageKind, Reply
from bot.core.uow import UnitOfWork
from bot.workflow import attachments, intake, rules
from storage.models import Ticket


async def after_work(unit: UnitOfWork) -> None:
    """Routes every ticket opened in the unit of work and asks for what its documentation lacks.

    A finishing step of ``Stage.NEW_TICKETS``, before the escalation, so a category that makes a ticket
    Prio-1 pings the standby in the same commit."""
    for ticket_id in sorted(unit.opened):
        ticket = await unit.ticket(ticket_id)
        if ticket is None:
            continue
        await routing.route(unit.session, unit.desk, ticket)
        await intake.start(unit.session, unit.desk, ticket)


async def space_message(ctx: Context, ticket: Ticket) -> list[Reply]:
    """A message in the ticket's private space: its files, and the answer to the question asked."""
    replies: list[Reply] = []
    event = ctx.event
    person = ctx.actor.person
    if event.attachments:
        for text in await attachments.receive(ctx.session, ctx.desk, ticket, person, event.attachments,
                                              ctx.actor.language):
            replies.append(Reply(text=text, kind=MessageKind.ERROR, ticket=ticket.key))
    field = rules.asking(ticket)
    text = event.text.strip()
    if field and text and field != "screenshot" and person.id == ticket.requester_id \
            and ticket.state in rules.ASKING_STATES:
        try:
            await intake.fill(ctx.session, ctx.desk, ticket, field, text, person)
        except Refused as refusal:
            # a message is no command: its files are kept, and the refused answer is one reply among them
            replies.append(Reply(text=refusal.text(ctx.actor.language, prefix=ctx.prefix), kind=MessageKind.ERROR,
                                 ticket=ticket.key))
    return replies
