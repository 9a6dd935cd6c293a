"""The ``duty:…`` timers: one handler for the ``duty`` prefix of :mod:`bot.infra.timers`, which hands each
timer to the function registered for its full kind (``duty:away-self``), so several duty features
can keep timers without replacing each other's handler."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.infra.timers import TimerHandler, handles
from storage.models import Timer

log = logging.getLogger(__name__)

DUTY_TIMERS: dict[str, TimerHandler] = {}


def duty_timer(kind: str) -> Callable[[TimerHandler], TimerHandler]:
    """Registers the handler of timers of exactly this kind (it must start with ``duty:``)."""
    if not kind.startswith("duty:"):
        raise ValueError(f"duty timer kinds start with 'duty:', not {kind!r}")

    def register(handler: TimerHandler) -> TimerHandler:
        DUTY_TIMERS[kind] = handler
        return handler

    return register


@handles("duty")
async def fire(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    handler = DUTY_TIMERS.get(timer.kind)
    if handler is None:
        log.error("timer %s has kind %s that no duty handler takes", timer.id, timer.kind)
        return
    await handler(session, desk, timer)


def _register_own() -> None:
    from bot.duty import service

    duty_timer("duty:away-self")(service.away_reminder)
    duty_timer("duty:away-coord")(service.away_reminder)


_register_own()
