"""The slack-bolt ``AsyncApp`` and its listeners: Slack requests in, core events to the inbox.

Every listener verifies (bolt checks the signature), converts the request into a core event and
hands it to the core's inbox (bot/core/inbox.py), which stores it — in one group commit with the
other requests of the moment — before ``submit`` returns; only then is Slack acknowledged. The app
runs with ``process_before_response=True``, so bolt answers Slack when the listener returns, right
after the inbox row is committed. Processing, flow control (requests before work) and recovery are
the inbox's; this module only counts requests in (``track``) so the inbox can yield to them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack import convert, render
from adapters.slack.adapter import SlackAdapter
from adapters.slack.errors import error_code
from adapters.slack.groups import SlackGroups
from adapters.slack.home import NEW_TICKET
from bot.core.ports import Ports
from bot.core.types import MOVE_ACTION, TICKET_FORM_ID, ChannelRef, InboundEvent, Platform, ThreadMessage
from bot.i18n import t

log = structlog.stdlib.get_logger(__name__)

MOVE_SHORTCUT = "move_to_ticket"
THREAD_TIMEOUT = 1.5          # conversations.replies while an event waits for its ack
Ack = Callable[..., Awaitable[Any]]


class SlackIngress:
    """Turns Slack requests into core events and hands them to the inbox; acknowledges Slack after."""

    def __init__(self, ports: Ports, adapter: SlackAdapter) -> None:
        self.ports = ports
        self.adapter = adapter
        self.settings = ports.settings
        self.inbox = ports.inbox
        self.form = ports.form
        self.tasks: set[asyncio.Task[None]] = set()
        self.groups = SlackGroups(adapter.client, ports)
        adapter.pace = ports.inbox.pace   # ordinary deliveries let requests being received go first

    @property
    def directory(self):
        return self.adapter.directory

    async def submit(self, event: InboundEvent, ack: Ack | None, *, answer_on_failure: bool = True) -> bool:
        """Hands ``event`` to the inbox (stored when this returns), then acknowledges Slack.

        A duplicate (a retried delivery) is acknowledged and dropped. When the event cannot be
        stored, a command or interaction is answered with a short apology; an Events API
        delivery is left unacknowledged, so Slack retries it.
        """
        try:
            new = await self.inbox.submit(event)
        except Exception:
            if ack is not None and answer_on_failure:
                await ack(text=t(self.language_of(event.actor.user_id), "slack.unavailable"))
                return False
            raise
        if ack is not None:
            await ack()
        return new

    async def track(self, next: Callable[[], Awaitable[Any]]) -> Any:
        """Bolt middleware (bolt passes ``next`` by name): the inbox counts the requests being received."""
        async with self.inbox.arriving():
            return await next()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Side work after an ack (user group updates, the App Home), tracked so ``idle`` and ``drain`` see it."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def idle(self) -> None:
        """Waits until every submitted event is processed and every side task is done (tests, benchmarks)."""
        await self.inbox.idle()
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
            await self.inbox.idle()

    async def drain(self, timeout: float) -> None:
        """Shutdown: the events in processing finish (for up to ``timeout`` seconds), side tasks stop."""
        await self.inbox.drain(timeout)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ----------------------------------------------------------------- helpers

    def language_of(self, user_id: str) -> str:
        key = self.settings.person_key_for("slack", user_id)
        person = self.settings.people.get(key) if key else None
        return (person.language if person is not None else None) or self.settings.desk.language

    def topics(self) -> list[str]:
        return self.form.topics

    async def where(self, channel_id: str, *, thread: str | None = None, hint: str | None = None
                    ) -> tuple[ChannelRef, str | None]:
        """The core's view of a Slack channel (configured ones by ``#name``) and the ticket whose space it is."""
        direct = channel_id.startswith("D") or hint in ("im", "directmessage")
        ticket = None if direct else await self.adapter.spaces.ticket_of(channel_id)
        private = (ticket is not None or bool(self.directory.is_private(channel_id))
                   or channel_id.startswith("G") or hint in ("group", "privategroup", "mpim"))
        return (convert.channel_ref(self.directory.name_of(channel_id), thread=thread, private=private,
                                    direct=direct), ticket)

    async def moved(self, where: ChannelRef, thread_ts: object) -> bool:
        """Whether a reply belongs to a thread moved into a ticket: a thread moved by the :ticket: reaction or
        the shortcut in a channel that is not guarded is followed like any other."""
        return bool(thread_ts) and await self.ports.tickets.moved_into(
            Platform.SLACK, where.channel_id, str(thread_ts)) is not None

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
        return self.ports.clock.now()

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

    async def is_staff(self, user_id: str) -> bool:
        """The support team ([people], or a staff role through a user group): their modal has the "for" field."""
        return self.settings.person_key_for("slack", user_id) is not None or \
            await self.ports.tickets.is_staff(Platform.SLACK, user_id)

    def form_view(self, lang: str, metadata: dict[str, Any] | str, topic: str | None = None, *,
                  staff: bool = False) -> dict[str, Any]:
        """The ticket modal with the fields ``topic`` needs (its ``[[intake]]`` rule); where the rules
        differ per topic, choosing the topic updates the modal (``dispatch_action``). ``staff``: with the
        team's "for (caller / e-mail)" field."""
        spec = self.form.spec(lang, topic, staff=staff)
        try:
            meta = json.loads(metadata) if isinstance(metadata, str) and metadata else metadata or {}
        except ValueError:
            meta = {}  # the metadata is ours; a mangled one only loses the channel the form came from
        return render.modal(spec, submit=t(lang, "form.ticket.submit"), close=t(lang, "form.ticket.cancel"),
                            metadata=meta if isinstance(meta, dict) else {},
                            dispatch="topic" if self.form.per_topic() else None,
                            selected={"topic": topic} if topic else None)

    async def on_form_topic(self, ack: Ack, body: dict[str, Any], topic: str | None) -> None:
        """The topic was chosen in the open modal: the modal is updated to ask that topic's fields (what was
        typed stays: the blocks keep their ids)."""
        await ack()
        view = body.get("view") or {}
        user_id = str(body["user"]["id"])
        lang = self.language_of(user_id)
        try:
            await self.adapter.client.views_update(view_id=view.get("id"), hash=view.get("hash"),
                                                   view=self.form_view(lang, view.get("private_metadata") or "",
                                                                       topic, staff=await self.is_staff(user_id)))
        except SlackApiError as exc:
            # hash_conflict: the person changed the modal meanwhile; the submission is validated anyway
            log.warning("slack: views.update failed", error=error_code(exc))

    async def open_ticket_form(self, body: dict[str, Any]) -> None:
        await self.open_form(str(body["user_id"]), str(body["trigger_id"]), str(body.get("channel_id") or ""),
                             str(body.get("channel_name") or ""))

    async def open_form(self, user_id: str, trigger_id: str, channel_id: str = "", channel_name: str = "") -> None:
        """The ticket modal for ``user_id``; without a channel (the App Home's button) the ticket is the person's
        own, answered in their direct chat with the bot."""
        lang = self.language_of(user_id)
        view = self.form_view(lang, {"channel": channel_id, "hint": channel_name}, staff=await self.is_staff(user_id))
        try:
            await self.adapter.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("slack: views.open failed", error=error_code(exc))
            if channel_id:
                await self.adapter.tell(channel_id, user_id, t(lang, "slack.form_failed"))

    async def on_form(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = str(body["user"]["id"])
        lang = self.language_of(user_id)
        values = render.view_values(view)
        topic = (values.get("topic") or "").strip() or None
        required = self.form.required(topic)
        shown = {str(block.get("block_id")) for block in view.get("blocks") or ()}
        if any(name not in shown for name in required if name in self.form.extra_fields):
            # submitted before the modal showed the topic's fields: show them now
            await ack(response_action="update", view=self.form_view(lang, view.get("private_metadata") or "", topic,
                                                                    staff=await self.is_staff(user_id)))
            return
        errors = self.form.validate(values, lang, required)
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
        if (body.get("view") or {}).get("callback_id") == TICKET_FORM_ID:
            if name == "topic":
                await self.on_form_topic(ack, body, str(value) if value in self.topics() else None)
            else:
                await ack()  # no other field of the form sends anything before the submission
            return
        user_id = str(body["user"]["id"])
        if name == NEW_TICKET and (body.get("view") or {}).get("type") == "home":
            await ack()  # the App Home's "New ticket": the form, as /ticket alone opens it
            if body.get("trigger_id"):
                await self.open_form(user_id, str(body["trigger_id"]))
            return
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
            if (ticket is None and where.channel_id not in self.settings.channels.guarded
                    and not await self.moved(where, event.get("thread_ts"))):
                return  # neither a ticket's space, a guarded channel nor a moved thread: not the bot's business
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
        elif first in self.ports.desk.command_groups():
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

    async def on_subteam_members_changed(self, event: dict[str, Any]) -> None:
        """Somebody joined or left a user group: acknowledged at once, the roles updated right after."""
        self.spawn(self.guarded(self.groups.on_members_changed(event), "a user group change"))

    async def on_subteam_updated(self, event: dict[str, Any]) -> None:
        self.spawn(self.guarded(self.groups.on_updated(event), "a user group update"))

    async def guarded(self, work: Coroutine[Any, Any, object], what: str) -> None:
        try:
            await work
        except Exception as exc:
            # the next start (or Socket Mode reconnect) reads the groups in full again
            log.error("slack: storing failed", what=what, error=type(exc).__name__)
            log.debug("slack: storing failed", what=what, exc_info=True)

    async def on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            self.spawn(self.guarded(self.adapter.home.opened(str(event["user"])), "the App Home"))


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
    app.view(TICKET_FORM_ID)(ingress.on_form)
    app.action(re.compile(r".+"))(ingress.on_action)
    app.shortcut(MOVE_SHORTCUT)(ingress.on_move_shortcut)
    app.event("message")(ingress.on_message)
    app.event("app_mention")(ingress.on_mention)
    app.event("reaction_added")(ingress.on_reaction)
    app.event("app_home_opened")(ingress.on_home)
    app.event("subteam_members_changed")(ingress.on_subteam_members_changed)
    app.event("subteam_updated")(ingress.on_subteam_updated)
    return app
