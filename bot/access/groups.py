"""Desk roles from platform groups: ``[access] slack_groups`` (Slack user groups) and ``matrix_rooms``
(members of a Matrix room), e.g. ``slack_groups = { agent = "S0123" }``.

The core keeps the members of those groups in the ``group_members`` table and reads it for every
actor; the adapters keep the table current. What an adapter must call (all in one unit of work,
no commit inside; the adapter commits):

- at start and after a reconnect, for each id of :func:`watched_groups` (its platform):
  :func:`set_members` with the group's current members (Slack ``usergroups.users.list``, Matrix
  ``joined_members`` of the room) — it replaces what was stored;
- on a change while running: :func:`add_member` / :func:`remove_member` (Slack
  ``subteam_members_changed``: ``added_users`` / ``removed_users``; Matrix ``m.room.member``
  with membership ``join`` / ``leave`` or ``ban``).

User ids are the platform's (``U0ANNA``, ``@anna:example.org``); the simulator and the console use
people keys. A person whose groups give a staff role becomes staff (``people.is_staff``) — for the
SLA's "first answer by an agent" and for ``/ticket assign`` — and stops being staff when no group
and no ``[people]`` entry makes them one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.access import STAFF_ROLES
from bot.core.clock import Clock
from bot.core.context import Actor
from bot.core.types import Platform, UserRef
from bot.settings import Settings
from storage.models import GroupMember, Identity, Person
from storage.upsert import upsert


def _platform(platform: Platform | str) -> str:
    return platform.value if isinstance(platform, Platform) else str(platform)


def watched_groups(settings: Settings, platform: Platform | str) -> set[str]:
    """The group ids an adapter of ``platform`` must keep in the table."""
    return {gid for ids in settings.access.groups(_platform(platform)).values() for gid in ids}


async def set_members(session: AsyncSession, settings: Settings, platform: Platform | str, group_id: str,
                      user_ids: Iterable[str], now: datetime) -> None:
    """Replaces the stored members of one group."""
    name = _platform(platform)
    wanted = set(user_ids)
    stored = set((await session.scalars(select(GroupMember.user_id).where(
        GroupMember.platform == name, GroupMember.group_id == group_id))).all())
    if stored - wanted:
        await session.execute(delete(GroupMember).where(
            GroupMember.platform == name, GroupMember.group_id == group_id,
            GroupMember.user_id.in_(sorted(stored - wanted))))
    for user_id in sorted(wanted - stored):
        await _insert(session, name, group_id, user_id, now)
    for user_id in sorted(stored ^ wanted):
        await refresh_staff_flag(session, settings, name, user_id)


async def add_member(session: AsyncSession, settings: Settings, platform: Platform | str, group_id: str,
                     user_id: str, now: datetime) -> None:
    name = _platform(platform)
    await _insert(session, name, group_id, user_id, now)
    await refresh_staff_flag(session, settings, name, user_id)


async def remove_member(session: AsyncSession, settings: Settings, platform: Platform | str, group_id: str,
                        user_id: str) -> None:
    name = _platform(platform)
    await session.execute(delete(GroupMember).where(
        GroupMember.platform == name, GroupMember.group_id == group_id, GroupMember.user_id == user_id))
    await refresh_staff_flag(session, settings, name, user_id)


async def _insert(session: AsyncSession, platform: str, group_id: str, user_id: str, now: datetime) -> None:
    await session.execute(upsert(session, GroupMember, {"platform": platform, "group_id": group_id,
                                                        "user_id": user_id, "updated_at": now},
                                 key=["platform", "group_id", "user_id"]))


async def group_roles(session: AsyncSession, settings: Settings, platform: Platform | str,
                      user_id: str) -> frozenset[str]:
    """The roles the configured groups give one platform account."""
    name = _platform(platform)
    by_role = settings.access.groups(name)
    if not by_role:
        return frozenset()
    groups = set((await session.scalars(select(GroupMember.group_id).where(
        GroupMember.platform == name, GroupMember.user_id == user_id))).all())
    return frozenset(role for role, ids in by_role.items() if groups & set(ids))


async def refresh_staff_flag(session: AsyncSession, settings: Settings, platform: str, user_id: str) -> None:
    """Keeps ``people.is_staff`` of the person behind an account in step with config and groups."""
    person = await session.scalar(select(Person).join(Identity, Identity.person_id == Person.id).where(
        Identity.platform == platform, Identity.user_id == user_id))
    if person is None:
        return  # not seen yet: the dispatcher gives the roles when they first write
    person.is_staff = person.key in settings.people or await person_has_group_staff_role(session, settings, person)


async def person_has_group_staff_role(session: AsyncSession, settings: Settings, person: Person) -> bool:
    for platform, user_id in (await session.execute(
            select(Identity.platform, Identity.user_id).where(Identity.person_id == person.id))).all():
        if set(await group_roles(session, settings, platform, user_id)) & set(STAFF_ROLES):
            return True
    return False


async def group_staff_ids(session: AsyncSession, settings: Settings) -> set[int]:
    """Ids of the people whose groups make them staff (kept staff across a restart)."""
    found: set[int] = set()
    for platform in ("slack", "matrix", "sim", "console"):
        by_role = settings.access.groups(platform)
        ids = {gid for role, gids in by_role.items() if role in STAFF_ROLES for gid in gids}
        if not ids:
            continue
        rows = await session.scalars(
            select(Identity.person_id).join(GroupMember, (GroupMember.platform == Identity.platform)
                                            & (GroupMember.user_id == Identity.user_id))
            .where(Identity.platform == platform, GroupMember.group_id.in_(sorted(ids))))
        found.update(rows.all())
    return found


async def with_group_roles(session: AsyncSession, settings: Settings, actor: Actor, user: UserRef) -> Actor:
    """The actor with the roles of their platform groups added (the dispatcher calls it for every event)."""
    extra = await group_roles(session, settings, user.platform, user.user_id)
    if not extra - actor.roles:
        return actor
    if not actor.person.is_staff and extra & set(STAFF_ROLES):
        actor.person.is_staff = True
    return replace(actor, roles=actor.roles | extra)


class GroupMembership:
    """The ``groups`` port of the adapters (bot/core/ports.py): each call is one unit of work."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock

    def watched(self, platform: Platform) -> set[str]:
        return watched_groups(self.settings, platform)

    async def replace(self, platform: Platform, members: Mapping[str, Iterable[str]]) -> None:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            for group_id, user_ids in members.items():
                await set_members(session, self.settings, platform, group_id, user_ids, now)

    async def changed(self, platform: Platform, group_id: str, added: Sequence[str], removed: Sequence[str]) -> None:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            for user_id in added:
                await add_member(session, self.settings, platform, group_id, user_id, now)
            for user_id in removed:
                if user_id not in added:
                    await remove_member(session, self.settings, platform, group_id, user_id)
