"""Outside requesters: what the unit of work said to a contact goes out when it finishes (bot/contacts/reach.py)."""

from __future__ import annotations

from sqlalchemy import select

from bot.contacts import reach
from bot.core.features import Features
from bot.core.types import Button, MessageKind
from bot.core.uow import Stage, UnitOfWork
from storage.models import Contact, Ticket


async def deliver(unit: UnitOfWork) -> None:
    """The messages for contacts, in the order they were said."""
    pending, unit.for_contacts = unit.for_contacts, []
    for ticket_id, text, kind, buttons in pending:
        ticket = await unit.session.get(Ticket, ticket_id)
        contact = (await unit.session.scalar(select(Contact).where(Contact.person_id == ticket.requester_id))
                   if ticket is not None else None)
        if ticket is None or contact is None:
            continue  # the ticket's requester changed since: nothing to say to a contact
        await reach.tell(unit.session, unit.desk, ticket, contact, text, kind=MessageKind(kind),
                         buttons=tuple(b for b in buttons if isinstance(b, Button)))


def register(features: Features) -> None:
    features.finish(Stage.CONTACTS, deliver)
