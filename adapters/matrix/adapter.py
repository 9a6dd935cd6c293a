"""The Matrix adapter: delivers outbox messages to rooms.

Called by the outbox sender only, one message at a time. Each outbox row is one ``m.notice``
sent with ``room_send(..., tx_id=<row id>)``: when the bot resends a row after a crash, the
homeserver recognises the transaction and shows the message once. A row's files (the report's
chart) follow its text as ``m.image`` events, uploaded to the media repository first
(:meth:`MatrixAdapter._send_files`). A row of kind ``remove``
redacts a person's public message (the privacy move) where the bot's power level allows; where
it does not, the row fails permanently with a reason that names the power level to grant, and
the core says so in the ticket.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from collections.abc import Awaitable
from typing import Any

import structlog
from nio import (
    AsyncClient,
    MatrixRoom,
    RoomGetStateEventResponse,
    RoomRedactResponse,
    RoomSendResponse,
    UploadResponse,
)

from adapters.matrix import render
from adapters.matrix.client import MatrixError, check, delivery_error
from adapters.matrix.spaces import Rooms
from bot.core.clock import Clock
from bot.core.ports import DeliveryError, Ports, StatePort
from bot.core.types import Button, Capability, MessageKind, OutboundMessage, Platform, Removal
from bot.i18n import t
from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)

# no ephemeral messages (the core sends a DM instead), no modals, no buttons: every button set is shown as
# numbered choices, answered with the number or a reaction (render.choices_text, sync.choose); the bot's
# mentions of people are matrix.to pills (render.notice)
CAPABILITIES = frozenset({Capability.THREADS, Capability.REACTIONS, Capability.DMS, Capability.PRIVATE_ROOMS,
                          Capability.DELETE, Capability.CHOICES, Capability.SPACE_TOPICS, Capability.MENTIONS})
TXN_KEY = "matrix:txn-prefix"
CHOICES_KEY = "matrix:choices:{event}"
LAST_CHOICES_KEY = "matrix:choices-last:{room}"
ENCRYPTED_ROOM_WAIT = 2.0   # seconds before a message for a not yet synced encrypted room is tried again


class MatrixAdapter:
    platform = Platform.MATRIX
    capabilities = CAPABILITIES

    def __init__(self, settings: Settings, clock: Clock, client: AsyncClient) -> None:
        self.settings = settings
        self.clock = clock
        self.client = client
        self.user_id = settings.matrix.user_id or ""
        self.rooms = Rooms(client, settings)
        self.rooms.clock = clock
        self.state: StatePort | None = None   # the core's key-value store, set by bind()
        self.txn_prefix = ""
        # set by the sync loop while this replica holds the device's lease: with E2EE only it encrypts
        self.owns_device = False
        # (outbox row id, file position) → the mxc:// URI (and an encrypted upload's keys) of a file uploaded by an
        # attempt whose event did not go out
        self._uploaded: dict[tuple[int, int], tuple[str, dict[str, Any] | None]] = {}

    async def bind(self, ports: Ports) -> None:
        """Gives the adapter the core's ports once the bot is built (room mappings, transaction ids)."""
        self.state = ports.state
        self.rooms.state, self.rooms.tickets = ports.state, ports.tickets
        # transaction ids are "<prefix>.<outbox row id>": the prefix belongs to this database, so a
        # fresh database (whose row ids start at 1 again) never reuses an id the homeserver remembers
        async with self.state.write() as state:
            self.txn_prefix = await state.put_new(TXN_KEY, secrets.token_hex(4))

    def matrix_id_of(self, key: str) -> str | None:
        """The Matrix account of the ``[people]`` person ``key`` (whom the bot's mention of them pings)."""
        person = self.settings.people.get(key)
        return person.matrix if person is not None and person.matrix else None

    def language_of(self, user_id: str | None) -> str:
        key = self.settings.person_key_for("matrix", user_id) if user_id else None
        person = self.settings.people.get(key) if key else None
        return (person.language if person is not None else None) or self.settings.desk.language

    # ----------------------------------------------------------------- sending

    async def send(self, message: OutboundMessage) -> str | None:
        try:
            return await self._send(message)
        except Exception as exc:
            raise delivery_error(exc, where=self._where(message), user_id=self.user_id) from exc

    async def remove(self, removal: Removal) -> str | None:
        try:
            return await self._redact(removal)
        except Exception as exc:
            raise delivery_error(exc, where=self._where(removal), user_id=self.user_id) from exc

    def _where(self, message: OutboundMessage | Removal) -> str:
        target = message.target
        if target.kind == "ticket":
            return f"the private room of {target.ticket}"
        if target.kind in ("dm", "ephemeral"):
            return "a direct message"
        return target.channel_id or "?"

    async def room_for(self, message: OutboundMessage) -> str:
        target = message.target
        if target.kind in ("dm", "ephemeral"):  # no ephemeral messages on Matrix: a direct message instead
            if not target.user_id:
                raise DeliveryError("a direct message without a user", permanent=True)
            return await self.rooms.dm_room(target.user_id)
        if target.kind == "ticket":
            if not target.ticket:
                raise DeliveryError("a ticket message without a ticket", permanent=True)
            return await self.rooms.ticket_room(target.ticket)
        if not target.channel_id:
            raise DeliveryError("a channel message without a channel", permanent=True)
        room = await self.rooms.id_of(target.channel_id)
        opened = await self.rooms.opened(room)
        if opened is not None:  # a duty room anybody can join now: ticket titles must not go there
            raise DeliveryError(f"Matrix: anybody can join the room {target.channel_id} now ({opened}), so the bot "
                                "posts nothing there; make it invite-only (join rule \"invite\") again",
                                permanent=True)
        return room

    async def _space(self, message: OutboundMessage) -> str | None:
        """Closing a ticket's room (the goodbye, then the requester leaves), opening it again (invites), or its new
        name and topic."""
        ticket = message.target.ticket or ""
        if message.space == "topic":
            if not ticket:
                raise DeliveryError("a ticket room's topic without a ticket", permanent=True)
            return await self.rooms.retitle(ticket, message.name or ticket, message.text)
        room = await self.rooms.existing_ticket_room(ticket)
        if room is None:
            return None  # the ticket never had a room: nothing to close or open
        if message.space == "unarchive":
            await self.rooms.reopen_ticket_room(room, ticket)
            return room
        lang = self.language_of(None)
        event_id = await self.room_send(room, render.notice(render.clip(render.defuse(message.text),
                                                                        t(lang, "matrix.clipped"))),
                                        f"{self.txn_prefix}.{message.id}")
        await self.rooms.close_ticket_room(room, ticket)
        return event_id

    async def _send(self, message: OutboundMessage) -> str | None:
        if message.space is not None:
            return await self._space(message)
        setup: list[Awaitable[None]] = []
        if message.target.kind == "ticket" and message.target.ticket:
            room, setup = await self.rooms.prepare_ticket_room(message.target.ticket)
        else:
            room = await self.room_for(message)
        thread = message.target.thread_id if message.target.kind == "channel" else None
        mention = message.target.user_id if message.kind == MessageKind.PING else None
        lang = self.language_of(message.target.user_id)
        content = render.content(message, lang, thread_root=thread, mention=mention,
                                 prefix=self.settings.matrix.command_prefix, people=self.matrix_id_of)
        if message.updates is not None:  # changed in place: an edit of the bot's earlier message
            content = render.replacement(content, message.updates)
        # a ticket room's invites (and a spare room's name) go out together with the message: they are
        # independent requests, and the message is readable by whoever joins (history is shared)
        sent, *prepared = await asyncio.gather(self.room_send(room, content, f"{self.txn_prefix}.{message.id}"),
                                               *setup, return_exceptions=True)
        for outcome in prepared:
            if isinstance(outcome, BaseException):
                log.warning("matrix: setting up a ticket room failed, retried with its next message",
                            error=str(getattr(outcome, "reason", outcome)))
        if isinstance(sent, BaseException):
            raise sent
        event_id = str(sent)
        if message.updates is not None:
            # the numbers answer the message as it reads now: a choice no longer offered is no longer mapped
            await self.remember_choices(room, message.updates, message.buttons)
            return message.updates
        if message.buttons:
            await self.remember_choices(room, event_id, message.buttons)
        if message.files:
            await self._send_files(room, message)
        return event_id

    async def _send_files(self, room: str, message: OutboundMessage) -> None:
        """A message's files after its text, each uploaded to the media repository and sent as an ``m.image``
        with the transaction id ``<prefix>.<row id>.f<position>``: a retried row (its text's transaction is
        recognised too) shows each image once. A file uploaded by an attempt whose event failed is remembered and
        not uploaded again by the retry in this process; after a restart it is uploaded anew (the first copy
        stays in the media repository, unreferenced). In an encrypted room the file is encrypted before it is
        uploaded (``file`` instead of ``url``)."""
        for position, file in enumerate(message.files):
            key = (message.id, position)
            uploaded = self._uploaded.get(key)
            if uploaded is None:
                known = self.client.rooms.get(room)
                encrypt = self.client.olm is not None and known is not None and known.encrypted
                answer, keys = await self.client.upload(io.BytesIO(file.data), content_type=file.type,
                                                        filename=file.name, encrypt=encrypt,
                                                        filesize=len(file.data))
                uploaded = (str(check(answer, UploadResponse, "upload").content_uri), keys)
                if len(self._uploaded) > 1000:  # rows that were given up on: forget the oldest
                    self._uploaded.pop(next(iter(self._uploaded)))
                self._uploaded[key] = uploaded
            uri, keys = uploaded
            await self.room_send(room, render.file_content(file, uri, keys),
                                 f"{self.txn_prefix}.{message.id}.f{position}")
            self._uploaded.pop(key, None)

    async def room_send(self, room: str, content: dict[str, Any], txn: str) -> str:
        # ignore_unverified_devices: with E2EE the room key goes to every device of the room's members,
        # verified or not (trust on first use, as most bots do); the bot cannot verify anybody interactively
        if self.client.olm is not None:
            await self._can_encrypt(room)
        answer = await self.client.room_send(room, "m.room.message", content, tx_id=txn,
                                             ignore_unverified_devices=True)
        return str(check(answer, RoomSendResponse, "send").event_id)

    async def _can_encrypt(self, room: str) -> None:
        """With E2EE: only the replica that syncs (it holds the device's lease, its key store is the
        one the homeserver knows) sends into encrypted rooms; elsewhere such a message waits for it.
        nio only sends into rooms it has synced (it must know whether to encrypt): a room the bot has
        just created (ticket rooms and direct rooms are created unencrypted) is made known as
        unencrypted once the homeserver confirms that it is; an encrypted one waits for the sync
        that brings its members, who need the room key."""
        known = self.client.rooms.get(room)
        if known is not None and self.owns_device:
            return
        encrypted = known.encrypted if known is not None else await self._encrypted_on_server(room)
        if encrypted:
            raise DeliveryError("Matrix: an encrypted room, and this replica does not hold the bot's device; "
                                "retrying" if not self.owns_device else
                                "Matrix: an encrypted room the bot has not synced yet; retrying after the sync",
                                retry_after=ENCRYPTED_ROOM_WAIT)
        self.client.rooms.setdefault(room, MatrixRoom(room, self.user_id, encrypted=False))

    async def _encrypted_on_server(self, room: str) -> bool:
        answer = await self.client.room_get_state_event(room, "m.room.encryption")
        return isinstance(answer, RoomGetStateEventResponse) and bool(answer.content.get("algorithm"))

    async def _redact(self, removal: Removal) -> str | None:
        """Removes a person's public message (the privacy move) by redacting it."""
        event_id = removal.message_id
        if not removal.target.channel_id or not event_id:
            raise DeliveryError("a removal without a room or message", permanent=True)
        room = await self.rooms.id_of(removal.target.channel_id)
        answer = await self.client.room_redact(room, event_id, reason="moved into a private ticket",
                                               tx_id=f"{self.txn_prefix}.{removal.id}")
        try:
            check(answer, RoomRedactResponse, "redact")
        except MatrixError as exc:
            if exc.errcode == "M_FORBIDDEN":
                raise DeliveryError(self._no_redact_reason(room, removal.target.channel_id),
                                    permanent=True) from None
            if exc.errcode == "M_NOT_FOUND":  # already gone
                return event_id
            raise
        return event_id

    def _no_redact_reason(self, room_id: str, name: str) -> str:
        room = self.client.rooms.get(room_id)
        needed = 50
        if room is not None:
            needed = int(room.power_levels.defaults.redact)
        return (f"Matrix: the bot may not remove other people's messages in {name}: give {self.user_id} "
                f"a power level of at least {needed} there (Moderator)")

    # ----------------------------------------------------------------- numbered choices (buttons)

    async def remember_choices(self, room: str, event_id: str, buttons: tuple[Button, ...]) -> None:
        """Keeps a message's choices, so "2" (or the 2️⃣ reaction) in reply can be mapped to its button."""
        data = json.dumps({"room": room, "buttons": [b.model_dump() for b in buttons]})
        assert self.state is not None, "bind() comes before any message"
        async with self.state.write() as state:
            await state.put(CHOICES_KEY.format(event=event_id), data)
            await state.put(LAST_CHOICES_KEY.format(room=room), event_id)

    async def choices(self, room: str, event_id: str | None) -> tuple[str, list[Button]] | None:
        """The choices of ``event_id`` (a message replied or reacted to), else of the room's latest one."""
        assert self.state is not None, "bind() comes before any message"
        async with self.state.read() as state:
            if event_id is None:
                event_id = await state.get(LAST_CHOICES_KEY.format(room=room))
                if event_id is None:
                    return None
            data = await state.get(CHOICES_KEY.format(event=event_id))
        if data is None:
            return None
        parsed = json.loads(data)
        if parsed.get("room") != room:
            return None
        return event_id, [Button(**b) for b in parsed.get("buttons") or []]
