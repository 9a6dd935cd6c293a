"""The Slack test harness: the bot behind the real slack-bolt app on 127.0.0.1, driven by signed requests."""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_fake import FakeSlack, sign
from sqlalchemy import func, select

from adapters.slack.adapter import SlackAdapter
from adapters.slack.runtime import SlackRuntime
from bot.app import Bot
from bot.core.clock import VirtualClock
from bot.settings import Settings, settings_from_data

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
USER_TOKEN = "xoxp-admin-token"
PATH = "/slack/events"
START = datetime(2026, 11, 24, 14, 50, tzinfo=UTC)  # a Tuesday, 15:50 in Berlin

# trigger and event ids count across harnesses: a second bot on the same database sees new requests, not replays
REQUEST_NUMBERS = itertools.count(1)

DESK: dict[str, Any] = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en"},
    "people": {
        "anna": {"name": "Anna", "roles": ["agent", "lead"], "slack": "U0ANNA"},
        "ben": {"name": "Ben", "slack": "U0BEN"},
        "carla": {"name": "Carla", "roles": ["agent", "coordinator"], "slack": "U0CARLA", "language": "de"},
    },
    "channels": {"duty": ["#support-duty"], "guarded": ["#general"], "privacy_mode": "suggest"},
    "slack": {"mode": "http"},
}


def slack_settings(api_url: str, *, user_token: bool = False, **sections: Any) -> Settings:
    data = json.loads(json.dumps(DESK))
    data["slack"]["api_base_url"] = api_url
    data.update(sections)
    env = {"DUTYDESK_SLACK__BOT_TOKEN": BOT_TOKEN, "DUTYDESK_SLACK__SIGNING_SECRET": SECRET,
           "DUTYDESK_SLACK__APP_TOKEN": APP_TOKEN}
    if user_token:
        env["DUTYDESK_SLACK__USER_TOKEN"] = USER_TOKEN
    return settings_from_data(data, "(slack test desk)", env=env)


class SlackHarness:
    """The bot behind its Slack endpoint, and ways to talk to it like Slack does."""

    def __init__(self, fake: FakeSlack, bot: Bot, adapter: SlackAdapter, runtime: SlackRuntime, clock: VirtualClock,
                 url: str, http: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.bot = bot
        self.adapter = adapter
        self.runtime = runtime
        self.clock = clock
        self.url = url
        self.http = http

    def _next(self) -> int:
        return next(REQUEST_NUMBERS)

    async def post(self, body: str, content_type: str, *, secret: str = SECRET, timestamp: int | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:
        signed = sign(secret, body, timestamp)
        async with self.http.post(self.url, data=body.encode(),
                                  headers={"Content-Type": content_type, **signed, **(headers or {})}) as response:
            return response.status, await response.text()

    async def command(self, text: str = "", *, command: str = "/ticket", user: str = "U0REQ",
                      user_name: str = "rita", channel: str = "C0GEN", channel_name: str = "general",
                      **kwargs: Any) -> tuple[int, str]:
        """A slash command, form-encoded as Slack sends it."""
        n = self._next()
        form = {
            "token": "legacy-verification-token", "team_id": "T0TEAM", "team_domain": "example",
            "channel_id": channel, "channel_name": channel_name, "user_id": user, "user_name": user_name,
            "command": command, "text": text, "api_app_id": "A0APP", "is_enterprise_install": "false",
            "response_url": self.fake.response_url(), "trigger_id": f"{n}.13345224609.738474920.8088930838d88f008e0",
        }
        return await self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None,
                    **kwargs: Any) -> tuple[int, str]:
        """An Events API ``event_callback`` envelope (JSON)."""
        event_id = event_id or f"Ev{self._next():08d}"
        body = json.dumps({
            "token": "legacy-verification-token", "team_id": "T0TEAM", "api_app_id": "A0APP", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0TEAM", "user_id": "U0BOT", "is_bot": True}],
            "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.post(body, "application/json", headers=headers, **kwargs)

    async def interactive(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        """Interactivity: the JSON in a form field ``payload``."""
        payload.setdefault("trigger_id", f"{self._next()}.98765.abcdef")
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)

    async def settle(self) -> None:
        """Waits for the events in processing, then delivers everything that is due."""
        await self.runtime.ingress.idle()
        await self.bot.outbox.drain()
        await self.runtime.ingress.idle()

    async def rows(self, model: type, *where: Any, order: Any = None) -> list[Any]:
        async with self.bot.desk.sessions() as session:
            stmt = select(model).where(*where)
            if order is not None:
                stmt = stmt.order_by(order)
            return list((await session.scalars(stmt)).all())

    async def count(self, model: type, *where: Any) -> int:
        async with self.bot.desk.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


Factory = Callable[..., Awaitable[SlackHarness]]
