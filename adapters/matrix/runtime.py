"""Running the Matrix side of `dutydesk run`: the sync loop, only while this replica holds the
device's lease, next to the bot's background (outbox, timers, scheduler), until SIGTERM/SIGINT.

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
from typing import TYPE_CHECKING

import structlog

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.client import login, make_client
from adapters.matrix.sync import MatrixIngress
from bot.core.types import Platform
from bot.infra import ops
from bot.infra.leader import LeaderLease, timing

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.core.clock import Clock
    from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)


async def connect(settings: Settings, clock: Clock) -> MatrixAdapter:
    """A logged-in client and the adapter around it (ConfigError when the login fails)."""
    client = make_client(settings)
    try:
        await login(client, settings)
    except BaseException:
        await client.close()
        raise
    return MatrixAdapter(settings, clock, client)


class MatrixRuntime:
    """The Matrix side of one bot: binds the adapter, runs the sync loop under the device's lease."""

    def __init__(self, bot: Bot, adapter: MatrixAdapter) -> None:
        self.bot = bot
        self.adapter = adapter
        self.ingress = MatrixIngress(bot, adapter)
        self.lease = LeaderLease(bot.desk.sessions, bot.clock, f"matrix:{adapter.user_id}", **timing(bot.settings))
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def prepare(self) -> None:
        """Before the background starts: the database for the adapter, the command prefix, the rooms."""
        await self.adapter.bind(self.bot.desk.sessions)
        self.bot.desk.prefixes[Platform.MATRIX] = self.bot.settings.matrix.command_prefix
        await self.adapter.rooms.refresh()
        await self.ingress.guard.refuse_joinable()   # duty and access rooms anybody can join stop the start
        self.adapter.rooms.refill_soon()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(
            self.lease.run_while_held(self._sync, stop=self._stop), name="matrix-sync")

    async def _sync(self) -> None:
        """The sync loop of one tenure of the lease. The token in memory may be older than the one
        another replica stored while it held the lease: it is read from the database again."""
        self.ingress.token = None
        try:
            await self.ingress.run()
        finally:
            # not syncing here any more (the lease moved, or the bot stops): /healthz of this replica
            # shows no Matrix sync rather than one that looks stale
            ops.LAST_SYNC.pop(Platform.MATRIX.value, None)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        await self.adapter.rooms.close()
        await self.adapter.client.close()
