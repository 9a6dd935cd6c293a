"""Opening a ticket for an outside requester: ``/ticket --for CONTACT`` and the form's "for" field."""

from __future__ import annotations

from bot.contacts import address as contact_address
from bot.contacts import reach
from bot.contacts import store as contact_store
from bot.core.context import Context
from bot.core.errors import Refused
from bot.core.types import MessageKind, Reply
from bot.tickets import service
from storage.models import Ticket


async def open_for(ctx: Context, contact_text: str, *, text: str, priority: int, priority_source: str,
                   topic: str | None, doc: dict[str, str] | None = None) -> tuple[Ticket, Reply]:
    """The phone duty opens a ticket for a caller (or anybody without chat): the contact is its requester, the
    staff member its opener, who hears what is meant for a contact without mail (bot/contacts/reach.py). No
    request limit: the limit is a requester's, not the team's. Refused for anybody but the team, and for text
    that is no contact, before anything is written."""
    if not ctx.actor.is_staff:
        raise Refused("contact.staff_only", prefix=ctx.prefix)
    address = contact_address.parse(contact_text, contact_address.region_of(ctx.desk.settings))
    requester = await contact_store.find_or_create(ctx.session, address, ctx.now)
    # None: the address is a team member's ([people] email), who follows the ticket in chat like any of theirs
    contact = await contact_store.contact_of(ctx.session, requester.id)
    ticket = await service.create(
        ctx.session, ctx.desk, requester, text=text, priority=priority, topic=topic, origin=ctx.event.channel,
        # the contact is addressed in the desk's language (formally): nobody knows theirs
        language=requester.language or ctx.desk.language, doc=doc, priority_source=priority_source,
        opener=ctx.actor.person,
    )
    if contact is not None:
        service.tell_requester(ctx.session, ctx.desk, ticket, "contact.receipt", kind=MessageKind.RECEIPT,
                               title=ticket.title)
    if contact is None:
        how = ctx.t("contact.how_chat")
    elif reach.by_mail(ctx.desk, contact):
        how = ctx.t("contact.how_mail", email=contact.email)
    elif contact.phone:
        how = ctx.t("contact.how_phone", key=ticket.key)
    else:
        how = ctx.t("contact.how_no_mailbox", key=ticket.key)
    region = contact_address.region_of(ctx.desk.settings)
    named = contact_store.describe(requester, contact, region) if contact is not None else requester.display_name
    return ticket, Reply(text=ctx.t("contact.opened", key=ticket.key, contact=named, priority=priority, how=how),
                         kind=MessageKind.RECEIPT, ticket=ticket.key)
