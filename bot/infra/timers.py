"""Per-ticket timers: rows with a due instant (SLA warnings, ping repeats), so they survive restarts.

Each timer fires once: the firing unit of work marks it with a conditional UPDATE and writes its
messages in the same commit, so two replicas or a retry after a crash never send it twice. The handler of
a kind is registered by its feature (``Features.timer``); a kind without one stops the start (:func:`check_handled`).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, select, update

from bot.core.desk import Desk
from bot.core.uow import unit_of_work
from storage.db import affected
from storage.errors import StorageNotReady
from storage.models import Timer

log = structlog.stdlib.get_logger(__name__)

RETRY_AFTER = timedelta(minutes=1)


class UnknownTimers(StorageNotReady):
    """Pending timers of a kind no feature handles: the start stops instead of consuming them unseen."""


async def check_handled(desk: Desk) -> None:
    """Raises UnknownTimers when a pending timer's kind has no handler (a feature removed or renamed since it
    was written, or a newer version's timers): firing would lose what it was meant to do."""
    async with desk.sessions() as session:
        rows = (await session.execute(
            select(Timer.kind, func.count()).where(Timer.fired_at.is_(None), Timer.cancelled.is_(False))
            .group_by(Timer.kind).order_by(Timer.kind)
        )).all()
    unknown = [(kind, count) for kind, count in rows if desk.features.handler_of(kind) is None]
    if unknown:
        listed = ", ".join(f"{kind} ({count})" for kind, count in unknown)
        raise UnknownTimers(
            f"the database holds pending timers that no feature of this version handles: {listed}. Start the "
            "version that wrote them; if that feature is gone for good, cancel them (UPDATE timers SET "
            "cancelled = true WHERE fired_at IS NULL AND kind = '…') and start again")


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
        async with unit_of_work(desk) as unit:
            session = unit.session
            claimed = await session.execute(
                update(Timer).where(Timer.id == timer_id, Timer.fired_at.is_(None))
                .values(fired_at=desk.clock.now())
            )
            if not affected(claimed):
                return False
            timer = await session.get(Timer, timer_id)
            assert timer is not None
            handler = desk.features.handler_of(timer.kind)
            if handler is None:  # written by another replica's newer version since this one started
                raise LookupError(f"no feature handles timers of kind {timer.kind}")
            await handler(session, desk, timer)
            return True
    except Exception:
        # the type only: an exception's text may quote content; the traceback is for DEBUG
        log.error("timers: timer failed, tried again in a minute", timer=timer_id,
                  error=sys.exc_info()[0].__name__)  # type: ignore[union-attr]
        log.debug("timers: timer failed", timer=timer_id, exc_info=True)
        async with desk.sessions.begin() as session:
            await session.execute(update(Timer).where(Timer.id == timer_id)
                                  .values(due_at=desk.clock.now() + RETRY_AFTER))
        return False
