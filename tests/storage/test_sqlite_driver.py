"""``storage.sqlite_driver``: every statement takes one trip to aiosqlite's thread, a commit or rollback with no
transaction to end takes none, and what SQLAlchemy reads of a cursor (rows, RETURNING, rowcount, lastrowid,
errors, streamed results) is what the stock adapter gives."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import exc, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine, make_sessionmaker
from storage.models import Base, KeyValue


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncEngine:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine  # type: ignore[misc]
    await engine.dispose()


def count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every call aiosqlite sends to its thread (``_run``: one statement), in order."""
    trips: list[str] = []
    queued = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await queued(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips


async def test_a_statement_is_one_trip_to_the_database_thread(sqlite: AsyncEngine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    async with sqlite.connect() as conn:
        await conn.execute(select(1))  # the connection is open and its transaction begun
        trips = count_trips(monkeypatch)
        await conn.execute(insert(KeyValue).values(key="a", value="1"))
        assert (await conn.execute(select(KeyValue.value))).scalars().all() == ["1"]
    assert len(trips) == 3, trips  # the insert, the select, and the rollback at the end: nothing more


async def test_commit_and_rollback_take_a_trip_only_inside_a_transaction(sqlite: AsyncEngine,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async with sqlite.connect() as conn:
        await conn.execute(select(1))  # the pool's connection is open
    trips = count_trips(monkeypatch)
    async with sqlite.begin() as conn:
        await conn.execute(insert(KeyValue).values(key="a", value="1"))
    # the insert and the commit; the pool's rollback when it takes the connection back is no trip
    assert trips == ["_run", "commit"], trips
    trips.clear()
    async with sqlite.begin() as conn:  # nothing written: no transaction, so neither commit nor rollback goes
        await conn.execute(select(KeyValue.value))
    assert trips == ["_run"], trips
    trips.clear()
    async with sqlite.connect() as conn:  # a write left open is rolled back, as before
        await conn.execute(insert(KeyValue).values(key="b", value="2"))
    assert trips == ["_run", "rollback"], trips
    async with sqlite.connect() as conn:
        assert (await conn.execute(select(KeyValue.key))).scalars().all() == ["a"]


async def test_what_sqlalchemy_reads_of_a_cursor(sqlite: AsyncEngine) -> None:
    sessions = make_sessionmaker(sqlite)
    async with sessions.begin() as session:
        result = await session.execute(insert(KeyValue).returning(KeyValue.key),
                                       [{"key": k, "value": "v"} for k in ("a", "b", "c")])
        assert sorted(result.scalars().all()) == ["a", "b", "c"]        # RETURNING of a multi-row insert
        session.add(KeyValue(key="d", value="orm"))                       # an ORM flush (lastrowid or RETURNING)
        await session.flush()
        changed = await session.execute(update(KeyValue).where(KeyValue.value == "v").values(value="w"))
        assert changed.rowcount == 3                                      # type: ignore[attr-defined]
        await session.execute(text("CREATE TEMP TABLE numbers (n INTEGER PRIMARY KEY, x TEXT)"))
        added = await session.execute(text("INSERT INTO numbers (x) VALUES ('one')"))
        assert added.lastrowid == 1                                       # type: ignore[attr-defined]
        await session.execute(text("INSERT INTO numbers (x) VALUES (:x)"), [{"x": "two"}, {"x": "three"}])
        assert (await session.scalar(text("SELECT count(*) FROM numbers"))) == 3
    async with sqlite.connect() as conn:  # a streamed result keeps SQLAlchemy's own server-side cursor
        stream = await conn.stream(select(KeyValue.key).order_by(KeyValue.key))
        assert [row.key async for row in stream] == ["a", "b", "c", "d"]


async def test_errors_arrive_as_sqlalchemy_errors_and_the_connection_goes_on(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as conn:
        await conn.execute(insert(KeyValue).values(key="a", value="1"))
    with pytest.raises(exc.IntegrityError):
        async with sqlite.begin() as conn:
            await conn.execute(insert(KeyValue).values(key="a", value="again"))
    with pytest.raises(exc.OperationalError):
        async with sqlite.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    async with sqlite.connect() as conn:
        assert (await conn.execute(select(KeyValue.value))).scalars().all() == ["1"]
