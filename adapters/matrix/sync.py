"""The sync loop: Matrix events in, core events to the inbox, the sync token checkpointed.

Each ``/sync`` batch is handled in order, one event at a time: ``inbox.handle_redelivered``
(the inbox row and the work in one commit). Only when the whole batch is handled is its
``next_batch`` token written to the core's key-value store (the ``state`` port). A crash in the
middle of a batch replays that batch from the old token after the restart; the events handled
before the crash are duplicates by their event id and are dropped by the inbox, and the events
after it are handled then, so none is handled twice and none is skipped. A gap in a room's
timeline (``limited``) is filled from ``/messages``.

On the very first start the backlog is discarded: one sync with a one-event timeline, whose
token is kept and whose events are not handled. Events in a room from before the bot joined it
are not handled either.

With end-to-end encryption on (``[matrix] e2ee``), nio decrypts the batch's ``m.room.encrypted``
events while it parses the sync answer and puts the decrypted events into the timeline in their
place; their ``source`` is the decrypted event (type, content, and the event id, sender and time of
the encrypted one), so everything below reads it like a plain event. What stays encrypted had no
room key for this device: it is logged, and the sender is asked once per room and key session to
send it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Mapping
from typing import Any

import structlog
from nio import (
    AsyncClient,
    EncryptionError,
    InviteMemberEvent,
    JoinResponse,
    MegolmEvent,
    MessageDirection,
    RoomGetEventResponse,
    RoomMessagesResponse,
    SyncResponse,
)
from nio.api import RelationshipType

from adapters.matrix import convert, render
from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.client import MatrixError, check, reread_store, server_of, share_keys
from adapters.matrix.forms import Forms
from adapters.matrix.groups import MatrixGroups
from adapters.matrix.guard import RoomGuard
from bot.core.ports import Backoff, Ports, supervise
from bot.core.types import (
    MOVE_ACTION,
    TICKET_FORM_ID,
    TICKET_REACTIONS,
    ChannelRef,
    InboundEvent,
    Platform,
    ThreadMessage,
)
from bot.i18n import t
from bot.settings import E2E_INSTALL

log = structlog.stdlib.get_logger(__name__)


def _retry_after(exc: Exception) -> float | None:
    """A rate-limited sync waits as long as the homeserver asks."""
    return exc.retry_after_ms / 1000 if isinstance(exc, MatrixError) and exc.retry_after_ms else None

TOKEN_KEY = "matrix:sync:{user}"
WARNED_KEY = "matrix:e2ee-warned:{room}"
UNDECRYPTABLE_KEY = "matrix:e2ee-undecryptable:{digest}"   # one notice per room, sender and key session
SYNC_TIMEOUT_MS = 30_000
TIMELINE_LIMIT = 50
GAP_PAGES = 20
THREAD_TIMEOUT = 5.0
BACKOFF_MAX = 60.0
REPLY_WAIT = 0.2  # seconds the next /sync waits for the batch's replies at most
SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": TIMELINE_LIMIT}}, "presence": {"not_types": ["*"]}}
FIRST_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 1}}, "presence": {"not_types": ["*"]}}


class MatrixIngress:
    """Turns ``/sync`` batches into core events and checkpoints the sync token after each batch."""

    def __init__(self, ports: Ports, adapter: MatrixAdapter, *, e2ee: bool | None = None) -> None:
        self.ports = ports
        self.adapter = adapter
        self.client: AsyncClient = adapter.client
        self.rooms = adapter.rooms
        self.settings = ports.settings
        self.clock = ports.clock
        self.inbox = ports.inbox
        self.state = ports.state
        self.user_id = adapter.user_id
        self.prefix = self.settings.matrix.command_prefix
        self.allowed = {server_of(self.user_id), *self.settings.matrix.allowed_servers}
        # E2EE is on when the client opened its crypto store (adapters.matrix.client.login)
        self.e2ee = adapter.client.olm is not None if e2ee is None else e2ee
        self.token: str | None = None
        self.resumed = False
        self.handled = 0
        self.forms = Forms(ports.state, self._say, ports.form, informal=not self.settings.desk.formal)
        self.groups = MatrixGroups(self.client, self.rooms, ports, self.user_id)
        self.guard = RoomGuard(self.client, self.rooms, self.groups, self.settings, self._say_plain,
                               adapter.language_of)

    @property
    def token_key(self) -> str:
        return TOKEN_KEY.format(user=self.user_id)

    def now(self):
        return self.clock.now()

    # ----------------------------------------------------------------- the loop

    async def load_token(self) -> str | None:
        async with self.state.read() as store:
            self.token = await store.get(self.token_key)
        return self.token

    async def store_token(self, token: str) -> None:
        async with self.state.write() as store:
            await store.put(self.token_key, token)
        self.token = token

    async def start(self) -> None:
        """Loads the stored token; on the very first start, syncs once and keeps only the token."""
        reread_store(self.client)
        self.adapter.owns_device = True   # the device's sync (and with E2EE its keys) is ours from now on
        if await self.load_token() is not None:
            return
        await share_keys(self.client)
        answer = check(await self.client.sync(timeout=0, sync_filter=FIRST_FILTER, full_state=True),
                       SyncResponse, "first sync")
        await self.handle_invites(answer)
        await self.store_token(answer.next_batch)
        self.resumed = True
        log.warning("matrix: first start, the backlog before now is not handled")

    async def sync_once(self, timeout_ms: int = SYNC_TIMEOUT_MS) -> SyncResponse:
        """One ``/sync`` from the stored token: handle every event, then store the new token."""
        if self.token is None:
            await self.start()
            self.groups.synced = not self.groups.watched   # a (new) tenure of the device: read the rooms again
        if not self.groups.synced:
            await self.groups.sync_all()   # [access] matrix_rooms: read in full at start, after a failure
        await share_keys(self.client)   # our keys are on the server before anybody encrypts for us
        answer = check(await self.client.sync(timeout=timeout_ms, since=self.token, sync_filter=SYNC_FILTER,
                                              full_state=not self.resumed),
                       SyncResponse, "sync")
        await share_keys(self.client)   # new devices in the batch get the room keys of the replies to it
        await self.handle_batch(answer)
        await self.store_token(answer.next_batch)
        self.resumed = True
        self.ports.health.synced("matrix", self.clock.now())  # /healthz: last_sync
        return answer

    async def run(self) -> None:
        """Syncs until cancelled; failures back off from 1 s doubling to 60 s (longer when the server asks)."""

        async def one_pass() -> float:
            try:
                await self.sync_once()
            except Exception:
                self.groups.synced = not self.groups.watched   # membership changes may have been missed
                raise
            # as a bot that answers before it syncs again: a long-poll /sync pending at the homeserver
            # while the batch's replies are sent made each send slower there (Synapse wakes it with
            # the bot's own event); bounded, so a ticket room being set up does not hold up others
            await self.inbox.replies_sent(REPLY_WAIT)
            return 0.0

        try:
            await supervise("matrix: sync", one_pass, every=0.0, backoff=Backoff(1.0, BACKOFF_MAX),
                            retry_after=_retry_after)
        finally:
            self.adapter.owns_device = False   # the lease is lost or the bot stops: another replica may sync

    # ----------------------------------------------------------------- one batch

    async def handle_batch(self, answer: SyncResponse) -> None:
        await self.handle_invites(answer)
        for room_id, info in answer.rooms.join.items():
            events = [event.source for event in info.timeline.events if isinstance(getattr(event, "source", None),
                                                                                    dict)]
            joined_at = self._own_join(events)
            if joined_at is not None:
                events = events[joined_at + 1:]   # history from before the bot joined is not its business
                await self._check_encryption(room_id)
                await self.groups.sync_room(room_id)   # a watched room the bot just joined: who is in it
                if not self.rooms.is_configured(room_id):
                    await self.rooms.refresh()    # a configured room created after the start
            elif info.timeline.limited and self.token and info.timeline.prev_batch:
                events = await self._fill_gap(room_id, info.timeline.prev_batch) + events
            for raw in events:
                await self.on_event(room_id, raw)

    def _own_join(self, events: list[dict[str, Any]]) -> int | None:
        for i, raw in enumerate(events):
            if (raw.get("type") == "m.room.member" and raw.get("state_key") == self.user_id
                    and (raw.get("content") or {}).get("membership") == "join"
                    and ((raw.get("unsigned") or {}).get("prev_content") or {}).get("membership") != "join"):
                return i
        return None

    async def _fill_gap(self, room_id: str, prev_batch: str) -> list[dict[str, Any]]:
        """The events between the stored token and a limited timeline's start, oldest first."""
        found: list[dict[str, Any]] = []
        start: str | None = prev_batch
        for _ in range(GAP_PAGES):
            answer = await self.client.room_messages(room_id, start=start, end=self.token,
                                                     direction=MessageDirection.back, limit=100)
            if not isinstance(answer, RoomMessagesResponse) or not answer.chunk:
                break
            found.extend(e.source for e in answer.chunk if isinstance(getattr(e, "source", None), dict))
            if not answer.end or answer.end == start:
                break
            start = answer.end
        found.reverse()
        if found:
            log.warning("matrix: filled a gap in a room timeline", events=len(found))
        return found

    async def handle_invites(self, answer: SyncResponse) -> None:
        """Joins rooms the bot is invited to from an allowed server (the bot's own, ``allowed_servers``)."""
        for room_id, info in answer.rooms.invite.items():
            inviter, direct = None, False
            for event in info.invite_state:
                # nio keeps the typed fields of invite state; its ``source`` lacks the content
                if isinstance(event, InviteMemberEvent) and event.state_key == self.user_id:
                    inviter = event.sender
                    direct = bool((event.content or {}).get("is_direct"))
            if inviter is None:
                continue
            if server_of(inviter) not in self.allowed:
                log.warning("matrix: invite ignored, server not in matrix.allowed_servers", inviter=inviter)
                with contextlib.suppress(Exception):
                    await self.client.room_leave(room_id)
                continue
            joined = await self.client.join(room_id)
            if not isinstance(joined, JoinResponse):
                log.warning("matrix: could not join a room it was invited to",
                            error=str(getattr(joined, "message", joined)))
                continue
            if direct:
                await self.rooms.remember_dm(room_id, inviter)

    # ----------------------------------------------------------------- one event

    async def submit(self, event: InboundEvent) -> None:
        """Inbox row and work in one commit: the homeserver delivers the batch again until its token is
        stored, so the row need not be committed first (Slack's request is gone once acked; it must);
        a duplicate (a replayed sync) is finished if a crash left it unfinished."""
        await self.inbox.handle_redelivered(event)
        self.handled += 1

    async def on_event(self, room_id: str, raw: dict[str, Any]) -> None:
        sender = raw.get("sender")
        if not sender or sender == self.user_id or not raw.get("event_id"):
            return
        kind = raw.get("type")
        if kind == "m.room.encrypted":
            if self.e2ee:
                await self._undecryptable(room_id, raw)   # nio decrypted what it could: no key for this one
            else:
                await self._warn_encrypted(room_id)
            return
        if kind == "m.room.encryption":
            await self._warn_encrypted(room_id)
            return
        if kind == "m.reaction":
            await self.on_reaction(room_id, raw)
            return
        if kind == "m.room.join_rules":
            await self.guard.on_join_rules(room_id, raw)
            return
        if kind == "m.room.member":
            await self.groups.on_member(room_id, raw)
            if (raw.get("state_key") == sender and (raw.get("content") or {}).get("membership") == "leave"
                    and await self.rooms.forget_dm(room_id) is not None):
                log.info("matrix: a person left their direct room, the next direct message opens a new one")
            return
        if convert.is_file_message(raw):
            await self.on_file(room_id, raw)
            return
        if convert.is_person_message(raw):
            await self.on_message(room_id, raw)

    async def where(self, room_id: str, *, thread: str | None = None) -> tuple[ChannelRef, str | None, bool]:
        """The core's view of a room, the ticket whose room it is, and whether it is a direct room."""
        direct = await self.rooms.dm_user(room_id) is not None
        ticket = None if direct else await self.rooms.ticket_of(room_id)
        name = self.rooms.name_of(room_id)
        room = self.client.rooms.get(room_id)
        guarded = name in self.settings.channels.guarded
        private = direct or ticket is not None or (not guarded and (room is None or room.join_rule != "public")
                                                    and await self.rooms.opened(room_id) is None)
        return convert.channel_ref(name, thread=thread, private=private, direct=direct), ticket, direct

    async def moved(self, where: ChannelRef, message_id: str) -> bool:
        """Whether ``message_id`` belongs to a conversation moved into a ticket (its root, or a message copied or
        followed)."""
        return await self.ports.tickets.moved_into(Platform.MATRIX, where.channel_id, message_id) is not None

    def display_name(self, room_id: str, user_id: str) -> str | None:
        room = self.client.rooms.get(room_id)
        return room.user_name(user_id) if room is not None else None

    async def on_message(self, room_id: str, raw: dict[str, Any]) -> None:
        content = raw.get("content") or {}
        body = convert.body_of(content)
        sender = str(raw["sender"])
        root = convert.thread_root(content)
        where, ticket, direct = await self.where(room_id, thread=root)
        followed = False
        if ticket is None and not direct:
            # a reply in a moved conversation follows it into its ticket, in any room: in a thread (m.thread)
            # or as a plain reply (m.in_reply_to) to any of its messages, which names no thread
            answered = root or convert.reply_to(content)
            followed = answered is not None and await self.moved(where, answered)
            if followed and root is None:
                where = where.model_copy(update={"thread_id": answered})
        name = self.display_name(room_id, sender)
        now = self.now()
        if direct:
            answer = await self.forms.answer(sender, room_id, str(raw["event_id"]), body)
            if answer is not None:
                if answer.done:
                    origin = await self._origin(answer.origin, where)
                    await self.submit(convert.event("form", raw, origin, now=now, name=TICKET_FORM_ID,
                                                    display_name=name, form_values=answer.values or {}))
                return
        choice = render.choice_of(body)
        if choice is not None and await self.choose(room_id, raw, choice, convert.reply_to(content),
                                                    plain_ok=where.is_private):
            return
        text = convert.command_text(body, self.prefix)
        if text is not None:
            if text.lower() == "ticket":
                await self.start_form(room_id, raw, where, direct)
                return
            thread: tuple[ThreadMessage, ...] = ()
            if root and ticket is None and not direct:
                thread = await self.fetch_thread(room_id, root)
            event = convert.event("command", raw, where, now=now, text=text, display_name=name, ticket=ticket,
                                  thread=thread)
        elif direct:
            event = convert.event("dm", raw, where, now=now, text=body, display_name=name)
        elif ticket is not None or followed or where.channel_id in self.settings.channels.guarded:
            event = convert.event("message", raw, where, now=now, text=body, display_name=name, ticket=ticket)
        else:
            return  # neither a direct room, a ticket's room, a moved conversation nor a guarded room
        await self.submit(event)

    async def on_file(self, room_id: str, raw: dict[str, Any]) -> None:
        """An ``m.image`` / ``m.file`` in a ticket's room or a direct room: the file as an attachment (a
        caption, where the client sends one, as the text)."""
        content = raw.get("content") or {}
        where, ticket, direct = await self.where(room_id, thread=convert.thread_root(content))
        if ticket is None and not direct:
            return  # files elsewhere are not the bot's business
        name = self.display_name(room_id, str(raw["sender"]))
        await self.submit(convert.event("dm" if direct else "message", raw, where, now=self.now(),
                                        text=convert.caption_of(content), display_name=name, ticket=ticket,
                                        attachments=convert.attachments_of(content)))

    async def on_reaction(self, room_id: str, raw: dict[str, Any]) -> None:
        rel = convert.relates_to(raw.get("content") or {})
        key, target = str(rel.get("key") or ""), str(rel.get("event_id") or "")
        if rel.get("rel_type") != "m.annotation" or not key or not target:
            return
        if key in TICKET_REACTIONS:
            thread = await self.fetch_thread(room_id, target)
            root = thread[0].message_id if thread else target
            where, _ticket, _direct = await self.where(room_id, thread=root)
            await self.submit(convert.event("reaction", raw, where, now=self.now(), name=key,
                                            display_name=self.display_name(room_id, str(raw["sender"])),
                                            message_id=target, thread=thread))
            return
        choice = render.choice_of(key, reaction=True)
        if choice is not None:
            await self.choose(room_id, raw, choice, target, plain_ok=False)

    # ----------------------------------------------------------------- numbered choices, forms

    async def choose(self, room_id: str, raw: dict[str, Any], choice: int, replied: str | None, *,
                     plain_ok: bool) -> bool:
        """A numbered answer (or reaction) to a message with choices → the core's button action."""
        if replied is None and not plain_ok:
            return False
        found = await self.adapter.choices(room_id, replied)
        if found is None:
            return False
        message_id, buttons = found
        if choice >= len(buttons):
            return False
        button = buttons[choice]
        where, ticket, _direct = await self.where(room_id)
        thread: tuple[ThreadMessage, ...] = ()
        if button.action == MOVE_ACTION and button.value:
            origin = await self._room_of_event(button.value)
            if origin is not None:
                thread = await self.fetch_thread(origin, button.value)
                root = thread[0].message_id if thread else button.value
                where, ticket, _direct = await self.where(origin, thread=root)
        await self.submit(convert.event("action", raw, where, now=self.now(), name=button.action,
                                        value=button.value, ticket=ticket, message_id=message_id, thread=thread,
                                        display_name=self.display_name(room_id, str(raw["sender"]))))
        return True

    async def _room_of_event(self, event_id: str) -> str | None:
        """The room of an event the bot handled before (its inbox row keeps where it happened)."""
        channel = await self.inbox.stored_channel(f"matrix:{event_id}")
        if not channel:
            return None
        try:
            return await self.rooms.id_of(str(channel))
        except Exception:
            return None

    async def start_form(self, room_id: str, raw: dict[str, Any], where: ChannelRef, direct: bool) -> None:
        """``!ticket`` alone: the ticket form, asked step by step in the person's direct room."""
        sender = str(raw["sender"])
        lang = self.adapter.language_of(sender)
        dm = room_id if direct else await self.rooms.dm_room(sender)
        origin = None if direct else room_id
        if not direct:
            await self._say(room_id, t(lang, "matrix.form_in_dm", informal=not self.settings.desk.formal),
                            f"form-dm.{raw['event_id']}",
                            thread=where.thread_id)
        staff = self.settings.person_key_for("matrix", sender) is not None or \
            await self.ports.tickets.is_staff(Platform.MATRIX, sender)
        await self.forms.start(sender, dm, lang, origin=origin, event_id=str(raw["event_id"]), staff=staff)

    async def _origin(self, origin_room: str | None, fallback: ChannelRef) -> ChannelRef:
        if not origin_room:
            return fallback
        where, _ticket, _direct = await self.where(origin_room)
        return where

    async def _say_plain(self, room: str, text: str, txn: str) -> None:
        await self._say(room, text, txn)

    async def _say(self, room: str, text: str, txn: str, *, thread: str | None = None) -> None:
        """A message of the adapter's own (form questions, the encryption warning), not of the core."""
        await self.adapter.room_send(room, render.notice(render.defuse(text), thread_root=thread),
                                     f"{self.adapter.txn_prefix}.{txn}")

    # ----------------------------------------------------------------- threads

    async def fetch_thread(self, room_id: str, event_id: str) -> tuple[ThreadMessage, ...]:
        """The thread ``event_id`` belongs to, root first: the root and its ``m.thread`` relations."""
        try:
            return await asyncio.wait_for(self._fetch_thread(room_id, event_id), THREAD_TIMEOUT)
        except (MatrixError, TimeoutError, OSError, AttributeError) as exc:
            log.warning("matrix: could not read a thread to move", error=type(exc).__name__)
            return ()

    async def _get_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        answer = check(await self.client.room_get_event(room_id, event_id), RoomGetEventResponse, "get event")
        return self._plain(room_id, answer.event)

    def _plain(self, room_id: str, event: Any) -> dict[str, Any]:
        """An event's source, decrypted when it is encrypted and the device has its key (nio decrypts
        ``/sync`` and ``/messages`` answers itself, but not single events or relations)."""
        if isinstance(event, MegolmEvent) and self.client.olm is not None:
            event.room_id = event.room_id or room_id
            with contextlib.suppress(EncryptionError):
                return dict(self.client.decrypt_event(event).source)
        return dict(event.source)

    async def _fetch_thread(self, room_id: str, event_id: str) -> tuple[ThreadMessage, ...]:
        first = await self._get_event(room_id, event_id)
        root_id = convert.thread_root(first.get("content") or {}) or event_id
        root = first if root_id == event_id else await self._get_event(room_id, root_id)
        replies: list[Mapping[str, Any]] = []
        async for event in self.client.room_get_event_relations(room_id, root_id, RelationshipType.thread):
            if isinstance(getattr(event, "source", None), dict):
                replies.append(self._plain(room_id, event))
        replies.sort(key=lambda r: (int(r.get("origin_server_ts") or 0), str(r.get("event_id"))))
        now = self.now()
        result = []
        for raw in (root, *replies):
            if raw.get("sender") == self.user_id:
                continue
            message = convert.thread_message(raw, self.display_name(room_id, str(raw.get("sender"))), now)
            if message is not None:
                result.append(message)
        return tuple(result)

    # ----------------------------------------------------------------- encrypted rooms

    async def _check_encryption(self, room_id: str) -> None:
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted:
            await self._warn_encrypted(room_id)

    async def _warn_encrypted(self, room_id: str) -> None:
        """Once per room: the bot cannot read it (unless E2EE support is installed and configured)."""
        if self.e2ee:
            return
        async with self.state.write() as store:
            if await store.get(WARNED_KEY.format(room=room_id)) is not None:
                return
            await store.put(WARNED_KEY.format(room=room_id), "1")
        log.warning("matrix: encrypted room, unreadable without E2EE support; set matrix.store_path and restart",
                    room=room_id, install=E2E_INSTALL)
        lang = self.settings.desk.language
        try:
            await self._say(room_id, t(lang, "matrix.encrypted", prefix=self.prefix), f"e2ee.{room_id}")
        except Exception as exc:
            log.warning("matrix: could not tell an encrypted room that the bot cannot read it", error=str(exc))

    async def _undecryptable(self, room_id: str, raw: dict[str, Any]) -> None:
        """An encrypted event whose room key this device never got: a log line always; once per room,
        sender and key session a notice asking to send it again (or to let the app share keys with the bot)."""
        content = raw.get("content") or {}
        sender, session = str(raw["sender"]), str(content.get("session_id") or "")
        log.warning("matrix: cannot decrypt an event, its sender's app did not share the room key",
                    event_id=raw.get("event_id"), room=room_id, sender=sender, device=content.get("device_id"),
                    session=session or None, bot_device=self.client.device_id)
        digest = hashlib.sha256(f"{room_id}\0{sender}\0{session}".encode()).hexdigest()[:40]
        event_id = str(raw["event_id"])
        async with self.state.write() as store:
            if await store.put_new(UNDECRYPTABLE_KEY.format(digest=digest), event_id) != event_id:
                return
        text = t(self.adapter.language_of(sender), "matrix.undecryptable", prefix=self.prefix,
                 user=self.user_id, device=self.client.device_id or "")
        try:
            await self._say(room_id, text, f"e2ee-undecryptable.{digest}", thread=convert.thread_root(content))
        except Exception as exc:
            log.warning("matrix: could not ask for an undecryptable message to be sent again", error=str(exc))
