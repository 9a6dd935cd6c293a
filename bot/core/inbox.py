"""The inbox: how every inbound event enters the core, whichever adapter it comes from.

An adapter verifies a platform's request, converts it into an :class:`InboundEvent` and hands it
over here; it does nothing else with it. Three ways in:

- :meth:`Inbox.submit` — for a platform that forgets a request once it is acknowledged (Slack):
  the event is stored first (the inbox row, in one group commit with the other requests of the
  moment), the adapter acknowledges after ``submit`` returns, and a pool of workers processes the
  stored events in arrival order, a request for a Prio-1 ticket first. A request being received
  right now goes first (:class:`FlowControl`: work and ordinary deliveries let it pass, for a moment at
  most; on SQLite its inbox row goes before the background's writes); during a flood, work and deliveries
  wait for the gaps, so the flood is acknowledged at once and worked off after it.
- :meth:`Inbox.handle_redelivered` — for a platform that delivers again until it is told it may
  stop (the Matrix sync token): inbox row and work in one commit.
- :meth:`Inbox.handle_now` — for a person waiting at a terminal (the console): handled, and what is
  due delivered, before it returns.

An event stored but never finished (a crash, a lost task, a replica that died) is finished by the
one recovery loop (:meth:`Inbox.recover_loop`), every ``[ha] recover_every`` for events older than
``[ha] recover_after``; it leaves alone what this process's workers hold right now.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from bot.core.types import InboundEvent
from bot.infra.supervise import stop, supervise
from storage.models import ProcessedEvent

if TYPE_CHECKING:
    from bot.core.dispatcher import Dispatcher
    from bot.infra.outbox import OutboxSender

log = structlog.stdlib.get_logger(__name__)

# requests first. In the ordinary run of things work and deliveries wait only while a request is being
# received right now (its inbox row not stored yet), for at most YIELD_MAX: a person's answer never waits for
# a lull between other people's requests. On SQLite a request's inbox row also goes before the background's
# transactions waiting for the one writer (storage.db.begin_first).
YIELD_MAX = 0.02
# a flood: FLOOD events stored and waiting for a worker (requests come faster than they are processed), or
# BURST requests being received at once. Then work and ordinary deliveries wait for a quiet moment of
# BUSY_WINDOW between requests, but go on at least once per MAX_DEFER, so the flood is acknowledged at once
# and worked off in its gaps and after it; work let through during a flood holds new requests at the door for
# at most DOOR_MAX, so it finishes quickly instead of crawling between requests while it holds the database's
# write lock. A request for a Prio-1 ticket never waits: its page goes out while the flood is still coming in.
FLOOD = 20
BURST = 4   # … or as many requests being received at once
BUSY_WINDOW = 0.2
MAX_DEFER = 5.0
DOOR_MAX = 0.2
ACCEPT_BATCH = 200


class GroupCommit:
    """Stores concurrent requests' events in one transaction: a request waits for at most the commit
    in progress and the one it joins, instead of one commit per request in line."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._pending: list[tuple[InboundEvent, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def accept(self, event: InboundEvent) -> bool:
        """True when the event is new (stored now), False for a duplicate; raises when it is not stored."""
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


