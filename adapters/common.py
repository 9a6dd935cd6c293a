"""Small platform-neutral helpers that more than one adapter needs (no platform imports here)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.types import Platform
from bot.settings import ChannelsConfig
from storage.models import Identity, Ticket


async def ticket_member_ids(session: AsyncSession, ticket_key: str, platform: Platform) -> list[str]:
    """Platform user ids of a ticket's requester, assignee and listed members (``ticket.data["members"]``),
    in that order, each once; people without an account on ``platform`` are left out."""
    ticket = await session.scalar(select(Ticket).where(Ticket.key == ticket_key))
    if ticket is None:
        return []
    people = [ticket.requester_id, ticket.assignee_id, *((ticket.data or {}).get("members") or [])]
    ids = [p for p in dict.fromkeys(people) if isinstance(p, int)]
    if not ids:
        return []
    rows = await session.execute(select(Identity.person_id, Identity.user_id).where(
        Identity.person_id.in_(ids), Identity.platform == platform.value))
    by_person = {person: user for person, user in rows.all()}
    return [by_person[p] for p in ids if p in by_person]


def configured_channels(channels: ChannelsConfig, platform: str) -> set[str]:
    """The channel names the config gives for ``platform``: its duty channels (``matrix:#x`` or bare
    ``#x``), the guarded channels and those with a privacy mode of their own."""
    names = {channel for only, channel in channels.duty_entries() if only in (None, platform)}
    return names | set(channels.guarded) | set(channels.modes)
