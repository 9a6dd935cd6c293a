"""Desk roles from Matrix rooms (``[access] matrix_rooms``): the joined members of each watched room
kept by the core (its ``groups`` port, bot/core/ports.py).

The group id stored is the config's own spelling of the room (``#agents:example.org``,
``!abc:example.org``, or ``#agents`` on the bot's server), because the core compares it with the
config. At the first sync of a process (and after a sync failure, which may have lost events) every
watched room is read in full with ``joined_members``; so is a watched room the bot has just joined.
While running, ``m.room.member`` events keep the table current: ``join`` adds, ``leave`` (which is
also a kick) and ``ban`` remove. The bot can read a room's members only while it is in the room:
a watched room it is not in is logged as an error that says whom to invite where.

Only members from the servers the bot trusts (its own and ``[matrix] allowed_servers``) get a role: a
federated room's member from elsewhere does not. A watched room that anybody can join now (see
adapters/matrix/guard.py) gives nobody its role until it is invite-only again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from nio import AsyncClient, JoinedMembersResponse

from adapters.matrix.client import MatrixError, check, server_of
from adapters.matrix.spaces import Rooms
from bot.core.ports import DeliveryError, Ports
from bot.core.types import Platform

log = structlog.stdlib.get_logger(__name__)

JOINED = "join"
GONE = frozenset({"leave", "ban"})


class MatrixGroups:
    """Keeps the members of the watched rooms in the database."""

    def __init__(self, client: AsyncClient, rooms: Rooms, ports: Ports, user_id: str) -> None:
        self.client = client
        self.rooms = rooms
        self.settings = settings = ports.settings
        self.store = ports.groups
        self.user_id = user_id
        self.watched = ports.groups.watched(Platform.MATRIX)
        self._by_room: dict[str, set[str]] = {}    # room id → the config names that mean it
        self.synced = not self.watched              # False: read every watched room before the next batch
        self.problems: dict[str, str] = {}          # config name → why its members cannot be read
        self.trusted = {server_of(user_id), *settings.matrix.allowed_servers}

    def roles_of(self, name: str) -> str:
        return ", ".join(sorted(role for role, ids in self.settings.access.groups("matrix").items() if name in ids))

    async def resolve(self) -> None:
        """Room ids of the watched names (aliases resolved; one that does not resolve is a problem)."""
        for name in sorted(self._unresolved()):
            try:
                room_id = await self.rooms.id_of(name)
            except DeliveryError as exc:
                self.problems[name] = exc.reason
                log.error("matrix: access.matrix_rooms, a room cannot be read", room=name, roles=self.roles_of(name),
                          reason=exc.reason)
                continue
            self._by_room.setdefault(room_id, set()).add(name)

    def _unresolved(self) -> set[str]:
        return self.watched - {name for names in self._by_room.values() for name in names}

    def names_of(self, room_id: str) -> set[str]:
        return self._by_room.get(room_id, set())

    def roles_in(self, room_id: str) -> str:
        """The roles the room gives (under any of its config names): ``agent, lead``."""
        by_role = self.settings.access.groups("matrix")
        names = self.names_of(room_id)
        return ", ".join(sorted(role for role, ids in by_role.items() if names & set(ids)))

    def room_ids(self) -> set[str]:
        """The room ids of the watched rooms resolved so far."""
        return set(self._by_room)

    def counts(self, user_id: str) -> bool:
        """Whether membership of ``user_id`` can give a role: a person from a server the bot trusts."""
        return server_of(user_id) in self.trusted

    async def lock(self, room_id: str) -> None:
        """Anybody can join the room now: nobody keeps the role it gave."""
        await self._store(room_id, self.names_of(room_id), set())

    async def unlock(self, room_id: str) -> None:
        """Invite-only again: its members get their role back."""
        await self.sync_room(room_id)

    async def _store(self, room_id: str, names: set[str], members: set[str]) -> None:
        await self.store.replace(Platform.MATRIX, {name: members for name in sorted(names)})

    async def sync_all(self) -> dict[str, str]:
        """Reads every watched room in full; returns the problems (config name → reason)."""
        self.problems = {}
        await self.resolve()
        for room_id in sorted(self._by_room):
            await self.sync_room(room_id)
        self.synced = True
        return dict(self.problems)

    async def sync_room(self, room_id: str) -> bool:
        """Replaces the stored members of one watched room with its joined members; False when it cannot."""
        names = self.names_of(room_id)
        if not names and self._unresolved():
            await self.resolve()   # an alias that did not exist at start may name this room now
            names = self.names_of(room_id)
        if not names:
            return False
        try:
            answer = check(await self.client.joined_members(room_id), JoinedMembersResponse, "joined members")
        except MatrixError as exc:
            self._not_readable(room_id, names, exc)
            return False
        members = {member.user_id for member in answer.members if member.user_id != self.user_id}
        foreign = {member for member in members if not self.counts(member)}
        if foreign:
            log.warning("matrix: access.matrix_rooms: %d members of %s are from servers not in matrix.allowed_servers "
                        "and get no role", len(foreign), ", ".join(sorted(names)))
        opened = await self.rooms.opened(room_id)
        if opened is not None:
            log.error("matrix: access.matrix_rooms: anybody can join %s (%s); nobody gets its role until it is "
                      "invite-only again", ", ".join(sorted(names)), opened)
        await self._store(room_id, names, set() if opened is not None else members - foreign)
        for name in names:
            self.problems.pop(name, None)
        log.info("matrix: desk roles read", rooms=sorted(names), members=len(members))
        return True

    def _not_readable(self, room_id: str, names: set[str], exc: MatrixError) -> None:
        for name in sorted(names):
            if exc.errcode in ("M_FORBIDDEN", "M_NOT_FOUND", "403", "404"):
                reason = (f"the bot ({self.user_id}) is not in the room {name} ({room_id}), so it cannot see who "
                          f"is in it: invite {self.user_id} to the room; until then nobody gets the role "
                          f"{self.roles_of(name)} from it (the members stored before are kept)")
            else:
                reason = f"cannot read the members of {name} ({exc}); the members stored before are kept"
            self.problems[name] = reason
            log.error("matrix: access.matrix_rooms, a room cannot be read", reason=reason)

    async def on_member(self, room_id: str, raw: Mapping[str, Any]) -> None:
        """An ``m.room.member`` event in a watched room: join adds, leave / kick / ban removes."""
        names = self.names_of(room_id)
        user_id = str(raw.get("state_key") or "")
        if not names or not user_id.startswith("@") or user_id == self.user_id:
            return
        membership = (raw.get("content") or {}).get("membership")
        if membership != JOINED and membership not in GONE:
            return  # an invite or a knock gives no role yet
        if membership == JOINED and (not self.counts(user_id) or await self.rooms.opened(room_id) is not None):
            return  # from an untrusted server, or into a room anybody can join: no role
        joined = [user_id] if membership == JOINED else []
        for name in sorted(names):
            await self.store.changed(Platform.MATRIX, name, joined, [] if joined else [user_id])
        log.info("matrix: desk room membership changed", user=user_id, joined=membership == JOINED, rooms=sorted(names))
