"""Rooms whose membership means something must not be open to anyone: the duty rooms (they show ticket
titles) and the ``[access] matrix_rooms`` (their members get desk roles).

A room is *joinable* when anybody could get in without an invite: join rule ``public``, ``knock`` (ask
and be let in), or ``restricted`` / ``knock_restricted`` through a room or space that is itself
joinable or that the bot cannot see. The start stops (ConfigError) on a joinable duty or access room.
While running, a change of join rule is followed: a room that became joinable is marked in
``platform_state`` (``matrix:joinable:!room`` → the reason, so every replica sees it), a duty room
gets no more ticket titles (its messages fail with the reason), an access room gives nobody its role any
more, the room is told (without content) and the admins hear it by direct message; invite-only again,
all of it is undone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nio import AsyncClient, RoomGetStateEventResponse

from adapters.matrix.groups import MatrixGroups
from adapters.matrix.spaces import Rooms
from bot.core.ports import DeliveryError
from bot.i18n import t
from bot.settings import ConfigError, Settings

log = logging.getLogger(__name__)

OPEN_RULES = frozenset({"public", "knock"})
THROUGH_RULES = frozenset({"restricted", "knock_restricted"})
DEPTH = 3   # rooms restricted to a room restricted to … are followed this far, then counted as joinable

Say = Callable[[str, str, str], Awaitable[None]]


async def joinable(client: AsyncClient, room_id: str, content: Mapping[str, Any] | None = None,
                   depth: int = DEPTH) -> str | None:
    """Why anybody could join ``room_id`` without an invite (its join rule), or None. ``content``: the join rule
    event's content when it is at hand (a change seen in the sync)."""
    if content is None:
        answer = await client.room_get_state_event(room_id, "m.room.join_rules")
        if not isinstance(answer, RoomGetStateEventResponse):
            return None if depth == DEPTH else f"the bot cannot see the room {room_id}"
        content = answer.content or {}
    rule = str(content.get("join_rule") or "invite")
    if rule in OPEN_RULES:
        return f"join rule \"{rule}\""
    if rule not in THROUGH_RULES:
        return None
    for allowed in content.get("allow") or ():
        other = allowed.get("room_id") if isinstance(allowed, Mapping) else None
        if not other:
            continue
        why = f"the bot cannot see the room {other}" if depth <= 1 else await joinable(client, other, None, depth - 1)
        if why is not None:
            return f"join rule \"{rule}\" through {other} ({why})"
    return None


class RoomGuard:
    """Knows the duty and access rooms, checks them at start and follows their join rules."""

    def __init__(self, client: AsyncClient, rooms: Rooms, groups: MatrixGroups, settings: Settings, say: Say,
                 language_of: Callable[[str | None], str]) -> None:
        self.client = client
        self.rooms = rooms
        self.groups = groups
        self.settings = settings
        self.say = say
        self.language_of = language_of
        self.duty_names = {name for only, name in settings.channels.duty_entries() if only in (None, "matrix")}

    def duty_name(self, room_id: str) -> str | None:
        """The config's name of the duty room ``room_id``; None for any other room."""
        name = self.rooms.name_of(room_id)
        return name if name in self.duty_names else None

    async def refuse_joinable(self) -> None:
        """The start: a joinable duty or access room stops it (ConfigError) with what to change."""
        await self.groups.resolve()
        problems = []
        src = self.settings.source
        for name in sorted(self.duty_names):
            try:
                room_id = await self.rooms.id_of(name)
            except DeliveryError:
                continue  # a room that does not exist yet is reported when the bot first posts there
            why = await joinable(self.client, room_id)
            if why is not None:
                problems.append(f"{src}: channels.duty: the Matrix room {name} can be joined by anyone ({why}), "
                                "but the duty channel shows ticket titles and must be private; make the room "
                                "invite-only (join rule \"invite\") or name a private room")
        for room_id in sorted(self.groups.room_ids()):
            why = await joinable(self.client, room_id)
            if why is not None:
                names = ", ".join(sorted(self.groups.names_of(room_id)))
                problems.append(f"{src}: access.matrix_rooms: the Matrix room {names} can be joined by anyone "
                                f"({why}), and whoever joins it would get the role {self.groups.roles_in(room_id)}; "
                                "make the room invite-only (join rule \"invite\")")
        if problems:
            raise ConfigError(problems)

    def watches(self, room_id: str) -> bool:
        return self.duty_name(room_id) is not None or bool(self.groups.names_of(room_id))

    async def on_join_rules(self, room_id: str, raw: Mapping[str, Any]) -> None:
        """A ``m.room.join_rules`` event: a watched room that opened is locked out, one that closed let back in."""
        if not self.watches(room_id):
            return
        why = await joinable(self.client, room_id, raw.get("content") or {})
        was = await self.rooms.opened(room_id) is not None
        if why is not None and not was:
            await self._opened(room_id, why, str(raw.get("event_id") or ""))
        elif why is None and was:
            await self._closed(room_id, str(raw.get("event_id") or ""))

    async def _opened(self, room_id: str, why: str, event_id: str) -> None:
        await self.rooms.mark_opened(room_id, why)
        access = self.groups.names_of(room_id)
        if access:
            await self.groups.lock(room_id)
        duty = self.duty_name(room_id)
        name = duty or ", ".join(sorted(access))
        log.error("matrix: the %s room %s can be joined by anyone now (%s): %s", "duty" if duty else "access", name,
                  why, "no ticket titles are posted there" if duty
                  else f"nobody gets the role {self.groups.roles_in(room_id)} from it")
        lang = self.settings.desk.language
        await self._tell_room(room_id, t(lang, "matrix.room_opened"), f"joinable.{event_id}")
        key = "matrix.room_opened_duty" if duty else "matrix.room_opened_access"
        await self._tell_admins(key, f"joinable-admin.{event_id}", room=name, why=why,
                                roles=self.groups.roles_in(room_id))

    async def _closed(self, room_id: str, event_id: str) -> None:
        await self.rooms.mark_opened(room_id, None)
        if self.groups.names_of(room_id):
            await self.groups.unlock(room_id)
        name = self.duty_name(room_id) or ", ".join(sorted(self.groups.names_of(room_id)))
        log.warning("matrix: the room %s is invite-only again", name)
        await self._tell_admins("matrix.room_closed", f"joinable-closed.{event_id}", room=name)

    async def _tell_room(self, room_id: str, text: str, txn: str) -> None:
        try:
            await self.say(room_id, text, txn)
        except Exception as exc:  # the admins hear it anyway
            log.warning("matrix: could not warn a room that anybody can join it now (%s)", exc)

    async def _tell_admins(self, key: str, txn: str, **values: str) -> None:
        """A direct message to the admins (or, where no admin has a Matrix account, the leads and the coordinator)."""
        people = self.settings.people
        admins = [p.matrix for p in people.values() if p.matrix and "admin" in p.roles]
        duty = self.settings.duty
        coordinator = people.get(duty.coordinator) if duty is not None and duty.coordinator else None
        fallback = [p.matrix for p in people.values() if p.matrix and "lead" in p.roles]
        if coordinator is not None and coordinator.matrix:
            fallback.append(coordinator.matrix)
        for user in dict.fromkeys(admins or fallback):
            try:
                room = await self.rooms.dm_room(user)
                await self.say(room, t(self.language_of(user), key, **values), f"{txn}.{user}")
            except Exception as exc:
                log.warning("matrix: could not tell an admin about a room's join rule (%s)", exc)