class FlowControl:
    """Requests first: work and ordinary deliveries let the requests being received right now go first (for at
    most YIELD_MAX); during a flood (:attr:`flooded`) they wait for a gap between requests (for at
    most MAX_DEFER), and work let through during a flood holds new requests at the door (for at most DOOR_MAX)."""

    def __init__(self) -> None:
        self.requests = 0  # requests being received right now
        self.backlog: Callable[[], int] = lambda: 0   # events stored and waiting for a worker (the inbox sets it)
        self._gap = asyncio.Event()   # set while no request is being received
        self._gap.set()
        self._last_request = 0.0
        self._last_processed = 0.0
        self._door = asyncio.Event()
        self._door.set()

    @contextlib.asynccontextmanager
    async def arriving(self) -> AsyncIterator[None]:
        """Around the receipt of one request (an adapter's middleware): waits at a closed door, counts it."""
        await self._door.wait()
        self.requests += 1
        self._gap.clear()
        try:
            yield
        finally:
            self.requests -= 1
            self._last_request = time.monotonic()
            if not self.requests:
                self._gap.set()

    @property
    def flooded(self) -> bool:
        """FLOOD events waiting for a worker, or BURST requests being received at once."""
        return self.backlog() >= FLOOD or self.requests >= BURST

    async def yield_to_requests(self) -> bool:
        """Lets the requests being received go first; True when work is let through during a flood without a
        gap (MAX_DEFER passed)."""
        if self.flooded:
            return await self._wait_for_gap()
        if self.requests:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gap.wait(), YIELD_MAX)
        return False

    async def _wait_for_gap(self) -> bool:
        """Waits while requests are being received or came in the last BUSY_WINDOW, for at most MAX_DEFER
        since the last time this let work through; True when it lets work through during the flood."""
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
        """For an adapter's ordinary deliveries (not receipts or pages): see :meth:`yield_to_requests`."""
        await self.yield_to_requests()

    @contextlib.asynccontextmanager
    async def door_closed(self) -> AsyncIterator[None]:
        """Forced work during a flood: holds new requests back (for at most DOOR_MAX) and lets the ones inside
        finish first, so the work runs alone and quickly."""
        self._door.clear()
        reopen = asyncio.get_running_loop().call_later(DOOR_MAX, self._door.set)
        try:
            while self.requests and not self._door.is_set():
                await asyncio.sleep(0.002)
            yield
        finally:
            reopen.cancel()
            self._door.set()


