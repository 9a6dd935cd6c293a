"""Running the Slack side of `dutydesk run`: Socket Mode (default) or HTTP mode, until SIGTERM/SIGINT.

Shutdown order: stop taking requests (close the socket / the HTTP site), let the events that
are being processed finish, then the bot's background (outbox, timers, scheduler) drains and
stops. Whatever did not finish stays in the inbox and the outbox and resumes on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from adapters.slack.adapter import SlackAdapter
from adapters.slack.app import SlackIngress, create_app
from adapters.slack.errors import error_code, hint
from bot.infra import ops
from bot.settings import ConfigError, Settings

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.core.clock import Clock

log = structlog.stdlib.get_logger(__name__)

SHUTDOWN_GRACE = 10.0


class SlackRuntime:
    """The bolt app of one bot, served over HTTP or a Socket Mode connection."""

    def __init__(self, bot: Bot, adapter: SlackAdapter, *, recover_every: float | None = 30.0) -> None:
        adapter.bind(bot.desk.sessions)
        self.bot = bot
        self.adapter = adapter
        self.ingress = SlackIngress(bot, adapter)
        secret = bot.settings.slack.signing_secret
        self.app = create_app(self.ingress, signing_secret=secret.get_secret_value() if secret else None)
        self.recover_every = recover_every
        self._runner: web.AppRunner | None = None
        self.socket: AsyncSocketModeHandler | None = None
        self._recover: asyncio.Task[None] | None = None
        self._greeted = False

    def web_app(self, path: str) -> web.Application:
        """The HTTP endpoint: POST ``path`` (events, commands, interactivity), GET /healthz and /metrics
        (bot/infra/ops.py, the same as on the [ops] port)."""

        async def slack(request: web.Request) -> web.Response:
            response = await self.app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)

        app = web.Application()
        app.router.add_post(path, slack)
        ops.add_routes(app, self.bot)
        return app

    def _start_recovery(self) -> None:
        if self.recover_every is not None and self._recover is None:
            self._recover = asyncio.get_running_loop().create_task(self.ingress.recover_loop(self.recover_every))

    async def start_http(self, host: str, port: int, path: str) -> int:
        """Serves the endpoint; returns the port it listens on (useful with port 0)."""
        await self.sync_groups()
        self._runner = web.AppRunner(self.web_app(path), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._start_recovery()
        bound = self._runner.addresses[0][1] if self._runner.addresses else port
        log.info("slack: HTTP mode, listening", host=host, port=bound, path=path)
        return int(bound)

    async def start_socket(self, app_token: str) -> None:
        await self.sync_groups()
        self.socket = AsyncSocketModeHandler(self.app, app_token, web_client=self.adapter.client)
        self.socket.client.message_listeners.append(self._on_socket_message)
        await self.socket.connect_async()
        self._start_recovery()
        log.info("slack: Socket Mode connected")

    async def sync_groups(self) -> None:
        """At start: the members of the ``[access] slack_groups`` user groups (ConfigError, with the scope or
        group id to fix, when Slack refuses for a reason no retry fixes)."""
        if self.ingress.groups.watched:
            await self.ingress.groups.sync_all(strict=True)

    async def _on_socket_message(self, _client: object, message: dict, _raw: str) -> None:
        """Every Socket Mode (re)connection starts with "hello": after a reconnect, group changes may have
        been missed while the socket was down, so the groups are read in full again."""
        if message.get("type") != "hello" or not self.ingress.groups.watched:
            return
        if not self._greeted:
            self._greeted = True  # the first connection: sync_groups ran just before it
            return
        self.ingress.spawn(self.ingress.guarded(self._resync(), "the user groups after a reconnect"))

    async def _resync(self) -> None:
        await self.ingress.groups.sync_all()

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stops taking requests, then lets the events in processing finish."""
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close_async()
            self.socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._recover is not None:
            self._recover.cancel()
            await asyncio.gather(self._recover, return_exceptions=True)
            self._recover = None
        await self.ingress.drain(grace)


async def connect(settings: Settings, clock: Clock) -> SlackAdapter:
    """The adapter, started: token checked, channels read (ConfigError with what to fix when it can't)."""
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
    return adapter


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """`dutydesk run` with Slack: returns when SIGTERM or SIGINT arrives (or ``stop`` is set)."""
    from bot.app import build
    from bot.core.clock import SystemClock

    clock = SystemClock()
    adapter = await connect(settings, clock)
    bot = await build(settings, clock, [adapter])
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runtime = SlackRuntime(bot, adapter)
    try:
        async with bot.background():
            slack = settings.slack
            if slack.mode == "http":
                port = await runtime.start_http(slack.host, slack.port, slack.path)
                ready = f"HTTP mode on {slack.host}:{port}{slack.path}"
            else:
                assert slack.app_token is not None  # the config check demands it in socket mode
                await runtime.start_socket(slack.app_token.get_secret_value())
                ready = "Socket Mode"
            print(f"dutydesk: running on Slack as @{adapter.directory.bot_name} ({ready}); "
                  "stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
            try:
                await stop.wait()
            finally:
                await runtime.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await adapter.close()
        await bot.close()
    return 0
