"""Engines and sessions: one async engine per process, one session (unit of work) per event or job."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def affected(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE changed: ``session.execute()`` types its result as ``Result``, the count is on
    the ``CursorResult`` it returns for such statements."""
    return cast(CursorResult[Any], result).rowcount


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # a database error's text (and SQLAlchemy's statement log) would quote the row it failed on: message text
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class WriteLock:
    """An asyncio lock whose waiters are served by rank, then in arrival order: a waiter of rank 0
    (a request waiting for its inbox row to be stored, so it can be acknowledged) goes before the
    background's transactions of rank 1 that asked earlier."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, rank: int = 1) -> None:
        if not self._held and not self._waiting:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the lock just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # a waiter that was cancelled has a done future: skip it
                turn.set_result(None)
                return   # the lock passes on: still held
        self._held = False


class SerialWriteSessions(async_sessionmaker[AsyncSession]):
    """SQLite has one writer at a time. This process's write transactions (``begin()``) wait for
    each other here instead of in SQLite's busy handler, which sleeps up to 100 ms between tries,
    lets a newcomer overtake and gives up after ``busy_timeout``: in arrival order, except that
    ``begin(first=True)`` (the inbox rows of requests waiting for their ack) goes before every
    ordinary transaction waiting. Readers (``sessions()``) are not held; WAL lets them read while
    someone writes."""

    def __init__(self, engine: AsyncEngine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.write_lock = WriteLock()
        self._owner: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def begin(self, *, first: bool = False) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        task = asyncio.current_task()
        if task is not None and task is self._owner:  # nested in this task's own transaction: no self-deadlock
            async with super().begin() as session:
                yield session
            return
        await self.write_lock.acquire(0 if first else 1)
        try:
            self._owner = task
            async with super().begin() as session:
                yield session
        finally:
            self._owner = None
            self.write_lock.release()


def begin_first(sessions: async_sessionmaker[AsyncSession]) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
    """A write transaction that someone waits for right now (a request's inbox row before its ack): on
    SQLite it goes before the background's transactions waiting for the one writer; elsewhere a plain
    ``begin()``."""
    if isinstance(sessions, SerialWriteSessions):
        return sessions.begin(first=True)
    return sessions.begin()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if is_sqlite(engine):
        return SerialWriteSessions(engine, expire_on_commit=False)
    return async_sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
