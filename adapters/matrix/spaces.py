"""Rooms the Matrix adapter knows: the config's channels (``#support-duty`` ↔ ``!abc``), people's
direct rooms, and tickets' private rooms.

A ticket's private space is an invite-only room (preset ``private_chat``, not in the directory)
set up when the first message for the ticket is sent, with the requester, the assignee and the
listed members invited (again whenever a message goes there, so a new assignee joins too). Only the
bot (power 100) and the support team (50) may invite there and change its name, topic and power
levels: a requester (0) can talk, but can neither bring anybody into their ticket nor rename it (a
room made before this rule gets it the next time a message goes there). The room's name and topic
(``HW-42 · VPN drops``; state, priority, assignee, SLA due time) come from the core whenever their
text changes (bot/tickets/space.py) and are set only where they differ from what the room shows.
Creating a room costs a homeserver far more than a message, and a receipt waits behind its
ticket's first message in the outbox, so a few spare rooms (only the bot in them) are created
ahead of time (``matrix:spare:!abc``); a new ticket takes one, names it and invites its people.
Mappings live in the core's key-value store (the ``state`` port): ``matrix:space:HW-1`` → room id,
``matrix:room:!abc`` → HW-1, ``matrix:dm:@ann:x`` → room id and ``matrix:dmroom:!abc`` → user id.

The desk's Space (``[matrix] space``: true, or an alias) is created once (``matrix:desk-space`` → its room
id, so a restart finds it again); each ticket room becomes its child (``m.space.child`` in the Space,
``m.space.parent`` in the room) when it is assigned to its ticket, and the ticket's team is invited to it.
A requester is never invited to the Space.

Closing lets the requester go (kicked with the reason), the team keeps the room. To stay below a
homeserver's room limits the bot stays in at most ``[matrix] closed_rooms`` closed rooms
(``matrix:closed:<closing time>:HW-1`` → room id): beyond, it leaves and forgets the longest closed ones
and drops their mapping, so reopening such a ticket opens a new room (the history is in the database).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

import structlog
from nio import (
    AsyncClient,
    JoinResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomInviteResponse,
    RoomKickResponse,
    RoomPreset,
    RoomPutStateResponse,
    RoomResolveAliasResponse,
)
from nio import RoomVisibility as Visibility

from adapters.common import configured_channels
from adapters.matrix.client import MatrixError, check, delivery_error, q, raw, server_of
from bot.core.clock import Clock
from bot.core.ports import DeliveryError, StatePort, TicketReads
from bot.core.types import Platform
from bot.i18n import t
from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)

SPACE_KEY = "matrix:space:{ticket}"
ROOM_KEY = "matrix:room:{room}"
DM_KEY = "matrix:dm:{user}"
DM_ROOM_KEY = "matrix:dmroom:{room}"
POOL_KEY = "matrix:spare:{room}"
DESK_SPACE_KEY = "matrix:desk-space"
CLOSED_PREFIX = "matrix:closed:"
CLOSED_KEY = "matrix:closed:{at:015d}:{ticket}"    # a closed ticket's room the bot is still in, by closing time
CLOSED_OF_KEY = "matrix:closed-of:{ticket}"        # → its CLOSED_KEY (so a reopening finds it)
JOINABLE_KEY = "matrix:joinable:{room}"   # a duty or access room anybody can join now → why (adapters/matrix/guard.py)
POOL_PREFIX = "matrix:spare:"
CACHE = 10_000
POOL_SIZE = 2
TEAM_POWER = 50      # the support team's power level in a ticket's room, and the level needed to invite
# what only the bot and the team may change in a ticket's room (every other state event needs the
# preset's state_default, 50, too)
TEAM_EVENTS = ("m.room.name", "m.room.topic", "m.room.power_levels")


def team_powers() -> dict[str, Any]:
    """The power levels of a new ticket room besides its users: the team's level to invite and to change what the
    room is (its name, topic and power levels)."""
    return {"invite": TEAM_POWER, "state_default": TEAM_POWER, "events": {event: TEAM_POWER for event in TEAM_EVENTS}}


def lacks_team_powers(content: dict[str, Any]) -> bool:
    """Whether power levels ``content`` let somebody below the team invite or change the room's name, topic or
    power levels."""
    events = content.get("events") or {}
    state_default = int(content.get("state_default", 50))
    return int(content.get("invite", 0)) < TEAM_POWER or any(
        int(events.get(event, state_default)) < TEAM_POWER for event in TEAM_EVENTS)


class Rooms:
    def __init__(self, client: AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.user_id = settings.matrix.user_id or ""
        self.server = server_of(self.user_id)
        self.state: StatePort | None = None       # the core's ports, set when the adapter is bound
        self.tickets: TicketReads | None = None
        channels = settings.channels
        self.configured = {name for name in configured_channels(channels, "matrix") if name.startswith(("#", "!"))}
        self._by_name: dict[str, str] = {}
        self._by_room: dict[str, str] = {}
        self._tickets: OrderedDict[str, str | None] = OrderedDict()
        self._spaces: dict[str, str] = {}
        self._dm_users: OrderedDict[str, str | None] = OrderedDict()
        self._dms: dict[str, str] = {}
        self._invited: dict[str, set[str]] = {}
        self._powered: dict[str, set[str]] = {}   # room → team members known to have TEAM_POWER there
        self.pool_size = POOL_SIZE
        self._refill: asyncio.Task[None] | None = None
        self._desk_space: str | None = None
        self._space_lock = asyncio.Lock()
        self._in_space: dict[str, set[str]] = {}   # the desk's Space → people invited to it (this process)
        self.clock: Clock | None = None             # the desk's clock (closing times), set by the adapter

    # ----------------------------------------------------------------- configured channels

    def alias(self, name: str) -> str:
        """``#general`` → ``#general:<the bot's server>``; full aliases and room ids stay as they are."""
        if name.startswith("#") and ":" not in name:
            return f"{name}:{self.server}"
        return name

    async def refresh(self) -> None:
        """Resolves the config's room aliases not resolved yet (a missing one is logged, and retried when
        the bot joins a room or a message goes there)."""
        for name in sorted(self.configured - set(self._by_name)):
            try:
                await self.id_of(name)
            except DeliveryError as exc:
                log.warning("matrix: configured room unusable", room=name, reason=exc.reason)

    def name_of(self, room_id: str) -> str:
        """The config's name for a room (``#general``), else the room id."""
        return self._by_room.get(room_id, room_id)

    def is_configured(self, room_id: str) -> bool:
        return room_id in self._by_room

    async def id_of(self, name_or_id: str) -> str:
        """The room id of a config name or alias; ids pass through. A permanent DeliveryError when unknown."""
        if name_or_id.startswith("!"):
            return name_or_id
        room = self._by_name.get(name_or_id)
        if room is not None:
            return room
        alias = self.alias(name_or_id)
        try:
            answer = check(await self.client.room_resolve_alias(alias), RoomResolveAliasResponse, "resolve alias")
        except MatrixError as exc:
            if exc.errcode == "M_NOT_FOUND":
                raise DeliveryError(f"Matrix: no room with the alias {alias}: create it and invite {self.user_id}, "
                                    "or fix the name under [channels] in the config", permanent=True) from None
            raise delivery_error(exc, where=alias, user_id=self.user_id) from exc
        room = str(answer.room_id)
        self._by_name[name_or_id] = room
        if name_or_id in self.configured:
            self._by_room[room] = name_or_id
        return room

    async def opened(self, room_id: str) -> str | None:
        """Why anybody can join the duty or access room ``room_id`` now (a replica saw its join rule change);
        None while it is invite-only."""
        if self.state is None:
            return None
        async with self.state.read() as state:
            return await state.get(JOINABLE_KEY.format(room=room_id))

    async def mark_opened(self, room_id: str, why: str | None) -> None:
        """Records that anybody can join ``room_id`` (``why``), or that it is invite-only again (None)."""
        assert self.state is not None
        async with self.state.write() as state:
            if why is None:
                await state.remove(JOINABLE_KEY.format(room=room_id))
            else:
                await state.put(JOINABLE_KEY.format(room=room_id), why)

    # ----------------------------------------------------------------- tickets' rooms

    def _remember(self, cache: OrderedDict[str, str | None], key: str, value: str | None) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHE:
            cache.popitem(last=False)

    async def ticket_of(self, room_id: str) -> str | None:
        """The ticket whose private room ``room_id`` is, if any (remembered, so usually no query)."""
        if room_id in self._tickets:
            return self._tickets[room_id]
        if self.state is None:
            return None
        async with self.state.read() as state:
            ticket = await state.get(ROOM_KEY.format(room=room_id))
        self._remember(self._tickets, room_id, ticket)
        if ticket is not None:
            self._spaces[ticket] = room_id
        return ticket

    async def ticket_room(self, ticket_key: str) -> str:
        """The ticket's private room, created on first use, with its people invited."""
        room, setup = await self.prepare_ticket_room(ticket_key)
        await asyncio.gather(*setup)
        return room

    async def prepare_ticket_room(self, ticket_key: str) -> tuple[str, list[Awaitable[None]]]:
        """The ticket's room, and what is left to set it up (naming a spare room, invites): independent
        requests the caller runs together with its message."""
        assert self.state is not None, "Rooms.state is set when the adapter is bound to the core"
        async with self.state.read() as state:
            room = self._spaces.get(ticket_key) or await state.get(SPACE_KEY.format(ticket=ticket_key))
        assert self.tickets is not None
        found = [(m, staff) for m, staff in await self.tickets.members(ticket_key, Platform.MATRIX)
                 if m != self.user_id]
        members = [m for m, _staff in found]
        team = [m for m, staff in found if staff]
        setup: list[Awaitable[None]] = []
        if room is None:
            room = await self._take_spare(ticket_key)
            if room is not None:
                setup.append(self._name(room, ticket_key))
            else:
                room = await self._create_ticket_room(ticket_key, members)
            self.refill_soon()
            setup.append(self.add_to_space(room, team))
        self._remember(self._tickets, room, ticket_key)
        self._spaces[ticket_key] = room
        setup.append(self.invite(room, members, team))
        return room, setup

    async def existing_ticket_room(self, ticket_key: str) -> str | None:
        """The ticket's room if it has one (none is created)."""
        assert self.state is not None, "Rooms.state is set when the adapter is bound to the core"
        async with self.state.read() as state:
            return self._spaces.get(ticket_key) or await state.get(SPACE_KEY.format(ticket=ticket_key))

    async def close_ticket_room(self, room: str, ticket_key: str) -> None:
        """The ticket is closed: whoever is not on the team (the requester) leaves its room; the team keeps it and
        its history. Reopening invites them again (:meth:`reopen_ticket_room`)."""
        assert self.tickets is not None
        for user, staff in await self.tickets.members(ticket_key, Platform.MATRIX):
            if staff or user == self.user_id:
                continue
            answer = await self.client.room_kick(room, user, reason=t(self.settings.desk.language, "matrix.closed",
                                                                      key=ticket_key))
            if not isinstance(answer, RoomKickResponse):
                log.info("matrix: could not let a requester leave a closed ticket's room",
                         error=str(getattr(answer, "status_code", answer)))
            self._invited.get(room, set()).discard(user)
        await self._keep_closed(room, ticket_key)

    async def reopen_ticket_room(self, room: str, ticket_key: str) -> None:
        assert self.tickets is not None and self.state is not None
        async with self.state.write() as state:
            key = await state.get(CLOSED_OF_KEY.format(ticket=ticket_key))
            if key is not None:
                await state.remove(key)
                await state.remove(CLOSED_OF_KEY.format(ticket=ticket_key))
        found = [(m, staff) for m, staff in await self.tickets.members(ticket_key, Platform.MATRIX)
                 if m != self.user_id]
        await self.invite(room, [m for m, _ in found], [m for m, staff in found if staff])

    async def _keep_closed(self, room: str, ticket_key: str) -> None:
        """Notes the closed room; beyond ``[matrix] closed_rooms`` the bot leaves the longest closed ones."""
        assert self.state is not None
        keep = self.settings.matrix.closed_rooms
        at = int(self.clock.now().timestamp() * 1000) if self.clock is not None else 0
        async with self.state.write() as state:
            earlier = await state.get(CLOSED_OF_KEY.format(ticket=ticket_key))
            if earlier is not None:
                await state.remove(earlier)
            key = CLOSED_KEY.format(at=at, ticket=ticket_key)
            await state.put(key, room)
            await state.put(CLOSED_OF_KEY.format(ticket=ticket_key), key)
            closed = await state.keys_with_prefix(CLOSED_PREFIX, limit=keep + 50)
            gone = closed[:max(len(closed) - keep, 0)]
            rooms = await state.get_many(gone) if gone else {}
            for old in gone:
                ticket = old.rsplit(":", 1)[1]
                await state.remove(old)
                await state.remove(CLOSED_OF_KEY.format(ticket=ticket))
                await state.remove(SPACE_KEY.format(ticket=ticket))
                await state.remove(ROOM_KEY.format(room=rooms.get(old, "")))
        for old in gone:
            ticket, left = old.rsplit(":", 1)[1], rooms.get(old)
            self._spaces.pop(ticket, None)
            if left is None:
                continue
            self._tickets.pop(left, None)
            self._invited.pop(left, None)
            self._powered.pop(left, None)
            await self._leave(left, ticket)

    async def _leave(self, room: str, ticket_key: str) -> None:
        """Leaves and forgets a closed ticket's room (best effort: the mapping is gone either way)."""
        try:
            await self.client.room_leave(room)
            await self.client.room_forget(room)
            log.info("matrix: left the room of a long closed ticket", ticket=ticket_key)
        except Exception as exc:
            log.info("matrix: could not leave a closed ticket's room", ticket=ticket_key, error=type(exc).__name__)

    # ----------------------------------------------------------------- the desk's Space

    async def desk_space(self) -> str | None:
        """The desk's Space (``[matrix] space``), created on first use and then found again; None when off."""
        setting = self.settings.matrix.space
        if setting is False:
            return None
        if self._desk_space is not None:
            return self._desk_space
        assert self.state is not None
        async with self._space_lock:
            if self._desk_space is not None:
                return self._desk_space
            async with self.state.read() as state:
                space = await state.get(DESK_SPACE_KEY)
            if space is None:
                space = await self._find_or_create_space(setting)
                async with self.state.write() as state:
                    winner = await state.put_new(DESK_SPACE_KEY, space)
                if winner != space:   # another replica made one first: use it, drop ours
                    await self._leave(space, "the desk's Space")
                    space = winner
            self._desk_space = space
            return space

    async def _find_or_create_space(self, setting: bool | str) -> str:
        name = self.settings.desk.name
        alias = self.alias(setting) if isinstance(setting, str) else None
        if alias is not None:
            answer = await self.client.room_resolve_alias(alias)
            if isinstance(answer, RoomResolveAliasResponse):
                room = str(answer.room_id)
                joined = await self.client.join(room)
                if not isinstance(joined, JoinResponse):
                    raise DeliveryError(f"Matrix: the bot cannot join the desk's Space {alias}: invite "
                                        f"{self.user_id} there with power 50 or more", permanent=True)
                return room
        created = await self.client.room_create(
            visibility=Visibility.private, name=name, preset=RoomPreset.private_chat, space=True,
            alias=alias.removeprefix("#").split(":")[0] if alias else None, power_level_override=team_powers(),
            topic=t(self.settings.desk.language, "matrix.desk_space", desk=name))
        try:
            return str(check(created, RoomCreateResponse, "create the desk's Space").room_id)
        except MatrixError as exc:
            raise delivery_error(exc, where="the desk's Space", user_id=self.user_id) from exc

    async def add_to_space(self, room: str, team: list[str]) -> None:
        """The ticket room becomes a child of the desk's Space; the ticket's team is invited to the Space."""
        space = await self.desk_space()
        if space is None:
            return
        via = {"via": [self.server]}
        for where, event, key in ((space, "m.space.child", room), (room, "m.space.parent", space)):
            answer = await self.client.room_put_state(where, event, {**via, **({"canonical": True}
                                                                               if event == "m.space.parent" else {})},
                                                      state_key=key)
            if not isinstance(answer, RoomPutStateResponse):
                log.warning("matrix: could not link a ticket room and the desk's Space", kind=event,
                            error=str(getattr(answer, "status_code", answer)))
        await self.invite_to_space(team)

    async def invite_to_space(self, team: list[str]) -> None:
        """Invites the team members not in the desk's Space yet (requesters never)."""
        space = await self.desk_space() if team else None
        if space is None:
            return
        invited = self._in_space.setdefault(space, set())
        joined = self.client.rooms.get(space)
        for user in team:
            if user in invited or (joined is not None and user in joined.users):
                continue
            answer = await self.client.room_invite(space, user)
            if not isinstance(answer, RoomInviteResponse):
                log.info("matrix: could not invite a team member to the desk's Space",
                         error=str(getattr(answer, "status_code", answer)))
            invited.add(user)

    async def retitle(self, ticket_key: str, name: str, topic: str) -> str | None:
        """Gives the ticket's room (created if it has none yet, unless the ticket is closed) the name and topic, each
        only where it differs from what the room shows. Returns the room."""
        if await self.existing_ticket_room(ticket_key) is None:
            assert self.tickets is not None
            summary = await self.tickets.summary(ticket_key, Platform.MATRIX)
            if summary is None or summary.state == "closed":
                return None   # a closed ticket whose room the bot left: no new room for a topic
        room = await self.ticket_room(ticket_key)
        shown = self.client.rooms.get(room)
        for event, key, value in (("m.room.name", "name", name), ("m.room.topic", "topic", topic)):
            if shown is not None and getattr(shown, key, None) == value:
                continue
            answer = await self.client.room_get_state_event(room, event)
            if isinstance(answer, RoomGetStateEventResponse) and answer.content.get(key) == value:
                continue
            try:
                check(await self.client.room_put_state(room, event, {key: value}), RoomPutStateResponse, f"set {key}")
            except MatrixError as exc:
                raise delivery_error(exc, where=f"the private room of {ticket_key}", user_id=self.user_id) from exc
        return room

    async def _name(self, room: str, ticket_key: str) -> None:
        name = t(self.settings.desk.language, "matrix.ticket_room", key=ticket_key)
        answer = await self.client.room_put_state(room, "m.room.name", {"name": name})
        if not isinstance(answer, RoomPutStateResponse):
            log.info("matrix: could not name a ticket room", error=str(getattr(answer, "status_code", answer)))

    async def _create_ticket_room(self, ticket_key: str, members: list[str]) -> str:
        name = t(self.settings.desk.language, "matrix.ticket_room", key=ticket_key)
        room = await self._create_room(name, members, where=f"the private room of {ticket_key}")
        self._invited[room] = set(members)
        return await self._assign(ticket_key, room)

    async def _create_room(self, name: str, members: list[str], *, where: str) -> str:
        # only the level to invite: the team's own levels are added by _secure, which keeps the users the
        # server put there (the creator is listed in older room versions and must not be from version 12 on)
        answer = await self.client.room_create(visibility=Visibility.private, name=name, preset=RoomPreset.private_chat,
                                               invite=members, power_level_override=team_powers())
        try:
            created = check(answer, RoomCreateResponse, "create a ticket room")
        except MatrixError as exc:
            raise delivery_error(exc, where=where, user_id=self.user_id) from exc
        self._powered[str(created.room_id)] = set()
        return str(created.room_id)

    async def _secure(self, room: str, team: list[str]) -> None:
        """Only the bot and the team may invite into the room and change its name, topic and power levels, and every
        team member of the ticket may: the room's power levels are raised where they fall short (once per room and
        process, and for new team members)."""
        known = self._powered.get(room)
        if known is not None and known.issuperset(team):
            return
        answer = await self.client.room_get_state_event(room, "m.room.power_levels")
        content: dict[str, Any] = dict(getattr(answer, "content", None) or {})
        if not isinstance(answer, RoomGetStateEventResponse) or not content:
            log.warning("matrix: cannot read the power levels of a ticket room (%s)",
                        getattr(answer, "status_code", answer))
            return
        users = dict(content.get("users") or {})
        short = [user for user in team if int(users.get(user, content.get("users_default", 0))) < TEAM_POWER]
        if lacks_team_powers(content) or short:
            events = dict(content.get("events") or {})
            state_default = int(content.get("state_default", 50))
            content.update(invite=max(int(content.get("invite", 0)), TEAM_POWER),
                           events={**events, **{event: max(int(events.get(event, state_default)), TEAM_POWER)
                                                for event in TEAM_EVENTS}},
                           users={**users, **{user: TEAM_POWER for user in short}})
            put = await self.client.room_put_state(room, "m.room.power_levels", content)
            if not isinstance(put, RoomPutStateResponse):
                log.warning("matrix: cannot set the power levels of a ticket room (%s)",
                            getattr(put, "status_code", put))
                return
        self._powered[room] = {*(known or ()), *team}

    async def _assign(self, ticket_key: str, room: str) -> str:
        """Saves the mapping; when another replica was faster, its room wins."""
        assert self.state is not None
        async with self.state.write() as state:
            winner = await state.put_new(SPACE_KEY.format(ticket=ticket_key), room)
            await state.put_new(ROOM_KEY.format(room=room), ticket_key)
        if winner != room:
            log.warning("matrix: two private rooms for a ticket, using the first", ticket=ticket_key)
        return winner

    # ----------------------------------------------------------------- spare rooms

    async def _take_spare(self, ticket_key: str) -> str | None:
        """A spare room for the ticket (claimed by deleting its row, so two replicas never share one)."""
        assert self.state is not None
        async with self.state.read() as state:
            spares = await state.keys_with_prefix(POOL_PREFIX, limit=5)
        for key in spares:
            async with self.state.write() as state:
                if not await state.take(key):
                    continue
            return await self._assign(ticket_key, key.removeprefix(POOL_PREFIX))
        return None

    def refill_soon(self) -> None:
        """Tops the spare rooms up in the background (not while a delivery waits)."""
        if self.pool_size <= 0 or (self._refill is not None and not self._refill.done()):
            return
        self._refill = asyncio.get_running_loop().create_task(self.refill(), name="matrix-spare-rooms")

    async def refill(self) -> None:
        try:
            assert self.state is not None
            async with self.state.read() as state:
                have = len(await state.keys_with_prefix(POOL_PREFIX, limit=self.pool_size))
            for _ in range(self.pool_size - have):
                room = await self._create_room(t(self.settings.desk.language, "matrix.spare_room"), [],
                                               where="a spare ticket room")
                async with self.state.write() as state:
                    await state.put(POOL_KEY.format(room=room), "1")
        except Exception as exc:  # spare rooms are an optimisation: tickets create their rooms themselves
            log.info("matrix: could not create spare ticket rooms", error=str(getattr(exc, "reason", exc)))

    async def close(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            await asyncio.gather(self._refill, return_exceptions=True)

    async def invite(self, room: str, members: list[str], team: list[str]) -> None:
        """Invites the ticket's people (``team``: those of them on the support team) who are not in the room, and the
        team to the desk's Space."""
        await self._secure(room, team)
        await self.invite_to_space(team)
        invited = self._invited.setdefault(room, set())
        joined = self.client.rooms.get(room)
        for user in members:
            if user in invited or (joined is not None and user in joined.users):
                continue
            answer = await self.client.room_invite(room, user)
            if not isinstance(answer, RoomInviteResponse):
                code = str(getattr(answer, "status_code", "") or "")
                message = str(getattr(answer, "message", "") or "")
                if code == "M_LIMIT_EXCEEDED":
                    raise delivery_error(MatrixError("invite", code, message,
                                                     retry_after_ms=getattr(answer, "retry_after_ms", None)))
                # already in the room, or a person the homeserver does not know: log it and go on
                log.info("matrix: could not invite a member to a ticket room", code=code, error=message)
            invited.add(user)

    # ----------------------------------------------------------------- direct rooms

    async def dm_user(self, room_id: str) -> str | None:
        """The person whose direct room with the bot ``room_id`` is, if it is one."""
        if room_id in self._dm_users:
            return self._dm_users[room_id]
        if self.state is None:
            return None
        async with self.state.read() as state:
            user = await state.get(DM_ROOM_KEY.format(room=room_id))
        self._remember(self._dm_users, room_id, user)
        return user

    async def remember_dm(self, room_id: str, user_id: str) -> None:
        """A direct room a person opened with the bot (an invite with ``is_direct``)."""
        assert self.state is not None
        async with self.state.write() as state:
            await state.put(DM_ROOM_KEY.format(room=room_id), user_id)
            room = await state.put_new(DM_KEY.format(user=user_id), room_id)
        self._remember(self._dm_users, room_id, user_id)
        self._dms[user_id] = room
        await self._mark_direct(user_id, room_id)

    async def forget_dm(self, room_id: str) -> str | None:
        """The person left their direct room: the bot leaves it too and opens a new one the next time it
        writes to them (a message into a room they left would never reach them). Returns the person."""
        user = await self.dm_user(room_id)
        if user is None:
            return None
        assert self.state is not None
        async with self.state.write() as state:
            await state.remove(DM_ROOM_KEY.format(room=room_id))
            if await state.get(DM_KEY.format(user=user)) == room_id:
                await state.remove(DM_KEY.format(user=user))
        self._dm_users.pop(room_id, None)
        if self._dms.get(user) == room_id:
            del self._dms[user]
        try:
            await self.client.room_leave(room_id)
        except Exception as exc:  # the mapping is gone either way; an unleft room only costs a sync entry
            log.info("matrix: could not leave a direct room the person left", error=type(exc).__name__)
        return user

    async def dm_room(self, user_id: str) -> str:
        """The bot's direct room with a person, created (``is_direct``, ``trusted_private_chat``) on first use."""
        room = self._dms.get(user_id)
        if room is not None:
            return room
        assert self.state is not None
        async with self.state.read() as state:
            room = await state.get(DM_KEY.format(user=user_id))
        if room is None:
            answer = await self.client.room_create(visibility=Visibility.private, is_direct=True,
                                                   preset=RoomPreset.trusted_private_chat, invite=[user_id])
            try:
                created = check(answer, RoomCreateResponse, "create a direct room")
            except MatrixError as exc:
                raise delivery_error(exc, where="a direct message", user_id=self.user_id) from exc
            async with self.state.write() as state:
                room = await state.put_new(DM_KEY.format(user=user_id), str(created.room_id))
                await state.put(DM_ROOM_KEY.format(room=str(created.room_id)), user_id)
            await self._mark_direct(user_id, str(created.room_id))
        self._dms[user_id] = room
        self._remember(self._dm_users, room, user_id)
        return room

    async def _mark_direct(self, user_id: str, room_id: str) -> None:
        """Adds the room to the bot's ``m.direct`` account data (nio has no helper; best effort)."""
        path = f"/_matrix/client/v3/user/{q(self.user_id)}/account_data/m.direct"
        try:
            status, current = await raw(self.client, "GET", path)
            direct = current if status == 200 else {}
            rooms = list(direct.get(user_id) or [])
            if room_id not in rooms:
                direct[user_id] = [*rooms, room_id]
                await raw(self.client, "PUT", path, direct)
        except Exception as exc:  # only a hint for clients; the database mapping is what counts
            log.info("matrix: could not update m.direct", error=type(exc).__name__)
