"""Small platform-neutral helpers that more than one adapter needs (no platform imports here)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.types import Platform
from bot.settings import ChannelsConfig
from storage.models import Identity, Person, Ticket


async def ticket_member_ids(session: AsyncSession, ticket_key: str, platform: Platform) -> list[str]:
    """Platform user ids of a ticket's requester, assignee and listed members (``ticket.data["members"]``),
    in that order, each once; people without an account on ``platform`` are left out."""
    return [user for user, _staff in await ticket_members(session, ticket_key, platform)]


async def ticket_members(session: AsyncSession, ticket_key: str, platform: Platform) -> list[tuple[str, bool]]:
    """As :func:`ticket_member_ids`, each with whether the person is on the support team."""
    ticket = await session.scalar(select(Ticket).where(Ticket.key == ticket_key))
    if ticket is None:
        return []
    people = [ticket.requester_id, ticket.assignee_id, *((ticket.data or {}).get("members") or [])]
    ids = [p for p in dict.fromkeys(people) if isinstance(p, int)]
    if not ids:
        return []
    rows = await session.execute(select(Identity.person_id, Identity.user_id, Person.is_staff)
                                 .join(Person, Person.id == Identity.person_id)
                                 .where(Identity.person_id.in_(ids), Identity.platform == platform.value))
    by_person = {person: (user, bool(staff)) for person, user, staff in rows.all()}
    return [by_person[p] for p in ids if p in by_person]


def configured_channels(channels: ChannelsConfig, platform: str) -> set[str]:
    """The channel names the config gives for ``platform``: its duty channels (``matrix:#x`` or bare
    ``#x``), the guarded channels and those with a privacy mode of their own."""
    names = {channel for only, channel in channels.duty_entries() if only in (None, platform)}
    return names | set(channels.guarded) | set(channels.modes)
