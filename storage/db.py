"""Engines and sessions: one async engine per process, one session (unit of work) per event or job."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from storage import sqlite_driver

# session.info entry: a callable(session) that writes rows kept outside the ORM (bot/core/uow.py: the unit of
# work's outbox and ticket_events rows, Core executemany) before every flush of the session and before its commit
BEFORE_FLUSH = "storage.before_flush"


class DeskSession(Session):
    """The ORM session, plus ``info[BEFORE_FLUSH]``: called before every flush (the autoflush before a query
    included, also when the ORM has nothing to flush) and before the commit, so rows a caller keeps to write in
    one statement are in the database whenever the ORM's own pending objects would be."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        writer: Callable[[Session], None] | None = self.info.get(BEFORE_FLUSH)
        if writer is not None:
            writer(self)
        super().flush(objects)


@event.listens_for(DeskSession, "before_commit")
def _write_before_commit(session: Session) -> None:
    writer: Callable[[Session], None] | None = session.info.get(BEFORE_FLUSH)
    if writer is not None:
        writer(session)


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
        if parsed.get_driver_name() == "aiosqlite":
            kwargs.setdefault("module", sqlite_driver.dbapi())  # one trip to SQLite's thread a statement, not four
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class RankedSemaphore:
    """At most ``size`` holders at once; a free place goes to the waiter of the lowest rank, among equals to the
    one that waited longest (a plain lock or semaphore serves in arrival order only). The SQLite writer below
    (``size`` 1: a request waiting for its inbox row to be stored, rank 0, goes before the background's
    transactions of rank 1 that asked earlier) and the outbox's delivery slots (bot/infra/outbox.py) use it."""

    def __init__(self, size: int = 1) -> None:
        self._free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def locked(self) -> bool:
        return self._free == 0

    async def acquire(self, rank: int = 1) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the place just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # a waiter that was cancelled has a done future: skip it
                turn.set_result(None)
                return   # the place passes on: still taken
        self._free += 1

    @contextlib.asynccontextmanager
    async def slot(self, rank: int) -> AsyncIterator[None]:
        await self.acquire(rank)
        try:
            yield
        finally:
            self.release()


class SerialWriteSessions(async_sessionmaker[AsyncSession]):
    """SQLite has one writer at a time. This process's write transactions (``begin()``) wait for
    each other here instead of in SQLite's busy handler, which sleeps up to 100 ms between tries,
    lets a newcomer overtake and gives up after ``busy_timeout``: in arrival order, except that
    ``begin(first=True)`` (the inbox rows of requests waiting for their ack) goes before every
    ordinary transaction waiting. Readers (``sessions()``) are not held; WAL lets them read while
    someone writes."""

    def __init__(self, engine: AsyncEngine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.write_lock = RankedSemaphore(1)
        self._owner: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def begin(self, *, first: bool = False) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        async with self._writer(first), super().begin() as session:
            yield session

    @contextlib.asynccontextmanager
    async def begin_connection(self, *, first: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a Core connection, in the same line as ``begin()``'s."""
        async with self._writer(first), engine_of(self).begin() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _writer(self, first: bool) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._owner:  # nested in this task's own transaction: no self-deadlock
            yield
            return
        await self.write_lock.acquire(0 if first else 1)
        try:
            self._owner = task
            yield
        finally:
            self._owner = None
            self.write_lock.release()


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine a sessionmaker of :func:`make_sessionmaker` binds its sessions to."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine


def begin_first(sessions: async_sessionmaker[AsyncSession]) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
    """A write transaction that someone waits for right now (a request's inbox row before its ack): on SQLite it goes
    before the background's transactions waiting for the one writer; elsewhere a plain ``begin()``. On a Core
    connection: its few plain statements need no ORM session, whose setup and commit cost more than they do."""
    if isinstance(sessions, SerialWriteSessions):
        return sessions.begin_connection(first=True)
    return engine_of(sessions).begin()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if is_sqlite(engine):
        return SerialWriteSessions(engine, expire_on_commit=False, sync_session_class=DeskSession)
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=DeskSession)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
