"""The leader lease on both databases: one holder at a time, renewal by the holder, takeover after
the TTL, release on shutdown, and work that runs only while the lease is held."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import VirtualClock
from bot.infra.leader import LeaderLease
from storage.db import make_sessionmaker
from storage.models import Lease

START = datetime(2026, 11, 24, 14, 50, tzinfo=UTC)


async def test_one_holder_renewal_expiry_and_release(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    clock = VirtualClock(START)
    one = LeaderLease(sessions, clock, "matrix:@bot:example.org", holder="one")
    two = LeaderLease(sessions, clock, "matrix:@bot:example.org", holder="two")
    assert await one.claim()
    assert not await two.claim()
    clock.advance(timedelta(seconds=20))
    assert await one.claim()            # renewed: another 30 s from now
    clock.advance(timedelta(seconds=20))
    assert not await two.claim()
    clock.advance(timedelta(seconds=11))
    assert await two.claim()            # one stopped renewing: two takes over after the TTL
    assert not await one.claim()
    await two.release()
    assert await one.claim()            # released on shutdown: free at once


async def test_work_runs_only_while_held_and_stops_when_lost(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    clock = VirtualClock(START)
    other = LeaderLease(sessions, clock, "sync", holder="other")
    assert await other.claim()
    mine = LeaderLease(sessions, clock, "sync", holder="mine", renew_every=0.05)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stop = asyncio.Event()
    task = asyncio.create_task(mine.run_while_held(work, stop=stop))
    await asyncio.sleep(0.2)
    assert not started.is_set()          # the other replica holds it
    clock.advance(timedelta(seconds=31))
    await asyncio.wait_for(started.wait(), 2)
    # the other replica took it over (ours expired while we could not renew): our next renewal fails
    async with sessions.begin() as session:
        await session.execute(update(Lease).values(holder="other", expires_at=clock.now() + timedelta(hours=1)))
    await asyncio.wait_for(cancelled.wait(), 2)
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_stopping_ends_work_that_loses_its_first_cancellation(engine: AsyncEngine) -> None:
    """Python 3.11's wait_for drops a cancellation that meets the result it waits for (the Matrix sync waits so): the
    work is cancelled again, and the stop does not wait for it for ever."""
    lease = LeaderLease(make_sessionmaker(engine), VirtualClock(START), "sync", holder="mine", renew_every=0.05)
    started, lost = asyncio.Event(), []

    async def work() -> None:
        started.set()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not lost:
                    lost.append(True)
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    continue
                raise

    stop = asyncio.Event()
    task = asyncio.create_task(lease.run_while_held(work, stop=stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert lost == [True]
