"""Composition root: settings → storage → desk → dispatcher, outbox and adapters."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.access.groups import GroupMembership
from bot.access.people import sync_staff
from bot.core.clock import Clock, VirtualClock
from bot.core.desk import Desk
from bot.core.dispatcher import Dispatcher, reference
from bot.core.inbox import Inbox
from bot.core.ports import Ports, Runtime, Sender
from bot.core.types import Capability, InboundEvent, MessageKind, OutboundMessage, Platform, Visibility
from bot.features import install
from bot.i18n import t
from bot.infra import metrics, timers
from bot.infra.leader import LeaderLease, replica_name, timing
from bot.infra.ops import Health, OpsServer
from bot.infra.outbox import OutboxSender, enqueue, is_removal
from bot.infra.scheduler import Scheduler
from bot.infra.supervise import stop as stop_loop
from bot.infra.supervise import supervise
from bot.settings import Settings
from bot.sla import service as sla_service
from bot.tickets import service as ticket_service
from bot.tickets.form import TicketFormModel
from bot.tickets.reads import TicketReadModel
from storage import maintenance, migrate
from storage.db import is_sqlite, make_engine, make_sessionmaker
from storage.errors import StorageNotReady, StorageUnavailable, unavailable
from storage.models import OutboxMessage
from storage.platform_state import StateStore

log = structlog.stdlib.get_logger(__name__)
assert metrics.REGISTRY  # imported for its listeners: counters follow commits


@dataclass
class Bot:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    desk: Desk
    dispatcher: Dispatcher
    outbox: OutboxSender
    scheduler: Scheduler
    inbox: Inbox
    adapters: dict[Platform, Sender] = field(default_factory=dict)
    # when a virtual clock drives this bot (run_until), the scheduler counts as running from here
    started_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    timers_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _driven: bool = False
    health: Health = field(default_factory=Health)
    # set by a signal, or by a runtime whose intake ended (the console's last line): `dutydesk run` stops
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @functools.cached_property
    def ports(self) -> Ports:
        """What the adapters may use of this bot (bot/core/ports.py)."""
        desk, settings = self.desk, self.settings
        return Ports(settings=settings, clock=self.clock, inbox=self.inbox, health=self.health,
                     state=StateStore(desk.sessions), tickets=TicketReadModel(desk.sessions, self.clock),
                     groups=GroupMembership(desk.sessions, settings, self.clock), form=TicketFormModel(settings),
                     desk=desk, lease=lambda name: LeaderLease(desk.sessions, self.clock, name, **timing(settings)),
                     request_stop=lambda: self.stopping.set())

    async def handle(self, event: InboundEvent) -> bool:
        """Dispatches one event and delivers what is due (the simulator and the console wait for it).

        When the database is away the person is told at once, past the outbox (which lives in that
        database): whether to send it again, or that it is stored and will be handled when it is back.
        """
        try:
            new = await self.dispatcher.handle(event)
        except StorageUnavailable as exc:
            await self.tell_unavailable(event, accepted=exc.accepted)
            return exc.accepted
        try:
            await timers.fire_due(self.desk)
            await self.outbox.drain()
        except Exception as exc:
            if not unavailable(exc):
                raise
            # what is due stays in the database; the timer loop and the outbox sender try again
            log.warning("delivery: deferred, the database is unavailable", error=type(exc).__name__)
        return new

    async def tell_unavailable(self, event: InboundEvent, *, accepted: bool) -> None:
        adapter = self.adapters.get(event.actor.platform)
        if adapter is None:
            return
        key = "error.storage_later" if accepted else "error.storage_not_saved"
        digest = hashlib.sha256(f"unavailable:{event.idempotency_key}".encode()).hexdigest()
        message = OutboundMessage(
            # not an outbox row: a negative id, the same for the same event, is its idempotency key
            id=-int(digest[:12], 16), target=self.dispatcher._dm_or_ephemeral(event),
            text=t(self.desk.language, key, ref=reference(event.idempotency_key)), kind=MessageKind.ERROR,
            visibility=Visibility.EPHEMERAL,
        )
        try:
            await adapter.send(message)
        except Exception:
            log.warning("delivery: could not tell of the database outage", platform=event.actor.platform.value)

    async def maintenance_loop(self, every: float = 3600.0) -> None:
        """Planner statistics on SQLite (storage/maintenance.py), at start and then every hour."""

        async def one_pass() -> None:
            await maintenance.analyze(self.engine)

        await supervise("maintenance: database statistics", one_pass, every=every)

    async def run_until(self, clock: VirtualClock, until: datetime) -> None:
        """Lets a virtual clock run to ``until`` through the production code: at each instant where APScheduler
        would fire a job, the scheduler's fire path (``Scheduler.fire``, as APScheduler calls it); at each
        timer's due instant, a pass of the timer loop (``timer_pass``)."""
        if not self._driven:
            self.scheduler.running_since(self.started_at)
            self._driven = True
        while True:
            timer_due = await timers.next_due(self.desk)
            fire = self.scheduler.next_fire()
            job_due = fire[0] if fire is not None and fire[0] <= until else None
            if (timer_due is None or timer_due > until) and job_due is None:
                break
            if job_due is not None and (timer_due is None or job_due <= timer_due):
                clock.set(max(job_due, clock.now()))
                for job_id in fire[1]:  # type: ignore[index]
                    await self.scheduler.fire(job_id, job_due)
            else:
                assert timer_due is not None  # no job due, so a timer is
                clock.set(max(timer_due, clock.now()))
                await self.timer_pass()
            await self.outbox.drain()
        clock.set(max(until, clock.now()))
        await self.outbox.drain()

    async def timer_pass(self) -> datetime | None:
        """One pass of the timer loop: fires the timers due now, delivers what they wrote, and says when the next one
        is due. Most passes are woken by a commit that wrote no timer due yet: they ask only when the next one is due
        (one query instead of four; the commit woke the outbox's sender for its own messages)."""
        due = await timers.next_due(self.desk)
        if due is None or due > self.clock.now():
            return due
        if await timers.fire_due(self.desk):
            await self.outbox.drain()
        return await timers.next_due(self.desk)

    async def timer_loop(self, poll: float = 30.0) -> None:
        """Production: fires per-ticket timers at their due instants (woken early by new commits)."""

        async def one_pass() -> float:
            due = await self.timer_pass()
            return poll if due is None else min(poll, max((due - self.clock.now()).total_seconds(), 0.05))

        await supervise("timers: timer pass", one_pass, every=poll, wake=self.timers_wakeup)

    @contextlib.asynccontextmanager
    async def background(self) -> AsyncIterator[None]:
        """Runs the outbox sender, the timer loop and the scheduler while the body runs."""
        token = self.settings.ops.token
        ops = OpsServer(self, token.get_secret_value() if token else None) if self.settings.ops.enabled else None
        if ops is not None:
            await ops.start(self.settings.ops.host, self.settings.ops.port)
        await self.inbox.recover()
        await self.scheduler.catch_up()
        sender = asyncio.create_task(self.outbox.run(), name="outbox")
        tasks = [asyncio.create_task(self.timer_loop(), name="timers"),
                 # [ha] recover_every / recover_after: also what a dead replica left unhandled
                 asyncio.create_task(self.inbox.recover_loop(), name="recover"),
                 asyncio.create_task(self.maintenance_loop(), name="maintenance")]
        self.scheduler.start()
        try:
            yield
        finally:
            await self.scheduler.stop()
            # stop, not a single cancel: a loop whose wait_for was woken as the cancellation came would go on
            await asyncio.gather(*(stop_loop(task) for task in tasks), return_exceptions=True)
            await self.outbox.stop(sender)
            await self.outbox.drain()
            if ops is not None:
                await ops.stop()

    async def close(self) -> None:
        await self.engine.dispose()


