"""The outbox: messages are rows written in the same transaction as the change they report,
and a sender delivers them with retries, backoff and ``Retry-After``.

The row id is the idempotency key a platform sees (the Matrix transaction id), so a message
delivered twice after a crash is shown once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.clock import Clock
from bot.types import Button, OutboundMessage, Platform, Target, Visibility
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=10)
# how long a claimed row is left to the replica sending it before another may try again
CLAIM_TTL = timedelta(minutes=2)


class DeliveryError(Exception):
    """A send that failed; ``retry_after`` is what the platform asked for, ``permanent`` means don't retry."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


def enqueue(
    session: AsyncSession,
    now: datetime,
    target: Target,
    text: str,
    *,
    kind: str,
    visibility: Visibility,
    ticket: str | None = None,
    buttons: Iterable[Button] = (),
    meta: dict[str, Any] | None = None,
) -> OutboxMessage:
    row = OutboxMessage(
        created_at=now,
        platform=target.platform.value,
        target_kind=target.kind,
        channel_id=target.channel_id,
        thread_id=target.thread_id,
        user_id=target.user_id,
        ticket_key=target.ticket or ticket,
        kind=kind,
        visibility=visibility.value,
        text=text,
        buttons=[b.model_dump() for b in buttons],
        meta=meta,
        status="pending",
        attempts=0,
        next_attempt_at=now,
    )
    session.add(row)
    return row


def to_message(row: OutboxMessage) -> OutboundMessage:
    target = Target(
        kind=row.target_kind,  # type: ignore[arg-type]
        platform=Platform(row.platform),
        channel_id=row.channel_id,
        thread_id=row.thread_id,
        user_id=row.user_id,
        ticket=row.ticket_key if row.target_kind == "ticket" else None,
    )
    return OutboundMessage(
        id=row.id,
        target=target,
        text=row.text,
        kind=row.kind,
        visibility=Visibility(row.visibility),
        ticket=row.ticket_key,
        buttons=tuple(Button(**b) for b in row.buttons or ()),
        meta=row.meta or {},
    )


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=max(retry_after, 0.0))
    base = min(2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=base * (1 + random.random() / 4))


Sender = Callable[[OutboundMessage], Awaitable[str | None]]
TargetKey = tuple[str, str, str | None, str | None]


