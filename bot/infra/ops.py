"""Operations over HTTP: ``GET /healthz`` and ``GET /metrics`` (Prometheus), served by aiohttp on
``[ops] host/port`` while ``dutydesk run`` runs, and nowhere else: they tell ticket counts, queue depth
and the database and cost a query per call, so they stay off the Slack HTTP port the internet reaches
(``[ops] host`` is loopback by default; give it another interface only towards monitoring).

``/healthz`` answers 200 with ``"status": "ok"`` when the database answers, 503 with
``"status": "down"`` when it does not; the body tells the outbox depth (pending, due, dead, age of the
oldest), the unhandled events in the inbox, when the last event arrived and when each platform last
synced (adapters report that to :class:`Health`, their health port), and which platforms' syncs are stale
(``sync_stale``: none for ``SYNC_STALE_AFTER``). It never shows message content.

With ``[ops] token`` (``DUTYDESK_OPS__TOKEN``, for an ops listener beyond loopback) ``/metrics`` answers 401
and ``/healthz`` only ``{"status": …}`` with its code unless the request carries ``Authorization: Bearer
TOKEN``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from bot.core.features import Hook
from bot.infra import metrics
from storage.models import OutboxMessage, ProcessedEvent

if TYPE_CHECKING:
    from bot.app import Bot

log = structlog.stdlib.get_logger(__name__)

BOT_KEY = web.AppKey("dutydesk_bot", object)
# features that serve more on the ops listener (the duty calendar feeds, bot/reports/feed.py): (app, desk)
ROUTES: Hook[Callable[[web.Application, Any], None]] = Hook("ops.routes")
TOKEN_KEY: web.AppKey[str | None] = web.AppKey("dutydesk_ops_token")
# a platform whose last sync is older than this is reported in ``sync_stale``: a Matrix /sync long poll
# returns within 30 s, so a working sync loop reports several times in this span
SYNC_STALE_AFTER = timedelta(seconds=90)


class Health:
    """The health port of one bot (bot/core/ports.py): adapters report their platform's syncs here."""

    def __init__(self) -> None:
        # platform → when its adapter last synced with the platform (a Matrix /sync)
        self.last_sync: dict[str, datetime] = {}
        # platforms whose intake fails right now (the duty channels were told)
        self.failing: set[str] = set()
        self.tell: Callable[[str, bool], Awaitable[None]] | None = None

    def synced(self, platform: str, at: datetime) -> None:
        self.last_sync[platform] = at

    def not_syncing(self, platform: str) -> None:
        self.last_sync.pop(platform, None)

    async def trouble(self, platform: str, failing: bool) -> None:
        """A platform's intake stopped working (``failing``) or works again: ``tell`` (the duty channels, set by
        bot.app) hears it once each way, not at every retry."""
        if failing == (platform in self.failing):
            return
        (self.failing.add if failing else self.failing.discard)(platform)
        if self.tell is None:
            return
        try:
            await self.tell(platform, failing)
        except Exception as exc:
            log.warning("health: could not tell the duty channels", platform=platform, error=type(exc).__name__)
            (self.failing.discard if failing else self.failing.add)(platform)   # told at the next change


