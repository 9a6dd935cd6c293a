"""The port between the core and whatever reaches outside requesters: what the requester of a ticket
should hear, when that requester is a contact (bot/contacts), goes here instead of the ticket's private space.

- A contact with an e-mail address, on a desk where a mail runtime runs (``Platform.MAIL`` among the
  running platforms): an outbox row ``Target(kind="dm", platform=MAIL, user_id=ADDRESS)`` about the ticket,
  with the text in the ticket's language and the message's kind (``receipt``, ``reply``, ``feedback`` …).
  The mail runtime (adapters/mail) is the ``Sender`` of that platform: it makes the row a mail in the
  ticket's thread (``[HW-5] title``) and offers the buttons as words to answer with; the contact's address is
  their ``mail`` identity, so their answers by mail come back to the ticket as the requester's.
- Otherwise (a number only, or no mailbox set up) nothing goes to the contact: for the messages that need
  an answer or carry news (:data:`CALL_BACK_KINDS`) whoever has the ticket — its assignee, else the staff
  member who opened it — is reminded by direct message to call the contact back, with the text to pass on.
  Nothing is ever addressed to the opener as if they were the requester: the satisfaction question becomes
  "ask them", and the answer is recorded with ``/ticket satisfied|notfixed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import identity_of
from bot.contacts.address import region_of
from bot.contacts.store import contact_of, describe
from bot.core.desk import Desk
from bot.core.types import Button, MessageKind, Platform, Target, Visibility
from bot.i18n import t
from bot.infra.outbox import enqueue
from storage.models import Contact, Person, Ticket

# what a phone-only contact is called back for: answers, solutions, questions; state and priority notices are
# the team's to mention when they call
CALL_BACK_KINDS = frozenset({MessageKind.REPLY, MessageKind.SOLUTION, MessageKind.FEEDBACK, MessageKind.INTAKE,
                             MessageKind.AUTO_ANSWER})


def mail_target(address: str) -> Target:
    return Target(kind="dm", platform=Platform.MAIL, user_id=address)


def by_mail(desk: Desk, contact: Contact) -> bool:
    """Whether the contact hears from the bot itself: it has an address and a mail runtime runs."""
    return bool(contact.email) and Platform.MAIL in desk.platforms


async def requester_contact(session: AsyncSession, ticket: Ticket) -> Contact | None:
    return await contact_of(session, ticket.requester_id)


async def tell(session: AsyncSession, desk: Desk, ticket: Ticket, contact: Contact, text: str, *,
               kind: MessageKind, buttons: Iterable[Button] = ()) -> None:
    """``text`` (already in the ticket's language) is for the ticket's requester, the outside ``contact``."""
    now = desk.clock.now()
    if by_mail(desk, contact):
        assert contact.email is not None
        enqueue(session, now, mail_target(contact.email), text, kind=kind,
                visibility=Visibility.PRIVATE, ticket=ticket.key, buttons=buttons)
        return
    if kind in CALL_BACK_KINDS:
        await remind_to_call(session, desk, ticket, contact, text, kind=kind)


async def _reminded(session: AsyncSession, ticket: Ticket) -> tuple[Person | None, str | None]:
    """Who passes on what is meant for a contact the bot cannot reach: the ticket's assignee, else its opener,
    and their account on the ticket's platform (None: the duty channels hear it)."""
    staff_id = ticket.assignee_id or ticket.opener_id
    staff = await session.get(Person, staff_id) if staff_id is not None else None
    user_id = await identity_of(session, staff.id, Platform(ticket.origin_platform)) if staff is not None else None
    return staff, user_id


@dataclass(frozen=True)
class Way:
    """How what the team says reaches a ticket's requester, for the team's confirmations (they must be true):
    ``space`` (the ticket's private space in chat), ``mail`` (by mail to ``email``), ``call`` (``who`` is reminded
    to call ``contact`` back) or ``pass_on`` (an address but no mailbox: ``who`` is reminded to pass it on).
    ``who`` is None where the duty channels are reminded."""

    how: str
    email: str | None = None
    contact: str | None = None
    who: str | None = None


async def way_to_requester(session: AsyncSession, desk: Desk, ticket: Ticket) -> Way:
    if ticket.origin_platform == Platform.MAIL.value and not ticket.opener_id:
        # opened by a mail: its space is the requester's mail thread
        address = await identity_of(session, ticket.requester_id, Platform.MAIL)
        if address:
            return Way("mail", email=address)
    contact = await contact_of(session, ticket.requester_id)
    if contact is None:
        return Way("space")
    if by_mail(desk, contact):
        return Way("mail", email=contact.email)
    person = await session.get(Person, contact.person_id)
    assert person is not None
    staff, user_id = await _reminded(session, ticket)
    return Way("call" if contact.phone else "pass_on", contact=describe(person, contact, region_of(desk.settings)),
               who=staff.display_name if staff is not None and user_id is not None else None)


async def remind_to_call(session: AsyncSession, desk: Desk, ticket: Ticket, contact: Contact, text: str, *,
                         kind: MessageKind) -> None:
    """A direct message to the ticket's assignee (else its opener) to pass ``text`` on to the contact; the duty
    channels hear it where neither has an account on the ticket's platform."""
    person = await session.get(Person, contact.person_id)
    assert person is not None
    staff, user_id = await _reminded(session, ticket)
    platform = Platform(ticket.origin_platform)
    lang = (staff.language if staff is not None else None) or desk.language
    key = "contact.call_back" if contact.phone else "contact.pass_on"
    if contact.phone and kind == MessageKind.FEEDBACK:
        key = "contact.call_back_question"
    values = {"key": ticket.key, "contact": describe(person, contact, region_of(desk.settings)), "text": text,
              "prefix": desk.prefixes.get(platform, "/")}
    message = t(lang, key, **values)
    if user_id is not None:
        enqueue(session, desk.clock.now(), Target(kind="dm", platform=platform, user_id=user_id), message,
                kind=MessageKind.REMINDER, visibility=Visibility.PRIVATE, ticket=ticket.key)
        return
    for target in desk.duty_targets():
        enqueue(session, desk.clock.now(), target, t(desk.language, key, **values),
                kind=MessageKind.REMINDER, visibility=Visibility.PRIVATE, ticket=ticket.key)
