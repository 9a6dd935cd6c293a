"""The slack-bolt ``AsyncApp`` and its listeners: Slack requests in, core events to the dispatcher.

Every listener does the same three things in this order: persist the event (the inbox row, in
one group commit with the other requests of the moment), acknowledge Slack, and only then queue it
for processing. The app runs with ``process_before_response=True``, so bolt answers Slack when the
listener returns, right after the inbox row is committed; the processing workers are ours and are
drained on shutdown, and an event whose processing never finished (a crash) is picked up again by
the recovery loop. Acknowledging comes first: while requests keep arriving, processing and
deliveries wait for the gaps (see BUSY_WINDOW, MAX_DEFER, DOOR_MAX).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from adapters.slack import convert, render
from adapters.slack.adapter import SlackAdapter
from adapters.slack.errors import error_code
from adapters.slack.groups import SlackGroups
from bot.core.types import ChannelRef, InboundEvent, Platform, ThreadMessage
from bot.i18n import t
from bot.i18n.format import duration
from bot.privacy.move import MOVE_ACTION
from bot.tickets import form as ticket_form
from bot.tickets.service import open_tickets_of
from storage.models import Identity, Person

if TYPE_CHECKING:
    from bot.app import Bot

log = structlog.stdlib.get_logger(__name__)

MOVE_SHORTCUT = "move_to_ticket"
THREAD_TIMEOUT = 1.5          # conversations.replies while an event waits for its ack
RECOVER_EVERY = 30.0
RECOVER_AFTER = timedelta(minutes=1)
# while requests keep coming, processing and delivery yield to them: they wait for a quiet moment of
# BUSY_WINDOW, but go on at least once per MAX_DEFER, so a flood of requests is acknowledged at once
# and the work is done in the gaps (and after the flood)
BUSY_WINDOW = 0.2
MAX_DEFER = 5.0
# work let through during a flood runs with new requests held at the door for at most this long,
# so it finishes quickly instead of crawling between requests while it holds the database's write lock
DOOR_MAX = 0.2
ACCEPT_BATCH = 200
Ack = Callable[..., Awaitable[Any]]


class GroupAcceptor:
    """Stores concurrent requests' events in one transaction (a group commit): a request waits for
    at most the commit in progress and the one it joins, instead of one commit per request in line."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher
        self._pending: list[tuple[InboundEvent, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def accept(self, event: InboundEvent) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((event, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._commit())
        return await future

    async def _commit(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:ACCEPT_BATCH], self._pending[ACCEPT_BATCH:]
            try:
                results = await self.dispatcher.accept_many([event for event, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), new in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(new)


class SlackIngress:
    """Turns Slack requests into core events: accept, ack, then process.

    Accepted events are processed by a few workers in the order they arrived (one on SQLite,
    which has one writer anyway), so a burst of requests is acknowledged at once and worked off
    at the pace the database allows, instead of a task per request fighting for the write lock.
    The queue only holds what the inbox already has; after a crash the recovery pass finds it.
    """

    def __init__(self, bot: Bot, adapter: SlackAdapter, *, workers: int | None = None) -> None:
        self.bot = bot
        self.adapter = adapter
        self.settings = bot.settings
        self.dispatcher = bot.dispatcher
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_flight: set[str] = set()
        self.workers = workers or (1 if bot.engine.dialect.name == "sqlite" else 4)
        self.acceptor = GroupAcceptor(bot.dispatcher)
        self.groups = SlackGroups(adapter.client, bot.settings, bot.clock, bot.desk.sessions)
        self._queue: asyncio.Queue[InboundEvent] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._last_request = 0.0
        self._last_processed = 0.0
        self.requests = 0  # requests in the bolt app right now
        self._door = asyncio.Event()
        self._door.set()
        adapter.pace = self.pace

    @property
    def directory(self):
        return self.adapter.directory

    # ----------------------------------------------------------------- the three steps

    async def submit(self, event: InboundEvent, ack: Ack | None, *, answer_on_failure: bool = True) -> bool:
        """Persists ``event``, acknowledges Slack, then processes the event in a tracked task.

        A duplicate (a retried delivery) is acknowledged and dropped. When the event cannot be
        stored, a command or interaction is answered with a short apology; an Events API
        delivery is left unacknowledged, so Slack retries it.
        """
        try:
            new = await self.acceptor.accept(event)
        except Exception as exc:
            # the exception's text may quote the event: its type here, the traceback at debug
            log.error("slack: could not store an inbound event", kind=event.kind, error=type(exc).__name__)
            log.debug("slack: could not store an inbound event", exc_info=True)
            if ack is not None and answer_on_failure:
                await ack(text=t(self.language_of(event.actor.user_id), "slack.unavailable"))
                return False
            raise
        if ack is not None:
            await ack()
        if new:
            self.in_flight.add(event.idempotency_key)
            self._queue.put_nowait(event)
            self._start_workers()
        return new

    def _start_workers(self) -> None:
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._work(), name=f"slack-worker-{i}") for i in range(self.workers)]

    async def track(self, next: Callable[[], Awaitable[Any]]) -> Any:
        """Bolt middleware (bolt passes ``next`` by name): counts the requests being handled."""
        await self._door.wait()
        self.requests += 1
        try:
            return await next()
        finally:
            self.requests -= 1
            self._last_request = time.monotonic()

    async def yield_to_requests(self) -> bool:
        """Waits while requests are being handled or came in the last BUSY_WINDOW, for at most MAX_DEFER
        since the last time this let work through; True when it lets work through during a flood."""
        while True:
            now = time.monotonic()
            quiet, waited = now - self._last_request, now - self._last_processed
            if not self.requests and quiet >= BUSY_WINDOW:
                self._last_processed = now
                return False
            if waited >= MAX_DEFER:
                self._last_processed = now
                return True
            await asyncio.sleep(max(0.005, min(BUSY_WINDOW - quiet, MAX_DEFER - waited)))

    async def pace(self) -> None:
        """For the adapter's deliveries: wait for a gap between requests (see :meth:`yield_to_requests`)."""
        await self.yield_to_requests()

    @contextlib.asynccontextmanager
    async def door_closed(self) -> AsyncIterator[None]:
        """Forced work: holds new requests back (for at most DOOR_MAX) and lets the ones inside finish
        first, so the work runs alone and quickly."""
        self._door.clear()
        reopen = asyncio.get_running_loop().call_later(DOOR_MAX, self._door.set)
        try:
            while self.requests and not self._door.is_set():
                await asyncio.sleep(0.002)
            yield
        finally:
            reopen.cancel()
            self._door.set()

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                if await self.yield_to_requests():
                    async with self.door_closed():
                        await self._process(event)
                else:
                    await self._process(event)
            finally:
                self.in_flight.discard(event.idempotency_key)
                self._queue.task_done()

    def spawn(self, coro: Coroutine[Any, Any, None], *, key: str | None = None) -> None:
        if key is not None:
            self.in_flight.add(key)
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self.tasks.discard(finished)
            if key is not None:
                self.in_flight.discard(key)

        task.add_done_callback(done)

    async def _process(self, event: InboundEvent) -> None:
        try:
            await self.dispatcher.process(event)
        except Exception as exc:
            # the inbox row stays "received"; the recovery loop tries again
            log.error("slack: processing an inbound event failed, it will be retried", kind=event.kind,
                      error=type(exc).__name__)
            log.debug("slack: processing an inbound event failed", exc_info=True)

    async def idle(self) -> None:
        """Waits until every accepted event is processed and every side task is done (tests, benchmarks)."""
        while self.tasks or not self._queue.empty() or self.in_flight:
            await self._queue.join()
            if self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def drain(self, timeout: float) -> None:
        """Shutdown: lets the workers finish the queue for up to ``timeout`` seconds, then stops them
        (what is left stays "received" in the inbox and is processed after the restart)."""
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            log.warning("slack: events not processed at shutdown, they resume after the restart",
                        count=self._queue.qsize() + len(self.in_flight))
        for task in [*self._workers, *self.tasks]:
            task.cancel()
        await asyncio.gather(*self._workers, *self.tasks, return_exceptions=True)
        self._workers = []

    async def recover_loop(self, every: float = RECOVER_EVERY) -> None:
        """Finishes events that were stored but whose processing never completed (a crash, a lost task)."""
        while True:
            await asyncio.sleep(every)
            try:
                count = await self.dispatcher.recover(older_than=RECOVER_AFTER, skip=frozenset(self.in_flight))
                if count:
                    log.warning("slack: recovered stored but unprocessed events", count=count)
            except Exception as exc:
                log.error("slack: recovery pass failed", error=type(exc).__name__)
                log.debug("slack: recovery pass failed", exc_info=True)

    # ----------------------------------------------------------------- helpers

    def language_of(self, user_id: str) -> str:
        key = self.settings.person_key_for("slack", user_id)
        person = self.settings.people.get(key) if key else None
        return (person.language if person is not None else None) or self.settings.desk.language

    def topics(self) -> list[str]:
        return [rule.topic for rule in self.settings.routing]

    async def where(self, channel_id: str, *, thread: str | None = None, hint: str | None = None
                    ) -> tuple[ChannelRef, str | None]:
        """The core's view of a Slack channel (configured ones by ``#name``) and the ticket whose space it is."""
        direct = channel_id.startswith("D") or hint in ("im", "directmessage")
        ticket = None if direct else await self.adapter.spaces.ticket_of(channel_id)
        private = (ticket is not None or bool(self.directory.is_private(channel_id))
                   or channel_id.startswith("G") or hint in ("group", "privategroup", "mpim"))
        return (convert.channel_ref(self.directory.name_of(channel_id), thread=thread, private=private,
                                    direct=direct), ticket)

    async def fetch_thread(self, channel_id: str, ts: str) -> tuple[ThreadMessage, ...]:
        """The thread ``ts`` belongs to, root first (empty when Slack does not answer in time)."""
        client = self.adapter.client
        try:
            answer = await asyncio.wait_for(client.conversations_replies(channel=channel_id, ts=ts, limit=200),
                                            THREAD_TIMEOUT)
            messages = list(answer.get("messages") or [])
            root = messages[0].get("thread_ts") if messages else None
            if root and root != messages[0].get("ts"):
                answer = await asyncio.wait_for(client.conversations_replies(channel=channel_id, ts=root, limit=200),
                                                THREAD_TIMEOUT)
                messages = list(answer.get("messages") or [])
        except (SlackApiError, TimeoutError, OSError) as exc:
            log.warning("slack: could not read a thread to move", error=type(exc).__name__)
            return ()
        authors = sorted({str(m["user"]) for m in messages if m.get("user")})
        names = dict(zip(authors, await asyncio.gather(*(self.directory.display_name(a) for a in authors)),
                         strict=True))
        return convert.thread_messages(messages, names, self.now(), self.name_for)

    def now(self):
        return self.bot.clock.now()

    def name_for(self, user_id: str) -> str | None:
        """How a mention of a Slack user reads in the core: the people key, else the Slack name."""
        return self.settings.person_key_for("slack", user_id) or self.directory.cached_name(user_id)

    def plain(self, text: str) -> str:
        return convert.plain(text, self.name_for)

    # ----------------------------------------------------------------- slash commands

    async def on_command(self, ack: Ack, body: dict[str, Any]) -> None:
        channel_id, user_id = str(body.get("channel_id") or ""), str(body["user_id"])
        self.adapter.remember_response_url(channel_id, user_id, body.get("response_url"))
        self.directory.remember_user(user_id, body.get("user_name"))
        command = str(body.get("command") or "").lstrip("/").lower()
        if command == "ticket" and not str(body.get("text") or "").strip():
            await ack()
            await self.open_ticket_form(body)
            return
        where, ticket = await self.where(channel_id, hint=body.get("channel_name"))
        text = self.plain(str(body.get("text") or ""))
        await self.submit(convert.command(body, where, text=text, now=self.now(), ticket=ticket), ack)

    def form_view(self, lang: str, metadata: dict[str, Any] | str, topic: str | None = None) -> dict[str, Any]:
        """The ticket modal with the fields ``topic`` needs (its ``[[intake]]`` rule); where the rules
        differ per topic, choosing the topic updates the modal (``dispatch_action``)."""
        spec = ticket_form.form_for(self.settings, lang, topic)
        try:
            meta = json.loads(metadata) if isinstance(metadata, str) and metadata else metadata or {}
        except ValueError:
            meta = {}  # the metadata is ours; a mangled one only loses the channel the form came from
        return render.modal(spec, submit=t(lang, "form.ticket.submit"), close=t(lang, "form.ticket.cancel"),
                            metadata=meta if isinstance(meta, dict) else {},
                            dispatch="topic" if ticket_form.per_topic(self.settings) else None,
                            selected={"topic": topic} if topic else None)

    async def on_form_topic(self, ack: Ack, body: dict[str, Any], topic: str | None) -> None:
        """The topic was chosen in the open modal: the modal is updated to ask that topic's fields (what was
        typed stays: the blocks keep their ids)."""
        await ack()
        view = body.get("view") or {}
        lang = self.language_of(str(body["user"]["id"]))
        try:
            await self.adapter.client.views_update(view_id=view.get("id"), hash=view.get("hash"),
                                                   view=self.form_view(lang, view.get("private_metadata") or "",
                                                                       topic))
        except SlackApiError as exc:
            # hash_conflict: the person changed the modal meanwhile; the submission is validated anyway
            log.warning("slack: views.update failed", error=error_code(exc))

    async def open_ticket_form(self, body: dict[str, Any]) -> None:
        user_id = str(body["user_id"])
        lang = self.language_of(user_id)
        view = self.form_view(lang, {"channel": body.get("channel_id") or "", "hint": body.get("channel_name") or ""})
        try:
            await self.adapter.client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as exc:
            log.warning("slack: views.open failed", error=error_code(exc))
            await self.adapter.tell(str(body.get("channel_id") or ""), user_id, t(lang, "slack.form_failed"))

    async def on_form(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = str(body["user"]["id"])
        lang = self.language_of(user_id)
        values = render.view_values(view)
        topic = (values.get("topic") or "").strip() or None
        required = ticket_form.required_for(self.settings, topic if topic in self.topics() else None)
        shown = {str(block.get("block_id")) for block in view.get("blocks") or ()}
        if any(name not in shown for name in required if name in ticket_form.EXTRA_FIELDS):
            # submitted before the modal showed the topic's fields: show them now
            await ack(response_action="update", view=self.form_view(lang, view.get("private_metadata") or "", topic))
            return
        errors = ticket_form.validate(values, lang, self.topics(), required)
        if errors:
            await ack(response_action="errors", errors={name: problem for name, problem in errors.items()
                                                         if not shown or name in shown} or errors)
            return
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        channel_id = str(meta.get("channel") or "")
        if channel_id:
            where, _ticket = await self.where(channel_id, hint=meta.get("hint"))
        else:
            where = convert.channel_ref(user_id, direct=True)
        await self.submit(convert.form(body, where, values=values, now=self.now()), ack)

    # ----------------------------------------------------------------- interactivity

    async def on_action(self, ack: Ack, body: dict[str, Any]) -> None:
        action = (body.get("actions") or [{}])[0]
        name = render.action_name(str(action.get("action_id") or ""))
        value = action.get("value") or (action.get("selected_option") or {}).get("value")
        if (body.get("view") or {}).get("callback_id") == ticket_form.FORM_ID:
            if name == "topic":
                await self.on_form_topic(ack, body, str(value) if value in self.topics() else None)
            else:
                await ack()  # no other field of the form sends anything before the submission
            return
        user_id = str(body["user"]["id"])
        channel_id = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
                         or "")
        self.adapter.remember_response_url(channel_id, user_id, body.get("response_url"))
        if channel_id:
            thread_ts = (body.get("message") or {}).get("thread_ts")
            where, ticket = await self.where(channel_id, thread=thread_ts)
        else:  # a button on the App Home tab
            where, ticket = convert.channel_ref(user_id, direct=True), None
        event = convert.action(body, where, name=name, value=value, now=self.now(), ticket=ticket)
        if name == MOVE_ACTION and value and channel_id:
            event = event.model_copy(update={"thread": await self.fetch_thread(channel_id, str(value))})
        await self.submit(event, ack)

    async def on_move_shortcut(self, ack: Ack, body: dict[str, Any]) -> None:
        """The "Move to private ticket" message shortcut: like the :ticket: reaction on that message."""
        channel_id = str(body["channel"]["id"])
        message = body.get("message") or {}
        ts = str(message.get("ts") or body.get("message_ts") or "")
        user_id = str(body["user"]["id"])
        self.adapter.remember_response_url(channel_id, user_id, body.get("response_url"))
        thread = await self.fetch_thread(channel_id, ts)
        root = thread[0].message_id if thread else str(message.get("thread_ts") or ts)
        where, _ticket = await self.where(channel_id, thread=root)
        actor = convert.user(user_id, body["user"].get("username") or body["user"].get("name"))
        event = convert.reaction(convert.trigger_key("move", str(body.get("trigger_id") or ts)), actor, where,
                                 message_ts=ts, now=self.now(), thread=thread)
        await self.submit(event, ack)

    # ----------------------------------------------------------------- Events API

    async def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("subtype") not in convert.PERSON_SUBTYPES or event.get("bot_id") or not event.get("user")
                or event.get("user") == self.directory.bot_user_id):
            return
        channel_id = str(event.get("channel") or "")
        if event.get("channel_type") == "im" or channel_id.startswith("D"):
            where, kind, ticket = convert.channel_ref(channel_id, direct=True), "dm", None
        else:
            if convert.mentions(str(event.get("text") or ""), self.directory.bot_user_id):
                return  # the app_mention event carries it
            where, ticket = await self.where(channel_id, thread=event.get("thread_ts"),
                                             hint=event.get("channel_type"))
            if ticket is None and where.channel_id not in self.settings.channels.guarded:
                return  # neither a ticket's space nor a guarded channel: not the bot's business
            kind = "message"
        name = await self.directory.display_name(str(event["user"]))
        text = self.plain(str(event.get("text") or ""))
        if event.get("files"):
            body = {**body, "event": {**event, "files": await self.file_details(event["files"])}}
        await self.submit(convert.message(body, where, kind=kind, text=text, now=self.now(), ticket=ticket,
                                          name=name), None)

    async def file_details(self, files: list[Any]) -> list[Any]:
        """Slack may send only a file's id (``file_access: check_file_info``): then files.info gives its
        name, type and size. A file whose details cannot be had in time keeps what the event said."""
        result = []
        for item in files:
            if isinstance(item, dict) and item.get("id") and item.get("file_access") == "check_file_info":
                try:
                    answer = await asyncio.wait_for(self.adapter.client.files_info(file=str(item["id"])),
                                                    THREAD_TIMEOUT)
                    item = {**item, **(answer.get("file") or {})}
                except (SlackApiError, TimeoutError, OSError) as exc:
                    log.warning("slack: files.info failed", error=type(exc).__name__)
            result.append(item)
        return result

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if not event.get("user") or event.get("bot_id"):
            return
        text = self.plain(convert.strip_mentions(str(event.get("text") or ""), self.directory.bot_user_id))
        first = text.split()[0].lower().lstrip("/!") if text else ""
        if not text:
            text = "help"
        elif first in self.bot.desk.registry.groups():
            text = text.lstrip("/!")
        else:
            text = f"ticket {text}"  # "@dutydesk the printer is on fire" opens a ticket
        channel_id = str(event.get("channel") or "")
        thread_ts = event.get("thread_ts")
        where, ticket = await self.where(channel_id, thread=thread_ts)
        thread = await self.fetch_thread(channel_id, thread_ts) if thread_ts and ticket is None else ()
        name = await self.directory.display_name(str(event["user"]))
        await self.submit(convert.mention(body, where, text=text, now=self.now(), ticket=ticket, thread=thread,
                                          name=name), None)

    async def on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if event.get("reaction") not in convert.TICKET_REACTIONS or item.get("type") != "message":
            return
        channel_id, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        thread = await self.fetch_thread(channel_id, ts)
        root = thread[0].message_id if thread else ts
        where, _ticket = await self.where(channel_id, thread=root)
        name = await self.directory.display_name(str(event["user"]))
        await self.submit(convert.reaction(str(body["event_id"]), convert.user(str(event["user"]), name), where,
                                           message_ts=ts, now=self.now(), thread=thread), None)

    async def on_subteam_members_changed(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Somebody joined or left a user group: acknowledged at once, the roles updated right after."""
        self.spawn(self.guarded(self.groups.on_members_changed(event), "a user group change"),
                   key=f"groups:{body.get('event_id')}")

    async def on_subteam_updated(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        self.spawn(self.guarded(self.groups.on_updated(event), "a user group update"),
                   key=f"groups:{body.get('event_id')}")

    async def guarded(self, work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception as exc:
            # the next start (or Socket Mode reconnect) reads the groups in full again
            log.error("slack: storing failed", what=what, error=type(exc).__name__)
            log.debug("slack: storing failed", what=what, exc_info=True)

    async def on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            self.spawn(self.publish_home(str(event["user"])))

    async def publish_home(self, user_id: str) -> None:
        """App Home: the person's open tickets (and, for the team, those assigned to them)."""
        lang = self.language_of(user_id)
        sections: list[str] = []
        now = self.now()
        async with self.bot.desk.sessions() as session:
            person = await session.scalar(select(Person).join(Identity, Identity.person_id == Person.id).where(
                Identity.platform == Platform.SLACK.value, Identity.user_id == user_id))
            groups = [(False, "ticket.list_head", "ticket.list_empty")]
            if person is not None and person.is_staff:
                groups.insert(0, (True, "ticket.list_head_staff", "ticket.list_empty_staff"))
            for as_assignee, head, empty in groups:
                tickets = await open_tickets_of(session, person, as_assignee=as_assignee) if person else []
                if not tickets:
                    sections.append(t(lang, empty))
                    continue
                lines = [t(lang, head, count=len(tickets))]
                lines += [t(lang, "ticket.list_line", key=tk.key, priority=tk.priority,
                            state=t(lang, f"state.{tk.state}"), title=tk.title,
                            age=duration(lang, now - tk.created_at)) for tk in tickets]
                sections.append("\n".join(lines))
        try:
            await self.adapter.client.views_publish(user_id=user_id,
                                                    view=render.home_view(sections, hint=t(lang, "slack.home_hint")))
        except SlackApiError as exc:
            log.warning("slack: views.publish failed", error=error_code(exc))


def create_app(ingress: SlackIngress, *, signing_secret: str | None = None) -> AsyncApp:
    """The bolt app: signature verification on (HTTP mode), listeners for everything in slack/manifest.yml."""
    adapter = ingress.adapter
    app = AsyncApp(
        client=adapter.client,
        signing_secret=signing_secret or "",
        process_before_response=True,
        request_verification_enabled=True,
        logger=logging.getLogger("slack_bolt"),
    )
    app.middleware(ingress.track)
    app.command(re.compile(r"^/[\w-]+$"))(ingress.on_command)
    app.view(ticket_form.FORM_ID)(ingress.on_form)
    app.action(re.compile(r".+"))(ingress.on_action)
    app.shortcut(MOVE_SHORTCUT)(ingress.on_move_shortcut)
    app.event("message")(ingress.on_message)
    app.event("app_mention")(ingress.on_mention)
    app.event("reaction_added")(ingress.on_reaction)
    app.event("app_home_opened")(ingress.on_home)
    app.event("subteam_members_changed")(ingress.on_subteam_members_changed)
    app.event("subteam_updated")(ingress.on_subteam_updated)
    return app
