"""Composition root: settings → storage → desk → dispatcher, outbox and adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import Adapter
from bot import timers
from bot.clock import Clock, VirtualClock
from bot.desk import Desk
from bot.dispatcher import Dispatcher
from bot.i18n import t
from bot.outbox import OutboxSender, enqueue
from bot.people import sync_staff
from bot.settings import Settings
from bot.sla import service as sla_service
from bot.types import InboundEvent, Platform, Visibility
from commands import build_registry
from storage import migrate
from storage.db import is_sqlite, make_engine, make_sessionmaker
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


class StorageNotReady(Exception):
    """The database schema is behind the code; the message says what to run."""


@dataclass
class Bot:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    desk: Desk
    dispatcher: Dispatcher
    outbox: OutboxSender
    adapters: dict[Platform, Adapter] = field(default_factory=dict)

    async def handle(self, event: InboundEvent) -> bool:
        """Dispatches one event and delivers what is due (the simulator and the console wait for it)."""
        new = await self.dispatcher.handle(event)
        await timers.fire_due(self.desk)
        await self.outbox.drain()
        return new

    async def run_until(self, clock: VirtualClock, until: datetime) -> None:
        """Lets a virtual clock run to ``until``, firing every timer at its own instant."""
        while True:
            due = await timers.next_due(self.desk)
            if due is None or due > until:
                break
            clock.set(max(due, clock.now()))
            await timers.fire_due(self.desk)
            await self.outbox.drain()
        clock.set(max(until, clock.now()))
        await self.outbox.drain()

    async def close(self) -> None:
        await self.engine.dispose()


async def prepare_storage(engine: AsyncEngine, *, upgrade: bool) -> None:
    """Embedded SQLite is upgraded in place; a shared database must be upgraded on purpose."""
    if upgrade or is_sqlite(engine):
        await migrate.upgrade(engine)
        return
    current, head = await migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise StorageNotReady(
            f"the database is at schema revision {current or 'none'}, the code needs {head}; "
            "run `dutydesk db upgrade --config FILE` first"
        )


async def build(
    settings: Settings,
    clock: Clock,
    adapters: list[Adapter],
    *,
    db_url: str | None = None,
    upgrade: bool = False,
) -> Bot:
    engine = make_engine(db_url or settings.storage.url)
    try:
        await prepare_storage(engine, upgrade=upgrade)
    except Exception:
        await engine.dispose()
        raise
    sessions = make_sessionmaker(engine)
    desk = Desk(settings=settings, clock=clock, sessions=sessions, registry=build_registry(),
                platforms={a.platform: a.capabilities for a in adapters})
    async with sessions.begin() as session:
        await sync_staff(session, settings, clock.now())
    await sla_service.refresh_open(desk)
    sender = OutboxSender(sessions, clock, {a.platform: a.send for a in adapters})
    bot = Bot(settings, clock, engine, desk, Dispatcher(desk, on_commit=sender.wakeup.set), sender,
              {a.platform: a for a in adapters})
    sender.on_dead = lambda row: report_dead(bot, row)
    return bot


async def report_dead(bot: Bot, row: OutboxMessage) -> None:
    """A message that could not be delivered is reported to the duty channels (never its content)."""
    if row.kind == "error" and row.target_kind == "channel":
        return  # a failing duty channel cannot be told about itself
    desk = bot.desk
    async with desk.sessions.begin() as session:
        for target in desk.duty_targets():
            enqueue(session, desk.clock.now(), target,
                    t(desk.language, "error.undelivered", id=row.id, kind=row.kind, reason=row.last_error or "?"),
                    kind="error", visibility=Visibility.PRIVATE, ticket=row.ticket_key)