class OutboxSender:
    """Delivers due rows in id order; a failing target holds back its later rows, so order is kept.

    Several senders may run on one database (replicas): each attempt first claims its row.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        senders: dict[Platform, Sender],
        on_dead: Callable[[OutboxMessage], Awaitable[None]] | None = None,
        batch: int = 100,
        concurrency: int = 1,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.senders = senders
        self.on_dead = on_dead
        self.batch = batch
        self.wakeup = asyncio.Event()
        # one delivery pass at a time in this process, or two passes would send the same row
        self._lock = asyncio.Lock()
        # how many targets are sent to at once; 1 keeps a transcript's order (simulator, console)
        self._slots = asyncio.Semaphore(concurrency)

    async def _due(self) -> list[OutboxMessage]:
        async with self.sessions() as session:
            stmt = (
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= self.clock.now())
                .where(OutboxMessage.platform.in_([p.value for p in self.senders]))
                .order_by(OutboxMessage.id)
                .limit(self.batch)
            )
            return list((await session.scalars(stmt)).all())

    async def drain(self) -> int:
        """Sends everything that is due now; returns how many rows were delivered."""
        async with self._lock:
            return await self._drain()

    async def _waiting(self) -> dict[tuple[str, str, str | None, str | None], int]:
        """Per target, the first row that waits for a retry: no later row of that target may overtake it."""
        async with self.sessions() as session:
            stmt = (
                select(OutboxMessage.platform, OutboxMessage.target_kind,
                       func.coalesce(OutboxMessage.channel_id, OutboxMessage.ticket_key), OutboxMessage.user_id,
                       func.min(OutboxMessage.id))
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at > self.clock.now())
                .group_by(OutboxMessage.platform, OutboxMessage.target_kind,
                          func.coalesce(OutboxMessage.channel_id, OutboxMessage.ticket_key), OutboxMessage.user_id)
            )
            return {(p, k, c, u): first for p, k, c, u, first in (await session.execute(stmt)).all()}

    async def _drain(self) -> int:
        delivered = 0
        # a target whose row waits for a retry holds back its later rows, so order is kept
        waiting = await self._waiting()
        blocked: set[TargetKey] = set()
        while True:
            rows = await self._due()
            if not rows:
                return delivered
            lines: dict[TargetKey, list[OutboxMessage]] = {}
            for row in rows:
                key = (row.platform, row.target_kind, row.channel_id or row.ticket_key, row.user_id)
                if key not in blocked and waiting.get(key, row.id) >= row.id:
                    lines.setdefault(key, []).append(row)
            # targets are independent of each other: up to `concurrency` of them are served at once
            results = await asyncio.gather(*(self._send_line(line) for line in lines.values()))
            progress = False
            for key, (sent, moved, stopped) in zip(lines, results, strict=True):
                delivered += sent
                progress = progress or moved
                if stopped:
                    blocked.add(key)
            if not progress:
                return delivered

    async def _send_line(self, rows: list[OutboxMessage]) -> tuple[int, bool, bool]:
        """Sends one target's rows in order: (rows sent, whether any row was settled, whether it stopped)."""
        async with self._slots:
            sent, moved = 0, False
            for row in rows:
                outcome = await self._deliver(row)
                sent += outcome == "sent"
                moved = moved or outcome in ("sent", "dead")
                if outcome in ("retry", "busy"):
                    return sent, moved, True
            return sent, moved, False

    async def _claim(self, row: OutboxMessage, now: datetime) -> bool:
        """Takes the row for one delivery attempt. Pushing its due time past the claim time is the
        lease: another replica's claim fails meanwhile, and after a crash the row is due again."""
        async with self.sessions.begin() as session:
            claimed = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending",
                       OutboxMessage.attempts == row.attempts, OutboxMessage.next_attempt_at <= now)
                .values(next_attempt_at=now + CLAIM_TTL)
            )
            return bool(claimed.rowcount)

    async def _deliver(self, row: OutboxMessage) -> str:
        """Sends one row: ``sent``, ``retry`` (still pending, later), ``dead`` (given up) or ``busy``
        (another replica has it)."""
        sender = self.senders[Platform(row.platform)]
        now = self.clock.now()
        if not await self._claim(row, now):
            return "busy"
        try:
            ref = await sender(to_message(row))
        except DeliveryError as exc:
            return await self._failed(row, exc, now)
        except Exception as exc:  # a bug in an adapter must not stop delivery of everything else
            # the exception's text may quote the message: its type at warning, the traceback at debug
            log.warning("outbox: adapter raised %s while sending row %s", type(exc).__name__, row.id)
            log.debug("outbox: row %s", row.id, exc_info=True)
            return await self._failed(row, DeliveryError(type(exc).__name__), now)
        async with self.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
                .values(status="sent", sent_at=now, attempts=row.attempts + 1, platform_ref=ref)
            )
        metrics.DELIVERIES.labels(row.platform).inc()
        return "sent"

    async def _failed(self, row: OutboxMessage, exc: DeliveryError, now: datetime) -> str:
        attempts = row.attempts + 1
        dead = exc.permanent or attempts >= MAX_ATTEMPTS
        metrics.DELIVERY_ERRORS.labels(row.platform, "dead" if dead else "retry").inc()
        log.warning("outbox: row %s attempt %s failed: %s", row.id, attempts, exc.reason)
        async with self.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    status="dead" if dead else "pending",
                    attempts=attempts,
                    last_error=exc.reason[:500],
                    next_attempt_at=now + backoff(attempts, exc.retry_after),
                )
            )
        if not dead:
            return "retry"
        if self.on_dead is not None:
            row.status, row.last_error, row.attempts = "dead", exc.reason, attempts
            await self.on_dead(row)
        return "dead"

    async def run(self, poll: float = 1.0) -> None:
        while True:
            try:
                await self.drain()
            except Exception:
                log.warning("outbox: delivery pass failed (%s); retrying",
                            sys.exc_info()[0].__name__)  # type: ignore[union-attr]
                log.debug("outbox: delivery pass", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=poll)
            self.wakeup.clear()