class Inbox:
    """Accepts events (group commit), processes them with a few workers under flow control, recovers
    what was stored but never finished. One per bot; every adapter hands its events in here."""

    def __init__(self, dispatcher: Dispatcher, *, workers: int = 1, recover_every: float = 30.0,
                 recover_after: timedelta = timedelta(minutes=1), outbox: OutboxSender | None = None,
                 handle_now: Callable[[InboundEvent], Awaitable[bool]] | None = None) -> None:
        self.dispatcher = dispatcher
        self.sessions = dispatcher.desk.sessions
        # one worker on SQLite, which has one writer anyway; a few where the database takes more
        self.workers = workers
        self.recover_every = recover_every
        self.recover_after = recover_after
        self.outbox = outbox
        self._handle_now = handle_now or dispatcher.handle
        self.flow = FlowControl()
        self.flow.backlog = lambda: self._queue.qsize()
        self.group = GroupCommit(dispatcher)
        self.in_flight: set[str] = set()   # keys queued or being processed by this process's workers
        # (rank, arrival, event): a request that opens or raises a Prio-1 ticket is taken first, so its
        # page never waits behind the ordinary requests queued before it; otherwise arrival order
        self._queue: asyncio.PriorityQueue[tuple[int, int, InboundEvent]] = asyncio.PriorityQueue()
        self._arrival = itertools.count()
        self._workers: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------------- the ways in

    async def submit(self, event: InboundEvent) -> bool:
        """Stores ``event`` (group commit) and queues it for the workers; False for a duplicate (a
        retried delivery, dropped). Raises when it cannot be stored: the adapter then says so to the
        person or leaves the request unacknowledged, so the platform retries."""
        key = event.idempotency_key
        # in flight from before the commit on: a recovery pass that reads the new row leaves it to the workers
        held = key not in self.in_flight
        self.in_flight.add(key)
        try:
            new = await self.group.accept(event)
        except Exception as exc:
            if held:
                self.in_flight.discard(key)
            # the exception's text may quote the event: its type here, the traceback at debug
            log.error("inbox: an inbound event was not stored", kind=event.kind, error=type(exc).__name__)
            log.debug("inbox: an inbound event was not stored", exc_info=True)
            raise
        if not new:
            if held:
                self.in_flight.discard(key)
            return False
        self._queue.put_nowait((self.dispatcher.rank(event), next(self._arrival), event))
        self._start_workers()
        return True

    async def handle_redelivered(self, event: InboundEvent) -> bool:
        """Inbox row and work in one commit (see :meth:`Dispatcher.handle_redelivered`); False for a duplicate."""
        return await self.dispatcher.handle_redelivered(event)

    async def handle_now(self, event: InboundEvent) -> bool:
        """Handles ``event`` and delivers what is due before returning; False for a duplicate."""
        return await self._handle_now(event)

    # ----------------------------------------------------------------- flow control (adapters' side)

    def arriving(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.flow.arriving()

    async def pace(self) -> None:
        await self.flow.pace()

    # ----------------------------------------------------------------- the workers

    def _start_workers(self) -> None:
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._work(), name=f"inbox-worker-{i}") for i in range(self.workers)]

    async def _work(self) -> None:
        while True:
            rank, _, event = await self._queue.get()
            try:
                if rank == 0:   # a page waits for nobody
                    await self._process(event)
                elif await self.flow.yield_to_requests():   # let through during a flood, without a gap
                    async with self.flow.door_closed():
                        await self._process(event)
                else:
                    await self._process(event)
            finally:
                self.in_flight.discard(event.idempotency_key)
                self._queue.task_done()

    async def _process(self, event: InboundEvent) -> None:
        try:
            await self.dispatcher.process(event)
        except Exception as exc:
            # the inbox row stays "received"; the recovery loop tries again
            log.error("inbox: processing failed, the recovery loop retries it", kind=event.kind,
                      error=type(exc).__name__)
            log.debug("inbox: processing failed", exc_info=True)

    async def idle(self) -> None:
        """Waits until every submitted event is processed (tests, benchmarks, shutdown)."""
        while not self._queue.empty() or self.in_flight:
            await self._queue.join()
            if self.in_flight and self._queue.empty():
                await asyncio.sleep(0.005)   # a submit still committing its event

    async def drain(self, timeout: float) -> None:
        """Shutdown: lets the workers finish the queue for up to ``timeout`` seconds, then stops them
        (what is left stays "received" in the inbox and is processed after the restart)."""
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            log.warning("inbox: events not processed at shutdown resume after the restart",
                        count=max(self._queue.qsize(), len(self.in_flight)))
        # stop, not a single cancel: a worker's wait_for (yield_to_requests) may drop it, and the worker would
        # wait in its queue for ever
        await asyncio.gather(*(stop(task) for task in self._workers), return_exceptions=True)
        self._workers = []

    # ----------------------------------------------------------------- recovery

    async def recover(self, *, older_than: timedelta | None = None) -> int:
        """Finishes events stored but not handled (older than ``older_than``), except those this
        process's workers hold; returns how many."""
        return await self.dispatcher.recover(older_than=older_than, skip=frozenset(self.in_flight))

    async def recover_loop(self, every: float | None = None, older_than: timedelta | None = None) -> None:
        """Every ``[ha] recover_every``: what a crash, a lost task or a dead replica left unhandled for
        ``[ha] recover_after``."""
        every = self.recover_every if every is None else every
        older_than = self.recover_after if older_than is None else older_than

        async def one_pass() -> None:
            count = await self.recover(older_than=older_than)
            if count:
                log.warning("inbox: recovered stored but unhandled events", count=count)

        await supervise("inbox: recovery pass", one_pass, every=every, first_wait=every)

    # ----------------------------------------------------------------- what adapters may read

    async def stored_channel(self, key: str) -> str | None:
        """The channel an event handled before happened in (its inbox row keeps it), by idempotency key."""
        async with self.sessions() as session:
            payload = await session.scalar(select(ProcessedEvent.payload).where(ProcessedEvent.key == key))
        channel = ((payload or {}).get("channel") or {}).get("channel_id")
        return str(channel) if channel else None

    async def replies_sent(self, timeout: float) -> None:
        """Waits at most ``timeout`` seconds for the replies being delivered right now."""
        if self.outbox is not None:
            await self.outbox.wait_inline(timeout)

