"""Engines and sessions: one async engine per process, one session (unit of work) per event or job."""

from __future__ import annotations

import asyncio
import contextlib
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


class SerialWriteSessions(async_sessionmaker[AsyncSession]):
    """SQLite has one writer at a time. This process's write transactions (``begin()``) wait for
    each other here, in arrival order, instead of in SQLite's busy handler, which sleeps up to
    100 ms between tries, lets a newcomer overtake and gives up after ``busy_timeout``. Readers
    (``sessions()``) are not held; WAL lets them read while someone writes."""

    def __init__(self, engine: AsyncEngine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.write_lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        task = asyncio.current_task()
        if task is not None and task is self._owner:  # nested in this task's own transaction: no self-deadlock
            async with super().begin() as session:
                yield session
            return
        async with self.write_lock:
            self._owner = task
            try:
                async with super().begin() as session:
                    yield session
            finally:
                self._owner = None


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if is_sqlite(engine):
        return SerialWriteSessions(engine, expire_on_commit=False)
    return async_sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