async def prepare_storage(engine: AsyncEngine, *, upgrade: bool) -> None:
    """Embedded SQLite is upgraded in place; a shared database must be upgraded on purpose."""
    if upgrade or is_sqlite(engine):
        await migrate.upgrade(engine)
        return
    current, head = await migrate.current_revision(engine), migrate.head_revision()
    if migrate.pending(current):  # SchemaAhead when a newer release upgraded it: that one must run
        raise StorageNotReady(
            f"the database is at schema revision {current or 'none'}, the code needs {head}; "
            "run `dutydesk db upgrade --config FILE` first"
        )


async def build(
    settings: Settings,
    clock: Clock,
    adapters: Sequence[Sender],
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
    features = install()
    desk = Desk(settings=settings, clock=clock, sessions=sessions, registry=features.commands, features=features,
                platforms={a.platform: a.capabilities for a in adapters})
    try:
        await timers.check_handled(desk)
    except Exception:
        await engine.dispose()
        raise
    if settings.matrix_enabled:
        desk.prefixes[Platform.MATRIX] = settings.matrix.command_prefix
    async with sessions.begin() as session:
        await sync_staff(session, settings, clock.now())
    await sla_service.refresh_open(desk)
    # chat platforms are served several targets at a time; the console and the simulator keep one order
    chat = any(a.platform in (Platform.SLACK, Platform.MATRIX) for a in adapters)
    sender = OutboxSender(sessions, clock, {a.platform: a.send for a in adapters}, concurrency=8 if chat else 1,
                          removers={a.platform: a.remove for a in adapters if Capability.DELETE in a.capabilities},
                          mentions=[a.platform for a in adapters if Capability.MENTIONS in a.capabilities])
    replica = replica_name()
    scheduler = Scheduler(desk, features.jobs_for(desk), replica, after_run=sender.drain)
    # chat platforms: a unit of work's messages are sent right after its commit (bot/infra/outbox.py, inline)
    dispatcher = Dispatcher(desk, inline=sender if chat else None)
    # one inbox worker on SQLite, which has one writer anyway; a few where the database takes more
    inbox = Inbox(dispatcher, workers=1 if is_sqlite(engine) else 4, outbox=sender,
                  recover_every=settings.ha.seconds("recover_every"),
                  recover_after=timedelta(seconds=settings.ha.seconds("recover_after")),
                  handle_now=lambda event: bot.handle(event))
    bot = Bot(settings, clock, engine, desk, dispatcher, sender, scheduler, inbox,
              {a.platform: a for a in adapters}, started_at=clock.now())

    def committed(*, outbox: bool = True) -> None:
        if outbox:
            sender.wakeup.set()
        bot.timers_wakeup.set()

    bot.dispatcher.on_commit = committed
    sender.on_dead = lambda row: report_dead(bot, row)
    bot.health.tell = lambda platform, failing: report_intake(bot, platform, failing)
    return bot


async def report_intake(bot: Bot, platform: str, failing: bool) -> None:
    """A platform's intake fails (the support mailbox cannot be read) or works again: the duty channels are told,
    without content (what failed is in the log and `dutydesk check --online`)."""
    desk = bot.desk
    key = "ops.intake_failing" if failing else "ops.intake_back"
    async with desk.sessions.begin() as session:
        for target in desk.duty_targets():
            enqueue(session, desk.clock.now(), target, t(desk.language, key, platform=platform),
                    kind=MessageKind.ERROR if failing else MessageKind.NOTICE, visibility=Visibility.PRIVATE)
    bot.outbox.wakeup.set()


async def report_dead(bot: Bot, row: OutboxMessage) -> None:
    """A message that could not be delivered is reported to the duty channels (never its content)."""
    if row.kind == MessageKind.ERROR and row.target_kind == "channel":
        return  # a failing duty channel cannot be told about itself
    desk = bot.desk
    async with desk.sessions.begin() as session:
        if is_removal(row) and row.ticket_key:
            ticket = await ticket_service.get(session, row.ticket_key)
            if ticket is not None:
                ticket_service.tell_requester(session, desk, ticket, "privacy.could_not_remove",
                                              channel=row.channel_id or "?", reason=row.last_error or "?")
            return
        for target in desk.duty_targets():
            enqueue(session, desk.clock.now(), target,
                    t(desk.language, "error.undelivered", id=row.id, kind=row.kind, reason=row.last_error or "?"),
                    kind=MessageKind.ERROR, visibility=Visibility.PRIVATE, ticket=row.ticket_key)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while the block runs: the one signal handling of `dutydesk run`."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve(settings: Settings, clock: Clock, runtimes: Sequence[Runtime], *,
                stop: asyncio.Event | None = None) -> int:
    """`dutydesk run`: one bot serving every runtime until SIGTERM or SIGINT (or ``stop``, or a runtime
    that asks to stop). The runtimes' intake starts before the bot's background (outbox, timers,
    recovery, scheduler) and stops before it ends; their connections close after the last delivery."""
    try:
        bot = await build(settings, clock, runtimes)
    except BaseException:
        for runtime in runtimes:
            await runtime.close()
        raise
    if stop is not None:
        bot.stopping = stop
    started: list[Runtime] = []

    async def stop_intake() -> None:
        while started:
            await started.pop().stop()

    try:
        with stop_on_signals(bot.stopping):
            try:
                ports = bot.ports
                described = []
                for runtime in runtimes:
                    description = await runtime.start(ports)
                    started.append(runtime)
                    if description:
                        described.append(description)
                async with bot.background():
                    if described:
                        # a singleton's sync (Matrix) runs here only while this replica holds its lease
                        print(f"dutydesk: running on {' and on '.join(described)} (replica {replica_name()}); "
                              "stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
                    try:
                        await bot.stopping.wait()
                    finally:
                        await stop_intake()
            finally:
                await stop_intake()
    finally:
        for runtime in runtimes:
            await runtime.close()
        await bot.close()
    return 0