def stale_syncs(bot: Bot, now: datetime) -> list[str]:
    """This bot's platforms whose sync loop has not completed a sync for ``SYNC_STALE_AFTER`` (the
    homeserver is away, or the loop hangs). Not a 503: restarting the bot does not bring a homeserver
    back, and the loop catches up by itself from its stored token."""
    return sorted(p.value for p in bot.adapters
                  if (at := bot.health.last_sync.get(p.value)) is not None and now - at > SYNC_STALE_AFTER)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def health(bot: Bot) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``/healthz``; also refreshes the database gauges of ``/metrics``."""
    now = bot.clock.now()
    body: dict[str, Any] = {"status": "ok", "time": _iso(now), "database": {"ok": True},
                            "sync_stale": stale_syncs(bot, now)}
    started = time.perf_counter()
    try:
        async with bot.desk.sessions() as session:
            pending, oldest = (await session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending")
            )).one()
            due = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now))
            dead = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "dead"))
            unhandled = await session.scalar(select(func.count()).select_from(ProcessedEvent).where(
                ProcessedEvent.status == "received"))
            last_event = await session.scalar(
                select(ProcessedEvent.received_at).where(ProcessedEvent.status == "done")
                .order_by(ProcessedEvent.received_at.desc()).limit(1))
    except Exception as exc:
        metrics.DATABASE_UP.set(0)
        log.warning("ops: healthz, the database did not answer", error=type(exc).__name__)
        body.update(status="down", database={"ok": False, "error": type(exc).__name__})
        return 503, body
    metrics.DATABASE_UP.set(1)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    metrics.OUTBOX_DEPTH.set(pending)
    metrics.OUTBOX_DEAD.set(dead or 0)
    metrics.OUTBOX_OLDEST.set(age)
    metrics.INBOX_UNHANDLED.set(unhandled or 0)
    body["database"] = {"ok": True, "dialect": bot.engine.dialect.name,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    body["outbox"] = {"pending": pending, "due": due or 0, "dead": dead or 0, "oldest_pending_seconds": round(age, 1)}
    body["inbox"] = {"unhandled": unhandled or 0}
    body["last_event_at"] = _iso(last_event)
    body["last_sync"] = {platform: _iso(at) for platform, at in sorted(bot.health.last_sync.items())}
    body["platforms"] = sorted(p.value for p in bot.adapters)
    return 200, body


async def _scrape_features(bot: Bot) -> None:
    """The gauges features read at scrape time (the queue's, bot/reports/gauges.py); one failing is logged and
    leaves its gauges as they were, the rest of /healthz and /metrics answers."""
    for scrape in bot.desk.features.hooked(metrics.SCRAPE):
        try:
            async with bot.desk.sessions() as session:
                await scrape(session, bot.desk)
        except Exception as exc:
            log.warning("ops: a gauge could not be read", gauge=getattr(scrape, "__qualname__", "?"),
                        error=type(exc).__name__)


def _authorized(request: web.Request) -> bool:
    """Whether the request may see the details: no ``[ops] token`` set, or ``Authorization: Bearer TOKEN``."""
    token: str | None = request.app[TOKEN_KEY]
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def _healthz(request: web.Request) -> web.Response:
    status, body = await health(request.app[BOT_KEY])  # type: ignore[arg-type]
    if not _authorized(request):
        # probes without the token (an orchestrator's, the image's HEALTHCHECK) still learn up or down
        body = {"status": body["status"]}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def _metrics(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.Response(status=401, text="a bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
    bot: Bot = request.app[BOT_KEY]  # type: ignore[assignment]
    status, _ = await health(bot)  # the database gauges, read now
    if status == 200:
        await _scrape_features(bot)  # not on /healthz: probes come often, the queue's gauges cost queries
    response = web.Response(body=generate_latest(metrics.REGISTRY))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_routes(app: web.Application, bot: Bot, token: str | None = None) -> None:
    """Mounts ``/healthz`` and ``/metrics`` of ``bot`` on ``app`` (before the app starts); with ``token``,
    ``/metrics`` and the details of ``/healthz`` need it as a bearer token."""
    app[BOT_KEY] = bot
    app[TOKEN_KEY] = token or None
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    for mount in bot.desk.features.hooked(ROUTES):
        mount(app, bot.desk)


class OpsServer:
    def __init__(self, bot: Bot, token: str | None = None) -> None:
        self.bot = bot
        self.token = token
        self.runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> int | None:
        """Serves the endpoints; returns the port, or None when it cannot listen (the bot runs on)."""
        app = web.Application()
        add_routes(app, self.bot, self.token)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            log.warning("ops: cannot listen, /healthz and /metrics are off", host=host, port=port, error=exc.strerror)
            return None
        self.runner = runner
        self.port = int(runner.addresses[0][1]) if runner.addresses else port
        log.info("ops: serving /healthz and /metrics", host=host, port=self.port)
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
