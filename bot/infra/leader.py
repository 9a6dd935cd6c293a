"""Leader leases: a singleton (the Matrix sync of one device, say) runs only in the replica that
holds its row in ``leases``.

A claim is one conditional write: the row is inserted if missing, then taken over only when it
is ours already or has expired. The holder renews it every ``renew_every`` (10 s) for ``ttl``
(30 s); a replica that stops renewing (a crash, a network split) loses it after the TTL, and a
holder whose renewal fails stops its singleton before another replica can take over.

A replica without the lease tries again every ``renew_every``, so after the holder dies the lease
moves within ``ttl + renew_every`` of the holder's last renewal: the new row's ``expires_at - ttl``
(when it was taken) lies in ``[old expires_at, old expires_at + renew_every]``. Both come from
``[ha] lease_ttl`` / ``lease_renew`` (:func:`timing`); the leases are ``matrix:<user id>`` (the
sync, adapters/matrix/runtime.py) and ``scheduler`` (bot/infra/scheduler.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.infra.supervise import stop as stop_loop
from storage.db import affected
from storage.models import Lease
from storage.upsert import upsert

if TYPE_CHECKING:
    from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)

TTL = timedelta(seconds=30)
RENEW_EVERY = 10.0


def replica_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


def timing(settings: Settings) -> dict[str, Any]:
    """``ttl`` and ``renew_every`` of a :class:`LeaderLease` as ``[ha]`` sets them."""
    return {"ttl": timedelta(seconds=settings.ha.seconds("lease_ttl")),
            "renew_every": settings.ha.seconds("lease_renew")}


class LeaderLease:
    """One named lease; ``claim()`` takes or renews it, ``release()`` gives it up."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, name: str, *,
                 holder: str | None = None, ttl: timedelta = TTL, renew_every: float = RENEW_EVERY) -> None:
        self.sessions = sessions
        self.clock = clock
        self.name = name[:64]
        self.holder = (holder or replica_name())[:64]
        self.ttl = ttl
        self.renew_every = renew_every

    async def claim(self) -> bool:
        """Takes the lease if it is free or expired, renews it if it is ours; True when we hold it now."""
        now = self.clock.now()
        expires = now + self.ttl
        async with self.sessions.begin() as session:
            # a lease nobody ever held: the insert claims it; otherwise the conditional update below decides
            inserted = await session.execute(
                upsert(session, Lease, {"name": self.name, "holder": self.holder, "expires_at": expires},
                       key=["name"]).returning(Lease.name))
            if inserted.first() is not None:
                return True
            taken = await session.execute(
                update(Lease)
                .where(Lease.name == self.name, or_(Lease.holder == self.holder, Lease.expires_at < now))
                .values(holder=self.holder, expires_at=expires)
            )
            return bool(affected(taken))

    async def release(self) -> None:
        """Lets another replica take over at once (a clean shutdown)."""
        past = datetime(1970, 1, 1, tzinfo=UTC)
        async with self.sessions.begin() as session:
            await session.execute(update(Lease).where(Lease.name == self.name, Lease.holder == self.holder)
                                  .values(expires_at=past))

    async def run_while_held(self, work: Callable[[], Coroutine[Any, Any, object]], *,
                             stop: asyncio.Event | None = None) -> None:
        """Runs ``work()`` whenever this replica holds the lease; cancels it when the lease is lost.

        Returns when ``stop`` is set (the lease is released then) or ``work`` returns.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set():
            held = await self._claim_quietly()
            if not held:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.renew_every)
                continue
            log.info("lease: held", lease=self.name, holder=self.holder)
            task = asyncio.create_task(work(), name=f"lease:{self.name}")
            try:
                while not task.done() and not stop.is_set():
                    waiter = asyncio.create_task(stop.wait())
                    await asyncio.wait({task, waiter}, timeout=self.renew_every,
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if task.done() or stop.is_set():
                        break
                    if not await self._claim_quietly():
                        log.warning("lease: lost, stopping its work", lease=self.name)
                        break
            finally:
                if not task.done():
                    # cancelled again while it runs on (a wait_for of the work may drop one); its error is read below
                    with contextlib.suppress(Exception):
                        await stop_loop(task)
                result = await asyncio.gather(task, return_exceptions=True)
            if task.done() and not task.cancelled() and not stop.is_set():
                error = result[0]
                if isinstance(error, BaseException):
                    raise error
                return
        with contextlib.suppress(Exception):
            await self.release()

    async def _claim_quietly(self) -> bool:
        try:
            return await self.claim()
        except Exception as exc:  # the database is away: nobody can be sure to hold it
            log.warning("lease: could not claim or renew", lease=self.name, error=type(exc).__name__)
            return False
