"""The Matrix test harness: the whole bot on a real Synapse, and people with their own nio clients.

Nothing runs in the background: ``settle()`` lets the bot sync until it has handled the events a
test waits for, then delivers the outbox, so tests never wait on timing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
)
from sqlalchemy import func, select
from synapse_server import Synapse

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.client import login, make_client
from adapters.matrix.runtime import MatrixRuntime
from bot.app import Bot, build
from bot.core.clock import VirtualClock
from bot.settings import Settings, settings_from_data
from storage.models import ProcessedEvent

START = datetime(2026, 11, 24, 14, 50, tzinfo=UTC)  # a Tuesday, 15:50 in Berlin
PASSWORD = "secret-password"
_SUFFIX = itertools.count(1)


def suffix() -> str:
    return f"{next(_SUFFIX)}{secrets.token_hex(2)}"


class Person:
    """A person on the homeserver with a plain matrix-nio client."""

    def __init__(self, synapse: Synapse, user_id: str) -> None:
        self.synapse = synapse
        self.user_id = user_id
        self.client = AsyncClient(synapse.url, user_id,
                                  config=AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False))
        self._txn = itertools.count(1)

    async def login(self) -> Person:
        answer = await self.client.login(PASSWORD)
        assert isinstance(answer, LoginResponse), answer
        await self.sync()
        return self

    async def close(self) -> None:
        await self.client.close()

    async def sync(self, timeout: int = 0) -> SyncResponse:
        answer = await self.client.sync(timeout=timeout, full_state=self.client.next_batch is None)
        assert isinstance(answer, SyncResponse), answer
        return answer

    async def create_room(self, *, alias: str | None = None, public: bool = False, invite: list[str] = (),
                          direct: bool = False, bot_power: dict[str, int] | None = None,
                          encrypted: bool = False) -> str:
        state = [{"type": "m.room.encryption", "state_key": "",
                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}}] if encrypted else []
        answer = await self.client.room_create(
            visibility=RoomVisibility.private, alias=alias, is_direct=direct, invite=list(invite),
            preset=RoomPreset.public_chat if public else (RoomPreset.trusted_private_chat if direct
                                                          else RoomPreset.private_chat),
            initial_state=state,
            power_level_override={"users": dict(bot_power)} if bot_power else None)
        assert isinstance(answer, RoomCreateResponse), answer
        return str(answer.room_id)

    async def join(self, room: str) -> None:
        answer = await self.client.join(room)
        assert isinstance(answer, JoinResponse), answer

    async def accept_invites(self) -> list[str]:
        """Joins every room this person is invited to; returns their ids."""
        answer = await self.sync()
        rooms = list(answer.rooms.invite)
        for room in rooms:
            await self.join(room)
        return rooms

    async def send(self, room: str, body: str, *, thread: str | None = None, reply_to: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": thread}}
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        answer = await self.client.room_send(room, "m.room.message", content)
        assert isinstance(answer, RoomSendResponse), answer
        return str(answer.event_id)

    async def react(self, room: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        answer = await self.client.room_send(room, "m.reaction", content)
        assert isinstance(answer, RoomSendResponse), answer
        return str(answer.event_id)

    async def timeline(self, room: str, limit: int = 100) -> list[dict[str, Any]]:
        """The room's messages, oldest first (raw event dicts)."""
        answer = await self.client.room_messages(room, start="", limit=limit)
        assert isinstance(answer, RoomMessagesResponse), answer
        return [e.source for e in reversed(answer.chunk)]

    async def from_bot(self, room: str, bot: str) -> list[dict[str, Any]]:
        return [e for e in await self.timeline(room) if e.get("sender") == bot and e.get("type") == "m.room.message"]

    async def event(self, room: str, event_id: str) -> dict[str, Any]:
        status, data = await self.raw("GET", f"/_matrix/client/v3/rooms/{room}/event/{event_id}")
        assert status == 200, data
        return data

    async def raw(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        response = await self.client.send(method, path, json.dumps(body) if body is not None else None,
                                          {"Authorization": f"Bearer {self.client.access_token}"})
        data = await response.json(content_type=None)
        return response.status, data


def desk_data(names: dict[str, str], sfx: str, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en"},
        "people": {
            "anna": {"name": "Anna", "roles": ["agent", "lead"], "matrix": names["anna"]},
            "carla": {"name": "Carla", "roles": ["agent", "coordinator"], "matrix": names["carla"]},
        },
        "channels": {"duty": [f"#duty-{sfx}"], "guarded": [f"#general-{sfx}"], "privacy_mode": "suggest"},
        "matrix": {"homeserver": "", "user_id": names["bot"], "device_id": "DUTYDESK"},
    }
    data.update(sections)
    return data


class MatrixHarness:
    """The bot (one sync at a time, driven by the test) and the people around it."""

    def __init__(self, synapse: Synapse, db_url: str, sfx: str) -> None:
        self.synapse = synapse
        self.db_url = db_url
        self.sfx = sfx
        self.names = {who: f"@{who}{sfx}:localhost" for who in ("bot", "anna", "carla", "rita", "ben")}
        self.people: dict[str, Person] = {}
        self.bots: list[tuple[Bot, MatrixRuntime]] = []
        self.bot: Bot
        self.runtime: MatrixRuntime
        self.settings: Settings
        self.clock = VirtualClock(START)

    @property
    def bot_id(self) -> str:
        return self.names["bot"]

    @property
    def adapter(self) -> MatrixAdapter:
        return self.runtime.adapter

    async def setup(self, *, duty_room: bool = True, **sections: Any) -> MatrixHarness:
        for user_id in self.names.values():
            self.synapse.register(user_id[1:].split(":")[0], PASSWORD)
        data = desk_data(self.names, self.sfx, **sections)
        data["matrix"]["homeserver"] = self.synapse.url
        self.settings = settings_from_data(data, "(matrix test desk)", env={"DUTYDESK_MATRIX__PASSWORD": PASSWORD})
        for who in ("anna", "carla", "rita", "ben"):
            self.people[who] = await Person(self.synapse, self.names[who]).login()
        await self.start_bot()
        if duty_room:
            self.duty = await self.room_with_bot("anna", name="duty", public=False, members=("carla",))
        return self

    async def start_bot(self, **client_options: Any) -> MatrixRuntime:
        """Logs the bot in (again: a restart uses the same database and device) and prepares it."""
        client = make_client(self.settings, **client_options)
        await login(client, self.settings)
        runtime = MatrixRuntime(MatrixAdapter(self.settings, self.clock, client))
        bot = await build(self.settings, self.clock, [runtime], db_url=self.db_url)
        ingress = await runtime.prepare(bot.ports)
        await bot.dispatcher.recover()
        await ingress.start()
        self.bot, self.runtime = bot, runtime
        self.bots.append((bot, runtime))
        return runtime

    async def stop_bot(self) -> None:
        for bot, runtime in self.bots:
            await runtime.close()
            await bot.close()
        self.bots.clear()

    async def close(self) -> None:
        await self.stop_bot()
        for person in self.people.values():
            await person.close()

    # ----------------------------------------------------------------- driving the bot

    async def seen(self, event_id: str) -> bool:
        async with self.bot.desk.sessions() as session:
            return bool(await session.scalar(select(func.count()).select_from(ProcessedEvent).where(
                ProcessedEvent.key == f"matrix:{event_id}")))

    async def settle(self, *event_ids: str, timeout: float = 15.0, until: Any = None) -> None:
        """Syncs until the bot has handled ``event_ids`` (or ``until()`` is true), then delivers the outbox."""
        deadline = time.monotonic() + timeout
        while True:
            await self.runtime.ingress.sync_once(timeout_ms=300)
            await self.bot.outbox.drain()
            pending = [e for e in event_ids if not await self.seen(e)]
            done = not pending and (until is None or await until())
            if done:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not handle {pending} in {timeout} s")

    async def bot_in(self, room: str, timeout: float = 10.0) -> None:
        """Lets the bot sync until it has joined ``room``."""
        async def joined() -> bool:
            return room in self.adapter.client.rooms

        await self.settle(until=joined, timeout=timeout)

    async def room_with_bot(self, who: str = "anna", *, name: str | None = None, public: bool = True,
                            bot_power: int | None = 50, encrypted: bool = False, members: tuple[str, ...] = ()
                            ) -> str:
        """A room ``who`` creates (alias ``#name-<sfx>``), the bot and ``members`` invited and joined."""
        person = self.people[who]
        room = await person.create_room(alias=f"{name}-{self.sfx}" if name else None, public=public,
                                        invite=[self.bot_id, *(self.names[m] for m in members)],
                                        bot_power={self.bot_id: bot_power} if bot_power else None,
                                        encrypted=encrypted)
        for member in members:
            await self.people[member].join(room)
        await self.bot_in(room)
        return room

    async def dm_with_bot(self, who: str) -> str:
        room = await self.people[who].create_room(direct=True, invite=[self.bot_id])
        await self.bot_in(room)
        return room

    async def wait_for(self, who: str, predicate: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = await predicate(self.people[who])
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{who} did not see what the test waits for")
            await asyncio.sleep(0.1)

    async def dm_room_of(self, who: str) -> str:
        """The direct room the bot opened with ``who`` (from the bot's database), joined by ``who``."""
        room = await self.adapter.rooms.dm_room(self.names[who])
        await self.people[who].accept_invites()
        return room
