"""Finding or creating a contact, race-free: its ``people`` key is derived from the address (``mail:…``) or,
without one, the number (``tel:…``), so two events about the same new contact at once insert one row (an
upsert on the key) and both find it."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contacts.address import ContactAddress, kept_forms, shown_phone
from bot.core.types import Platform
from storage.models import Contact, Identity, Person
from storage.upsert import upsert

KEY_LENGTH = 120  # people.key


def person_key(contact: ContactAddress) -> str:
    """``mail:maria@example.com`` or ``tel:+49301234567``; an address too long for the key is hashed."""
    if contact.email:
        key = f"mail:{contact.email}"
        return key if len(key) <= KEY_LENGTH else "mail:#" + hashlib.sha256(contact.email.encode()).hexdigest()
    if contact.phone:
        return f"tel:{contact.phone}"
    raise ValueError("a contact has an address or a number")


async def find(session: AsyncSession, contact: ContactAddress) -> Person | None:
    """Whoever has this address — a person of ``[people]`` with that ``email``, a mail sender, a contact —
    else (for a number alone) the newest contact with this number."""
    if contact.email:
        known = await session.scalar(select(Person).join(Identity, Identity.person_id == Person.id).where(
            Identity.platform == Platform.MAIL.value, Identity.user_id == contact.email))
        return known or await session.scalar(select(Person).join(Contact, Contact.person_id == Person.id)
                                             .where(Contact.email == contact.email))
    assert contact.phone is not None
    return await session.scalar(select(Person).join(Contact, Contact.person_id == Person.id)
                                .where(Contact.phone.in_(kept_forms(contact.phone)))
                                .order_by(Contact.created_at.desc()).limit(1))


async def find_or_create(session: AsyncSession, contact: ContactAddress, now: datetime) -> Person:
    """The requester for ``contact``, created on first use. Somebody of the team (``[people] email``) stays who
    they are. An address becomes the contact's ``mail`` identity, so their mails reach the ticket as theirs
    (adapters/mail). A name given now renames the contact (a caller says who they are); a number given with a
    known address is added to it."""
    person = await find(session, contact)
    if person is not None and person.is_staff:
        return person
    if person is None:
        key = person_key(contact)
        await session.execute(upsert(session, Person, {"key": key, "display_name": contact.label, "is_staff": False,
                                                       "created_at": now}, key=["key"]))
        person = (await session.scalars(select(Person).where(Person.key == key))).one()
    # a mail sender the mailbox met first becomes a contact now; both inserts keep a row that is there already
    await session.execute(upsert(session, Contact, {"person_id": person.id, "email": contact.email,
                                                    "phone": contact.phone, "created_at": now,
                                                    "updated_at": now}, key=["person_id"]))
    if contact.email:
        await session.execute(upsert(session, Identity, {"person_id": person.id, "platform": Platform.MAIL.value,
                                                         "user_id": contact.email}, key=["platform", "user_id"]))
    row = await session.get(Contact, person.id)
    assert row is not None
    if contact.name and person.display_name != contact.name:
        person.display_name = contact.name
    if contact.phone and row.phone != contact.phone and contact.email:
        row.phone, row.updated_at = contact.phone, now
    return person


async def contact_of(session: AsyncSession, person_id: int) -> Contact | None:
    """How to reach the requester ``person_id`` when it is an outside contact; None for a chat user."""
    return await session.get(Contact, person_id)


def describe(person: Person, contact: Contact, region: str | None = None) -> str:
    """The contact as the team reads it: ``Maria Huber <maria@example.com>, +49 30 1234567`` (the number for
    reading; one kept without its country code is read in ``region``)."""
    parts = []
    if contact.email:
        named = person.display_name != contact.email
        parts.append(f"{person.display_name} <{contact.email}>" if named else contact.email)
    if contact.phone:
        phone = shown_phone(contact.phone, region)
        # a caller without a name is named by the number (as kept before numbers were shown for reading, or now)
        unnamed = person.display_name in (contact.phone, phone)
        parts.append(phone if parts or unnamed else f"{person.display_name} {phone}")
    return ", ".join(parts) or person.display_name
