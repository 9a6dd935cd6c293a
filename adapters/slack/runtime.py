"""The Slack runtime of `dutydesk run`: Socket Mode (default) or HTTP mode.

``start`` binds the adapter to the core's ports, reads the watched user groups and opens the
socket or the HTTP endpoint. Shutdown order (bot/app.py, ``serve``): ``stop`` closes the socket or
the HTTP site and lets the events being processed finish; the bot's background (outbox, timers,
scheduler) then drains and stops; ``close`` ends the HTTP session last. Whatever did not finish
stays in the inbox and the outbox and resumes on the next start.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from adapters.slack import endpoint
from adapters.slack.adapter import SlackAdapter
from adapters.slack.app import SlackIngress, create_app
from adapters.slack.errors import error_code, hint
from bot.core.ports import Ports
from bot.core.types import OutboundMessage, Platform, Removal
from bot.settings import ConfigError, Settings

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.core.clock import Clock

log = structlog.stdlib.get_logger(__name__)

SHUTDOWN_GRACE = 10.0


class SlackRuntime:
    """The bolt app of one bot, served over HTTP or a Socket Mode connection (a bot/core/ports.py Runtime)."""

    platform = Platform.SLACK

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter
        self.capabilities = adapter.capabilities
        self.ingress: SlackIngress | None = None
        self.app: AsyncApp | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self.socket: AsyncSocketModeHandler | None = None
        self._signing_secret: str | None = None
        self._greeted = False

    async def send(self, message: OutboundMessage) -> str | None:
        return await self.adapter.send(message)

    async def remove(self, removal: Removal) -> str | None:
        return await self.adapter.remove(removal)

    def bind(self, ports: Ports) -> SlackIngress:
        """The adapter and the bolt app on the core's ports."""
        if self.ingress is None:
            self.adapter.bind(ports)
            self.ingress = SlackIngress(ports, self.adapter)
            secret = ports.settings.slack.signing_secret
            self._signing_secret = secret.get_secret_value() if secret else None
            self.app = create_app(self.ingress, signing_secret=self._signing_secret)
        return self.ingress

    async def start(self, ports: Ports) -> str:
        """Takes requests in the mode of ``[slack]``; returns what the ready line says."""
        self.bind(ports)
        slack = ports.settings.slack
        if slack.mode == "http":
            port = await self.start_http(slack.host, slack.port, slack.path)
            ready = f"HTTP mode on {slack.host}:{port}{slack.path}"
        else:
            assert slack.app_token is not None  # the config check demands it in socket mode
            await self.start_socket(slack.app_token.get_secret_value())
            ready = "Socket Mode"
        return f"Slack as @{self.adapter.directory.bot_name} ({ready})"

    def web_app(self, path: str) -> web.Application:
        """The HTTP endpoint: POST ``path`` (events, commands, interactivity) and nothing else; /healthz and
        /metrics are on the [ops] listener only (adapters/slack/endpoint.py)."""
        assert self.app is not None
        return endpoint.web_app(path, self._signing_secret, self.app.async_dispatch)

    async def start_http(self, host: str, port: int, path: str) -> int:
        """Serves the endpoint; returns the port it listens on (useful with port 0)."""
        await self.sync_groups()
        self._runner = web.AppRunner(self.web_app(path), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1] if self._runner.addresses else port
        log.info("slack: HTTP mode, listening", host=host, port=bound, path=path)
        self.port = int(bound)
        return self.port

    async def start_socket(self, app_token: str) -> None:
        await self.sync_groups()
        assert self.app is not None, "bind() first"
        self.socket = AsyncSocketModeHandler(self.app, app_token, web_client=self.adapter.client)
        self.socket.client.message_listeners.append(self._on_socket_message)
        await self.socket.connect_async()
        log.info("slack: Socket Mode connected")

    async def sync_groups(self) -> None:
        """At start: the members of the ``[access] slack_groups`` user groups (ConfigError, with the scope or
        group id to fix, when Slack refuses for a reason no retry fixes)."""
        assert self.ingress is not None, "bind() or start() first"
        if self.ingress.groups.watched:
            await self.ingress.groups.sync_all(strict=True)

    async def _on_socket_message(self, _client: Any, message: dict[str, Any], _raw: str | None) -> None:
        """Every Socket Mode (re)connection starts with "hello": after a reconnect, group changes may have
        been missed while the socket was down, so the groups are read in full again."""
        ingress = self.ingress
        if ingress is None or message.get("type") != "hello" or not ingress.groups.watched:
            return
        if not self._greeted:
            self._greeted = True  # the first connection: sync_groups ran just before it
            return
        ingress.spawn(ingress.guarded(ingress.groups.sync_all(), "the user groups after a reconnect"))

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stops taking requests, then lets the events in processing finish."""
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close_async()
            self.socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.ingress is not None:
            await self.ingress.drain(grace)

    async def close(self) -> None:
        await self.adapter.close()


async def connect(settings: Settings, clock: Clock) -> SlackRuntime:
    """The runtime, its adapter started: token checked, channels read (ConfigError with what to fix when
    it can't)."""
    adapter = SlackAdapter(settings, clock)
    try:
        await adapter.start()
    except SlackApiError as exc:
        await adapter.close()
        raise ConfigError([f"{settings.source}: slack: {hint(error_code(exc), exc)}"]) from None
    except OSError as exc:
        await adapter.close()
        raise ConfigError([f"{settings.source}: slack.api_base_url: cannot reach {settings.slack.api_base_url} "
                           f"({type(exc).__name__})"]) from None
    return SlackRuntime(adapter)
