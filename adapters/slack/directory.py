"""What the adapter knows about the workspace: the bot itself, the channels the config names
(``#support-duty`` ↔ ``C0123``), people's display names and their DM channels.

The core speaks in the config's channel names, so an event from a configured channel carries
its ``#name`` and a message to ``#name`` goes to its id. Other channels keep their ids.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import delivery_error
from bot.core.ports import DeliveryError
from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)

REFRESH_EVERY = 60.0       # a lookup miss refreshes the channel list at most this often
USER_CACHE = 5000
LOOKUP_TIMEOUT = 1.5       # users.info while an event waits for its ack


@dataclass(frozen=True)
class Channel:
    id: str
    name: str               # "#support-duty"
    is_private: bool


def configured_channels(settings: Settings) -> set[str]:
    """The ``#names`` of Slack channels the config mentions (duty, guarded, per-channel modes)."""
    names: set[str] = set()
    for entry in settings.channels.duty:
        platform, sep, channel = entry.partition(":")
        if sep and platform != "slack":
            continue
        names.add(channel if sep else entry)
    names.update(settings.channels.guarded)
    names.update(settings.channels.modes)
    return {name for name in names if name.startswith("#")}


class Directory:
    def __init__(self, client: AsyncWebClient, configured: set[str]) -> None:
        self.client = client
        self.configured = configured
        self.bot_user_id = ""
        self.bot_name = "dutydesk"
        self.team_id = ""
        self._by_name: dict[str, Channel] = {}
        self._by_id: dict[str, Channel] = {}
        self._refreshed_at = float("-inf")
        self._refresh_lock = asyncio.Lock()
        self._users: OrderedDict[str, str | None] = OrderedDict()
        self._dms: dict[str, str] = {}

    async def identify(self) -> None:
        """auth.test: who the bot is (raises SlackApiError on a bad token)."""
        auth = await self.client.auth_test()
        self.bot_user_id = str(auth.get("user_id") or "")
        self.bot_name = str(auth.get("user") or "dutydesk")
        self.team_id = str(auth.get("team_id") or "")

    async def refresh(self) -> None:
        """Reads the channel list (public channels and the private ones the bot is in)."""
        async with self._refresh_lock:
            by_name: dict[str, Channel] = {}
            cursor = None
            while True:
                page = await self.client.conversations_list(types="public_channel,private_channel",
                                                            exclude_archived=True, limit=1000, cursor=cursor)
                for raw in page.get("channels") or []:
                    channel = Channel(id=raw["id"], name=f"#{raw.get('name') or raw['id']}",
                                      is_private=bool(raw.get("is_private")))
                    by_name[channel.name] = channel
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
            self._by_name = by_name
            self._by_id = {c.id: c for c in by_name.values()}
            self._refreshed_at = time.monotonic()
            missing = sorted(self.configured - set(by_name))
            if missing:
                log.warning("slack: configured channels the bot cannot see; create them, or invite the bot to the "
                            "private ones", channels=sorted(missing))

    def name_of(self, channel_id: str) -> str:
        """``#name`` for a channel the config mentions, else the id itself."""
        channel = self._by_id.get(channel_id)
        return channel.name if channel is not None and channel.name in self.configured else channel_id

    def by_name(self, name: str) -> Channel | None:
        """The channel called ``#name`` as of the last refresh."""
        return self._by_name.get(name)

    async def lookup(self, name_or_id: str) -> Channel | None:
        """The channel called ``#name``, or with the id ``C0…`` (conversations.info where the list lacks it);
        None when the bot cannot see it."""
        if name_or_id.startswith("#"):
            return self._by_name.get(name_or_id)
        known = self._by_id.get(name_or_id)
        if known is not None:
            return known
        try:
            answer = await self.client.conversations_info(channel=name_or_id)
        except SlackApiError as exc:
            log.info("slack: conversations.info for a configured channel id failed: %s", type(exc).__name__)
            return None
        raw = answer.get("channel")
        if not isinstance(raw, dict) or "is_private" not in raw:
            return None
        return Channel(id=name_or_id, name=f"#{raw.get('name') or name_or_id}", is_private=bool(raw["is_private"]))

    def is_private(self, channel_id: str) -> bool | None:
        channel = self._by_id.get(channel_id)
        return channel.is_private if channel is not None else None

    async def id_of(self, name_or_id: str) -> str:
        """The id of ``#name``; ids pass through. Raises a permanent DeliveryError when no channel has the name."""
        if not name_or_id.startswith("#"):
            return name_or_id
        channel = self._by_name.get(name_or_id)
        if channel is None and time.monotonic() - self._refreshed_at > REFRESH_EVERY:
            try:
                await self.refresh()
            except SlackApiError as exc:
                raise delivery_error(exc, channel=name_or_id, bot=self.bot_name) from exc
            channel = self._by_name.get(name_or_id)
        if channel is None:
            raise DeliveryError(
                f"Slack: no channel {name_or_id} that the bot can see: create it, or if it is private invite the "
                f"bot with /invite @{self.bot_name}, or fix the name under [channels] in the config",
                permanent=True,
            )
        return channel.id

    def remember_user(self, user_id: str, name: str | None) -> None:
        if name:
            self._users[user_id] = name
            self._users.move_to_end(user_id)
            while len(self._users) > USER_CACHE:
                self._users.popitem(last=False)

    def cached_name(self, user_id: str) -> str | None:
        return self._users.get(user_id)

    async def display_name(self, user_id: str) -> str | None:
        """The person's display name (cached users.info; None when Slack does not answer quickly)."""
        if user_id in self._users:
            return self._users[user_id]
        try:
            answer = await asyncio.wait_for(self.client.users_info(user=user_id), LOOKUP_TIMEOUT)
        except (SlackApiError, TimeoutError, OSError) as exc:
            log.info("slack: users.info failed", error=type(exc).__name__)
            return None
        user = answer.get("user") or {}
        profile = user.get("profile") or {}
        name = profile.get("display_name") or user.get("real_name") or profile.get("real_name") or user.get("name")
        self.remember_user(user_id, name)
        return name

    async def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel with a person (conversations.open, remembered)."""
        channel = self._dms.get(user_id)
        if channel is None:
            answer = await self.client.conversations_open(users=user_id)
            channel = str(answer["channel"]["id"])
            self._dms[user_id] = channel
        return channel
