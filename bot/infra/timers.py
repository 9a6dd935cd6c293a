"""Per-ticket timers: rows with a due instant (SLA warnings, ping repeats), so they survive restarts.

Each timer fires once: the firing transaction marks it with a conditional UPDATE and writes its
messages in the same commit, so two replicas or a retry after a crash never send it twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from storage.models import Timer

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=1)
TimerHandler = Callable[[AsyncSession, Desk, Timer], Awaitable[None]]
HANDLERS: dict[str, TimerHandler] = {}


def handles(prefix: str) -> Callable[[TimerHandler], TimerHandler]:
    """Registers the handler of every timer whose kind starts with ``prefix:``."""

    def register(handler: TimerHandler) -> TimerHandler:
        HANDLERS[prefix] = handler
        return handler

    return register


async def next_due(desk: Desk) -> datetime | None:
    async with desk.sessions() as session:
        return await session.scalar(
            select(func.min(Timer.due_at)).where(Timer.fired_at.is_(None), Timer.cancelled.is_(False))
        )


async def fire_due(desk: Desk) -> int:
    """Fires every timer due by now, oldest first; returns how many fired."""
    fired = 0
    while True:
        now = desk.clock.now()
        async with desk.sessions() as session:
            ids = list((await session.scalars(
                select(Timer.id).where(Timer.fired_at.is_(None), Timer.cancelled.is_(False), Timer.due_at <= now)
                .order_by(Timer.due_at, Timer.id).limit(100)
            )).all())
        if not ids:
            return fired
        for timer_id in ids:
            if await _fire(desk, timer_id):
                fired += 1


async def _fire(desk: Desk, timer_id: int) -> bool:
    try:
        async with desk.sessions.begin() as session:
            claimed = await session.execute(
                update(Timer).where(Timer.id == timer_id, Timer.fired_at.is_(None))
                .values(fired_at=desk.clock.now())
            )
            if not claimed.rowcount:
                return False
            timer = await session.get(Timer, timer_id)
            assert timer is not None
            handler = HANDLERS.get(timer.kind.partition(":")[0])
            if handler is None:
                log.error("timer %s has kind %s that nothing handles", timer_id, timer.kind)
                return True
            await handler(session, desk, timer)
            return True
    except Exception:
        # the type only: an exception's text may quote content; the traceback is for DEBUG
        log.error("timer %s failed (%s); it is tried again in a minute", timer_id,
                  sys.exc_info()[0].__name__)  # type: ignore[union-attr]
        log.debug("timer %s", timer_id, exc_info=True)
        async with desk.sessions.begin() as session:
            await session.execute(update(Timer).where(Timer.id == timer_id)
                                  .values(due_at=desk.clock.now() + RETRY_AFTER))
        return False
