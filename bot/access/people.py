"""People: staff from the config, requesters from whoever writes to the bot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.config import PersonConfig
from bot.access.groups import group_staff_ids
from bot.core.context import Actor
from bot.core.types import Platform, UserRef
from bot.core.uow import UnitOfWork
from bot.settings import Settings
from storage.models import Contact, Identity, Person, Ticket
from storage.upsert import upsert

# replicas that start together sync the staff one after the other (a PostgreSQL advisory lock)
STAFF_SYNC_LOCK = 0x64757479  # "duty"

# on the console and in the simulator a person's user id is their people key
KEYED_PLATFORMS = (Platform.CONSOLE, Platform.SIM)


def _identities(key: str, slack: str | None, matrix: str | None, email: str | None = None) -> list[tuple[str, str]]:
    found = [(p.value, key) for p in KEYED_PLATFORMS]
    if email:
        found.append((Platform.MAIL.value, email.strip().lower()))
    if slack:
        found.append((Platform.SLACK.value, slack))
    if matrix:
        found.append((Platform.MATRIX.value, matrix))
    return found


async def _detach_stale(session: AsyncSession, person: Person, cfg: PersonConfig) -> None:
    """Removes a staff member's Slack and Matrix accounts that the config does not name (any more)."""
    email = cfg.email.strip().lower() if cfg.email else None
    for platform, configured in ((Platform.SLACK, cfg.slack), (Platform.MATRIX, cfg.matrix), (Platform.MAIL, email)):
        stale = delete(Identity).where(Identity.person_id == person.id, Identity.platform == platform.value)
        if configured:
            stale = stale.where(Identity.user_id != configured)
        await session.execute(stale)


async def sync_staff(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Makes the people table match ``[people.*]``: staff rows and their platform identities.

    The config is the whole truth about a staff member's accounts: an account that is no longer
    configured (``slack = "U0ANNA"`` changed to ``"U0ANNA2"``) is detached from the person, so it
    keeps none of their rights; when it writes again it is a requester like anyone else."""
    if session.get_bind().dialect.name == "postgresql":
        # two replicas starting at once would both insert a new staff member (a unique violation):
        # the second waits here until the first commits, then finds the rows
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STAFF_SYNC_LOCK})
    existing = {p.key: p for p in (await session.scalars(select(Person))).all()}
    for key, cfg in settings.people.items():
        person = existing.get(key)
        if person is None:
            person = Person(key=key, display_name=cfg.name or key, created_at=now)
            session.add(person)
        person.display_name = cfg.name or key
        person.is_staff = True
        person.language = cfg.language
        person.timezone = cfg.timezone
        await session.flush()
        await _detach_stale(session, person, cfg)
        for platform, user_id in _identities(key, cfg.slack, cfg.matrix, cfg.email):
            identity = await session.scalar(
                select(Identity).where(Identity.platform == platform, Identity.user_id == user_id)
            )
            if identity is None:
                session.add(Identity(person_id=person.id, platform=platform, user_id=user_id))
            elif identity.person_id != person.id:
                identity.person_id = person.id
    # people whose platform groups make them staff ([access]) stay staff across a restart
    group_staff = await group_staff_ids(session, settings)
    for key, person in existing.items():
        if key not in settings.people:
            person.is_staff = person.id in group_staff


# the person of a platform account with their contact row: built once (every event starts with it)
_WITH_CONTACT = (
    select(Person, Contact)
    .join(Identity, Identity.person_id == Person.id)
    .outerjoin(Contact, Contact.person_id == Person.id)
    .where(Identity.platform == bindparam("platform"), Identity.user_id == bindparam("user_id"))
)
# … and how many tickets they opened since an instant (the limit of new tickets, bot/tickets/limits.py)
_WITH_CONTACT_AND_OPENED = _WITH_CONTACT.add_columns(
    select(func.count(Ticket.id)).where(Ticket.requester_id == Person.id, Ticket.created_at >= bindparam("since"))
    .correlate(Person).scalar_subquery()
)


async def resolve(session: AsyncSession, user: UserRef, now: datetime, *,
                  opened_since: datetime | None = None) -> Person:
    """The person behind a platform account; a first-time writer becomes a requester.

    Their contact row (bot/contacts) is read in the same query and kept on the unit of work
    (``UnitOfWork.contacts``): a ticket they open does not read it again. With ``opened_since``, so is
    how many tickets they opened since then (``UnitOfWork.opened_since``, for the limit check)."""
    params = {"platform": user.platform.value, "user_id": user.user_id}
    found: Any = (await session.execute(_WITH_CONTACT, params)).first() if opened_since is None else \
        (await session.execute(_WITH_CONTACT_AND_OPENED, {**params, "since": opened_since})).first()
    person = found[0] if found is not None else None
    if found is not None:
        unit = UnitOfWork.find(session)
        if unit is not None:
            unit.contacts[found[0].id] = found[1]
            if opened_since is not None:
                unit.opened_since[found[0].id] = (opened_since, int(found[2]))
    if person is not None:
        if user.display_name and not person.is_staff and person.display_name != user.display_name:
            person.display_name = user.display_name
        return person
    key = user.user_id if user.platform in KEYED_PLATFORMS else f"{user.platform.value}:{user.user_id}"
    # two first events of one person can be handled at once: insert-or-keep, never a unique violation
    await session.execute(upsert(session, Person, {"key": key, "display_name": user.display_name or user.user_id,
                                                   "is_staff": False, "created_at": now}, key=["key"]))
    person = (await session.scalars(select(Person).where(Person.key == key))).one()
    await session.execute(upsert(session, Identity, {"person_id": person.id, "platform": user.platform.value,
                                                     "user_id": user.user_id}, key=["platform", "user_id"]))
    return person


def actor_for(person: Person, settings: Settings) -> Actor:
    cfg = settings.people.get(person.key) if person.is_staff else None
    roles = frozenset(cfg.roles) if cfg is not None else frozenset()
    return Actor(
        person=person,
        roles=roles,
        language=person.language or settings.desk.language,
        timezone=person.timezone or settings.desk.timezone,
    )


async def identity_of(session: AsyncSession, person_id: int, platform: Platform) -> str | None:
    return await session.scalar(
        select(Identity.user_id).where(Identity.person_id == person_id, Identity.platform == platform.value)
    )


async def person_by_key(session: AsyncSession, key: str) -> Person | None:
    return await session.scalar(select(Person).where(Person.key == key))
