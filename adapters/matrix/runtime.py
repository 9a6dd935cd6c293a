"""The Matrix runtime of `dutydesk run`: the sync loop, only while this replica holds the device's
lease, next to the bot's background (outbox, timers, scheduler).

Only one process may own a Matrix device (its sync and, with E2EE, its key store), so the sync
loop runs under a database lease (``leases`` row ``matrix:<user id>``, renewed every
``[ha] lease_renew``, 10 s, for ``[ha] lease_ttl``, 30 s). A replica that takes the lease over
resumes from the sync token in the database, where the previous holder checkpointed it.
Shutdown stops the sync first (a batch cut short is replayed after the restart, its handled
events dropped as duplicates), then the background drains the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import structlog

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.client import login, make_client
from adapters.matrix.sync import MatrixIngress
from bot.core.ports import LeasePort, Ports
from bot.core.types import OutboundMessage, Platform, Removal

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)


async def connect(settings: Settings, clock: Clock) -> MatrixRuntime:
    """A logged-in client and the runtime around it (ConfigError when the login fails)."""
    client = make_client(settings)
    try:
        await login(client, settings)
    except BaseException:
        await client.close()
        raise
    return MatrixRuntime(MatrixAdapter(settings, clock, client))


class MatrixRuntime:
    """The Matrix side of one bot (a bot/core/ports.py Runtime): binds the adapter, runs the sync loop
    under the device's lease."""

    platform = Platform.MATRIX

    def __init__(self, adapter: MatrixAdapter) -> None:
        self.adapter = adapter
        self.capabilities = adapter.capabilities
        self.ingress: MatrixIngress | None = None
        self.lease: LeasePort | None = None
        self._health: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def send(self, message: OutboundMessage) -> str | None:
        return await self.adapter.send(message)

    async def remove(self, removal: Removal) -> str | None:
        return await self.adapter.remove(removal)

    async def prepare(self, ports: Ports) -> MatrixIngress:
        """The adapter on the core's ports, the configured rooms resolved, a duty or access room that anybody
        can join refused (ConfigError)."""
        await self.adapter.bind(ports)
        self.ingress = MatrixIngress(ports, self.adapter)
        self.lease = ports.lease(f"matrix:{self.adapter.user_id}")
        self._health = ports.health
        await self.adapter.rooms.refresh()
        await self.ingress.guard.refuse_joinable()   # duty and access rooms anybody can join stop the start
        self.adapter.rooms.refill_soon()
        return self.ingress

    async def start(self, ports: Ports) -> str:
        await self.prepare(ports)
        self.run_sync()
        return f"Matrix as {self.adapter.user_id}"

    def run_sync(self) -> None:
        """The sync loop, whenever this replica holds the device's lease (until ``stop``)."""
        assert self.lease is not None, "prepare() first"
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(
            self.lease.run_while_held(self._sync, stop=self._stop), name="matrix-sync")

    async def _sync(self) -> None:
        """The sync loop of one tenure of the lease. The token in memory may be older than the one
        another replica stored while it held the lease: it is read from the database again."""
        assert self.ingress is not None
        self.ingress.token = None
        try:
            await self.ingress.run()
        finally:
            # not syncing here any more (the lease moved, or the bot stops): /healthz of this replica
            # shows no Matrix sync rather than one that looks stale
            self._health.not_syncing(Platform.MATRIX.value)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        await self.adapter.rooms.close()
        await self.adapter.client.close()
