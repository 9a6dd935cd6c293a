"""A button once pressed is replaced by what happened (#17): the Prio-1 ping's "Acknowledge", a swap request's
"Accept", the satisfaction question's answer, the conversation question's "Add to HW-1" stay clickable nowhere
after use, so nobody presses them again and everyone who sees the message sees who answered it.

The ticket's card in the duty channel is not such a message: its buttons follow the ticket's state
(bot/tickets/card.py) and stay until the ticket no longer offers them. Nor is the mailbox holder's message about a
mail to a colleague (``mail_held``): bot/mailbox changes it itself once the mail is decided, saying what became of
it ("Add to a ticket" only opens the choice of tickets, and the mail still waits).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import InboundEvent, MessageKind, Visibility
from bot.i18n import t
from bot.infra.outbox import Operation, enqueue_update, target_of
from bot.tickets import card, service
from storage.models import OutboxMessage, Person


async def replace(session: AsyncSession, desk: Desk, event: InboundEvent, actor: Person, lang: str) -> None:
    """After ``event``'s button did its work: the message that offered it keeps its text, loses its buttons and
    says who chose what. A message the bot did not send (or sent without buttons) is left alone."""
    if event.kind != "action" or not event.message_id:
        return
    row = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.platform == event.actor.platform.value,
                                    OutboxMessage.platform_ref == event.message_id,
                                    OutboxMessage.operation == Operation.SEND.value)
        .order_by(OutboxMessage.id.desc()).limit(1))
    if row is None or not row.buttons or row.target_kind == "ephemeral" or row.kind == MessageKind.MAIL_HELD.value \
            or await _is_card(session, row):
        return
    label = next((b.get("label") for b in row.buttons
                  if b.get("action") == event.name and (event.value is None or b.get("value") == event.value)), None)
    if label is None:
        return  # a button this message no longer offers (a newer version of it was pressed)
    text = f"{row.text}\n{t(lang, 'buttons.used', who=actor.display_name, choice=label)}"
    enqueue_update(session, desk.clock.now(), target_of(row), text, of=row.id,
                   kind=MessageKind(row.kind or MessageKind.NOTICE.value), visibility=Visibility(row.visibility),
                   ticket=row.ticket_key)


async def _is_card(session: AsyncSession, row: OutboxMessage) -> bool:
    ticket = await service.get(session, row.ticket_key) if row.ticket_key else None
    return ticket is not None and row.id in ((ticket.data or {}).get(card.CARD) or {}).values()
