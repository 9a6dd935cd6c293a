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

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import identity_of
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


async def remind_to_call(session: AsyncSession, desk: Desk, ticket: Ticket, contact: Contact, text: str, *,
                         kind: MessageKind) -> None:
    """A direct message to the ticket's assignee (else its opener) to pass ``text`` on to the contact; the duty
    channels hear it where neither has an account on the ticket's platform."""
    person = await session.get(Person, contact.person_id)
    assert person is not None
    staff_id = ticket.assignee_id or ticket.opener_id
    staff = await session.get(Person, staff_id) if staff_id is not None else None
    platform = Platform(ticket.origin_platform)
    user_id = await identity_of(session, staff.id, platform) if staff is not None else None
    lang = (staff.language if staff is not None else None) or desk.language
    key = "contact.call_back" if contact.phone else "contact.pass_on"
    if contact.phone and kind == MessageKind.FEEDBACK:
        key = "contact.call_back_question"
    values = {"key": ticket.key, "contact": describe(person, contact), "text": text,
              "prefix": desk.prefixes.get(platform, "/")}
    message = t(lang, key, **values)
    if user_id is not None:
        enqueue(session, desk.clock.now(), Target(kind="dm", platform=platform, user_id=user_id), message,
                kind=MessageKind.REMINDER, visibility=Visibility.PRIVATE, ticket=ticket.key)
        return
    for target in desk.duty_targets():
        enqueue(session, desk.clock.now(), target, t(desk.language, key, **values),
                kind=MessageKind.REMINDER, visibility=Visibility.PRIVATE, ticket=ticket.key)
