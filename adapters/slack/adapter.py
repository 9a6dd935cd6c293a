"""The Slack adapter: delivers outbox messages through the Web API.

Called by the outbox sender only, one message at a time. Each send is one message: an
ephemeral note (``chat.postEphemeral``), a DM (``conversations.open`` + ``chat.postMessage``), a
channel message or a message in a ticket's private channel (created on first use). A message with
files (the report's chart) is uploaded the ``files_upload_v2`` way and shared with its text as
the comment: one message (see :meth:`SlackAdapter._upload`). A
per-channel limiter keeps to Slack's ~1 message per second; a 429 that the SDK's own retry
did not absorb becomes ``DeliveryError(retry_after=…)``; errors no retry can fix become
permanent ones whose reason says what to change.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import render
from adapters.slack.directory import Directory, configured_channels
from adapters.slack.errors import delivery_error, error_code
from adapters.slack.home import AppHome
from adapters.slack.ratelimit import ChannelRateLimiter
from adapters.slack.spaces import TicketSpaces
from bot.core.clock import Clock
from bot.core.ports import DeliveryError, Ports
from bot.core.types import URGENT_KINDS, Capability, MessageKind, OutboundMessage, Platform, Removal, split
from bot.settings import ConfigError, Settings

log = structlog.stdlib.get_logger(__name__)

CAPABILITIES = frozenset({Capability.EPHEMERAL, Capability.MODALS, Capability.BUTTONS, Capability.THREADS,
                          Capability.REACTIONS, Capability.DMS, Capability.PRIVATE_ROOMS, Capability.SPACE_TOPICS,
                          Capability.ARCHIVE, Capability.MENTIONS})
RESPONSE_URL_TTL = 30 * 60.0     # Slack: a response_url works for 30 minutes …
RESPONSE_URL_USES = 5            # … and five times
# postEphemeral fails like this where the bot is not a member; the response_url or a DM still reach the person
# is_archived: the answer to the command that closed a ticket, in its channel archived meanwhile
EPHEMERAL_FALLBACK = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived"})
HTTP_TIMEOUT = 10
MARKED = re.compile("[\ue000-\ue002]")   # a text with the bot's own mentions (bot/core/mentions.py)
SPACE_MARK = "#"                          # … of a ticket's space (bot.core.mentions.SPACE)
SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 retry, but only for short waits: a long Retry-After goes back to the outbox,
    which reschedules that one row instead of holding every other delivery."""

    def __init__(self, max_retry_count: int = 1, max_wait: float = 2.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                try:
                    return float(values[0]) <= self.max_wait
                except (TypeError, ValueError, IndexError):
                    return False
        return True


def make_client(token: str, base_url: str, *, rate_limit_retries: int = 1, max_wait: float = 2.0) -> AsyncWebClient:
    """An AsyncWebClient that retries connection errors and short rate limits (429 + Retry-After)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=HTTP_TIMEOUT,
        retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2),
                        BoundedRateLimitRetryHandler(max_retry_count=rate_limit_retries, max_wait=max_wait)],
    )


@dataclass
class ResponseUrl:
    url: str
    user_id: str
    at: float
    uses: int = 0

    def usable(self, now: float) -> bool:
        return now - self.at < RESPONSE_URL_TTL and self.uses < RESPONSE_URL_USES


class SlackAdapter:
    platform = Platform.SLACK

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        limiter: ChannelRateLimiter | None = None,
        rate_limit_retries: int = 1,
    ) -> None:
        slack = settings.slack
        if slack.bot_token is None:
            raise ValueError("the Slack adapter needs DUTYDESK_SLACK__BOT_TOKEN")
        self.settings = settings
        self.clock = clock
        self.client = make_client(slack.bot_token.get_secret_value(), slack.api_base_url,
                                  rate_limit_retries=rate_limit_retries)
        self.user_client = (make_client(slack.user_token.get_secret_value(), slack.api_base_url,
                                        rate_limit_retries=rate_limit_retries)
                            if slack.user_token is not None else None)
        self.capabilities = CAPABILITIES | ({Capability.DELETE} if self.user_client is not None else frozenset())
        self.limiter = limiter or ChannelRateLimiter()
        self.directory = Directory(self.client, configured_channels(settings))
        self.spaces = TicketSpaces(self.client, self.user_client)
        self.spaces.language = settings.desk.language
        self.home = AppHome(self.client, settings)
        self.http: aiohttp.ClientSession | None = None
        # the ingress sets this: ordinary deliveries let the requests being received go first
        self.pace: Callable[[], Awaitable[None]] | None = None
        # (outbox row id, file position) → the Slack file id of a file uploaded by an attempt that did not finish
        self._uploaded: dict[tuple[int, int], str] = {}
        # (channel id, user id) → the latest response_url of that person there; channel id → its latest one
        self._response_urls: dict[tuple[str, str], ResponseUrl] = {}
        self._channel_urls: dict[str, ResponseUrl] = {}
        # outbox row id → its mentions resolved to Slack markup, while it is being sent
        self._links: dict[int, dict[str, str]] = {}

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Opens the HTTP session, learns who the bot is and which channels the config names."""
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
            self.client.session = self.http
            if self.user_client is not None:
                self.user_client.session = self.http
        await self.directory.identify()
        self.spaces.bot_name = self.directory.bot_name
        self.spaces.bot_user_id = self.directory.bot_user_id
        await self.directory.refresh()
        try:
            await self.refuse_public_duty_channels()
        except ConfigError:
            await self.close()
            raise

    async def refuse_public_duty_channels(self) -> None:
        """The duty channel shows ticket titles: a public one stops the start (ConfigError) with the reason, named
        as ``#name`` or given by its id (``C0…``, looked up when the channel list does not have it)."""
        problems = []
        for only, name in self.settings.channels.duty_entries():
            if only not in (None, "slack"):
                continue
            channel = await self.directory.lookup(name)
            if channel is not None and not channel.is_private:
                shown = name if name == channel.name else f"{name} ({channel.name})"
                problems.append(f"{self.settings.source}: channels.duty: the Slack channel {shown} is public, but "
                                "the duty channel shows ticket titles and must be private; convert it to a private "
                                "channel (channel settings) or name a private one")
        if problems:
            raise ConfigError(problems)

    def bind(self, ports: Ports) -> None:
        """Gives the adapter the core's ports (ticket spaces, their members) once the bot is built."""
        self.spaces.ports = ports
        self.home.ports = ports

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None

    # ----------------------------------------------------------------- response_url memory

    def remember_response_url(self, channel_id: str, user_id: str, url: str | None) -> None:
        if not url:
            return
        entry = ResponseUrl(url=url, user_id=user_id, at=time.monotonic())
        self._response_urls[(channel_id, user_id)] = entry
        self._channel_urls[channel_id] = entry
        if len(self._response_urls) > 5000:
            now = time.monotonic()
            self._response_urls = {k: v for k, v in self._response_urls.items() if v.usable(now)}
            self._channel_urls = {k: v for k, v in self._channel_urls.items() if v.usable(now)}

    async def tell(self, channel_id: str, user_id: str, text: str) -> bool:
        """A short ephemeral note to a person through their latest response_url in that channel."""
        entry = self._response_urls.get((channel_id, user_id))
        return entry is not None and await self._post_response_url(entry, render.escape(text), None)

    async def _post_response_url(self, entry: ResponseUrl, text: str, blocks: list[dict[str, Any]] | None) -> bool:
        if not entry.usable(time.monotonic()):
            return False
        entry.uses += 1
        webhook = AsyncWebhookClient(entry.url, session=self.http, timeout=HTTP_TIMEOUT)
        try:
            answer = await webhook.send(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("slack: response_url failed", error=type(exc).__name__)
            return False
        return answer.status_code == 200

    # ----------------------------------------------------------------- sending

    async def send(self, message: OutboundMessage) -> str | None:
        # a Prio-1 page and a receipt (what people wait for) do not let requests being received go first
        if self.pace is not None and message.kind not in URGENT_KINDS and message.kind != MessageKind.RECEIPT:
            await self.pace()
        try:
            if MARKED.search(message.text):
                self._links[message.id] = await self._resolve(message.text)
            return await self._send(message)
        except Exception as exc:
            error = delivery_error(exc, channel=self._where(message), bot=self.directory.bot_name)
            if error.permanent and isinstance(exc, SlackApiError):
                await self._tell_asker(message, error_code(exc), error.reason)
            raise error from exc
        finally:
            self._links.pop(message.id, None)

    async def _resolve(self, text: str) -> dict[str, str]:
        """The bot's mentions in ``text`` as Slack markup: a ``[people]`` key with a Slack account → ``<@U…>`` (their
        client notifies them), ``#HW-42`` → ``HW-42 <#C…>``, the ticket's private channel once it has one; anything
        else keeps its plain text."""
        links: dict[str, str] = {}
        for part in split(text):
            if isinstance(part, str) or part[0] in links:
                continue
            key, visible = part
            if key.startswith(SPACE_MARK):
                channel = await self.spaces.existing(key[len(SPACE_MARK):]) if self.spaces.ports else None
                if channel:  # the id stays readable: Slack shows a private channel's link to non-members unnamed
                    links[key] = f"{render.escape(visible)} <#{channel}>".lstrip()
                continue
            person = self.settings.people.get(key)
            if person is not None and person.slack and SLACK_ID.fullmatch(person.slack):
                links[key] = f"<@{person.slack}>"
        return links

    def _args(self, message: OutboundMessage) -> dict[str, Any]:
        return render.message_args(message, self._links.get(message.id))

    async def remove(self, removal: Removal) -> str | None:
        if self.pace is not None:
            await self.pace()
        try:
            return await self._remove(removal)
        except Exception as exc:
            raise delivery_error(exc, channel=self._where(removal), bot=self.directory.bot_name) from exc

    def _where(self, message: OutboundMessage | Removal) -> str | None:
        target = message.target
        if target.kind == "ticket":
            return f"the private channel of {target.ticket}"
        if target.kind == "dm":
            return "a direct message"
        return target.channel_id

    async def _send(self, message: OutboundMessage) -> str | None:
        target = message.target
        if target.kind == "ephemeral":
            if message.updates is not None:
                return message.updates  # an ephemeral note cannot be changed through the Web API; it fades anyway
            return await self._ephemeral(message)
        if target.kind == "dm":
            if not target.user_id:
                raise DeliveryError("a direct message without a user", permanent=True)
            channel = await self.directory.dm_channel(target.user_id)
        elif target.kind == "ticket":
            if not target.ticket:
                raise DeliveryError("a ticket message without a ticket", permanent=True)
            if message.space is not None:
                return await self._space(target.ticket, message)
            channel = await self.spaces.channel_for(target.ticket)
        elif not target.channel_id:
            raise DeliveryError("a channel message without a channel", permanent=True)
        else:
            channel = await self.directory.id_of(target.channel_id)
        if message.updates is not None:  # changed in place: a ticket's card, a message whose button was used
            await self.limiter.acquire(channel)
            await self.client.chat_update(channel=channel, ts=message.updates,
                                          **render.update_args(message, self._links.get(message.id)))
            return message.updates
        return await self._post(channel, message, thread_ts=target.thread_id if target.kind == "channel" else None)

    async def _space(self, ticket: str, message: OutboundMessage) -> str | None:
        """A closed ticket's channel: the goodbye, then it is archived; reopened: unarchived (or, where Slack
        refuses, a new channel), people invited; a new topic: set when it differs from the channel's."""
        channel = await self.spaces.existing(ticket)
        if message.space == "topic":  # state, priority or assignee changed: the topic, and its people's App Home
            if channel is not None:
                await self.limiter.acquire(channel)
                await self.spaces.set_topic(channel, message.text)
            await self.home.refresh(ticket)
            return channel
        if channel is None:
            return None  # the ticket never had a channel: nothing to archive or open
        if message.space == "unarchive":
            channel = await self.spaces.unarchive(ticket, channel)
            await self.spaces.channel_for(ticket)  # invites its people again
            return channel
        ts = await self._post(channel, message) if message.text else None
        await self.spaces.archive(channel)
        return ts or channel

    async def _post(self, channel: str, message: OutboundMessage, *, thread_ts: str | None = None) -> str | None:
        if message.files:
            return await self._upload(channel, message, thread_ts=thread_ts)
        await self.limiter.acquire(channel)
        answer = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                                    **self._args(message))
        return answer.get("ts")

    async def _upload(self, channel: str, message: OutboundMessage, *, thread_ts: str | None) -> str:
        """``files_upload_v2`` step by step: per file an upload URL (``files.getUploadURLExternal``) and its bytes
        POSTed there, then one ``files.completeUploadExternal`` that shares them in ``channel`` with the message's
        text as their comment (one message; buttons are not offered with files). A file uploaded by an attempt
        that failed later (say, a rate limit on the completion) is remembered, and the retry in this process shares
        it instead of uploading it again; after a restart it is uploaded anew (the unshared copy stays private to
        the bot). Slack knows no idempotency key for the completion: if it succeeded and the answer was lost, the
        retry shows the file twice, as a retried ``chat.postMessage`` would."""
        shared: list[dict[str, str | None]] = []
        for position, file in enumerate(message.files):
            key = (message.id, position)
            file_id = self._uploaded.get(key)
            if file_id is None:
                answer = await self.client.files_getUploadURLExternal(
                    filename=file.name, length=len(file.data), alt_txt=file.title[:1000] or None)
                file_id, url = str(answer["file_id"]), str(answer["upload_url"])
                await self._put(url, file.data)
                if len(self._uploaded) > 1000:  # rows that were given up on: forget the oldest
                    self._uploaded.pop(next(iter(self._uploaded)))
                self._uploaded[key] = file_id
            shared.append({"id": file_id, "title": file.title or file.name})
        await self.limiter.acquire(channel)
        text = self._args(message)["text"]
        await self.client.files_completeUploadExternal(files=shared, channel_id=channel, initial_comment=text,
                                                       thread_ts=thread_ts)
        for position in range(len(message.files)):
            self._uploaded.pop((message.id, position), None)
        return f"file:{shared[0]['id']}"

    async def _put(self, url: str, data: bytes) -> None:
        """The bytes of one file to the upload URL Slack gave for it (step 2 of ``files_upload_v2``)."""
        if self.http is None:
            raise DeliveryError("the Slack adapter is not started; retrying")
        async with self.http.post(url, data=data, headers={"Content-Type": "application/octet-stream"}) as answer:
            if answer.status != 200:
                raise DeliveryError(f"Slack did not take the file's bytes (HTTP {answer.status}); retrying")

    async def _ephemeral(self, message: OutboundMessage) -> str | None:
        target = message.target
        if not target.user_id or not target.channel_id:
            raise DeliveryError("an ephemeral message without a channel or user", permanent=True)
        if message.files:  # Slack shows no file to one person in a channel: the direct chat instead
            return await self._post(await self.directory.dm_channel(target.user_id), message)
        args = self._args(message)
        try:
            channel = await self.directory.id_of(target.channel_id)
            answer = await self.client.chat_postEphemeral(channel=channel, user=target.user_id,
                                                          thread_ts=target.thread_id, **args)
            return answer.get("message_ts")
        except SlackApiError as exc:
            if error_code(exc) not in EPHEMERAL_FALLBACK:
                raise
            channel = await self.directory.id_of(target.channel_id)
        # the bot is not in that channel: the command's response_url still reaches the person there, else a DM
        entry = self._response_urls.get((channel, target.user_id))
        if entry is not None and await self._post_response_url(entry, args["text"], args.get("blocks")):
            return f"response_url:{message.id}"
        dm = await self.directory.dm_channel(target.user_id)
        return await self._post(dm, message)

    async def _remove(self, removal: Removal) -> str | None:
        """Removes a person's public message (the privacy move) with the admin's user token."""
        if self.user_client is None:
            raise DeliveryError("Slack: removing other people's messages needs a workspace admin's user token: set "
                                "DUTYDESK_SLACK__USER_TOKEN (user scope chat:write)", permanent=True)
        ts = removal.message_id
        channel = await self.directory.id_of(removal.target.channel_id or "")
        try:
            await self.user_client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            if error_code(exc) != "message_not_found":  # already gone
                raise
        return ts

    async def _tell_asker(self, message: OutboundMessage, code: str, reason: str) -> None:
        """A reply that cannot reach a channel: tell the person who asked there, through their response_url."""
        target = message.target
        if target.kind != "channel" or code not in ("not_in_channel", "channel_not_found", "is_archived"):
            return
        try:
            channel = await self.directory.id_of(target.channel_id or "")
        except DeliveryError:
            channel = target.channel_id or ""
        entry = self._channel_urls.get(channel)
        if entry is not None:
            await self._post_response_url(entry, render.escape(reason), None)
