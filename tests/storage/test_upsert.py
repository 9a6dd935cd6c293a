"""``storage.upsert``: one insert-or-keep / insert-or-update for both databases, through a session, a connection
(many rows in one statement) and an engine."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from storage.db import make_sessionmaker
from storage.models import DeskCounter, KeyValue, ProcessedEvent
from storage.upsert import upsert


async def test_insert_or_keep_and_insert_or_update_on_each_backend(engine) -> None:
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        first = await session.execute(upsert(session, KeyValue, {"key": "k", "value": "first"}, key=["key"])
                                      .returning(KeyValue.key))
        again = await session.execute(upsert(session, KeyValue, {"key": "k", "value": "second"}, key=["key"])
                                      .returning(KeyValue.key))
        assert (first.scalars().all(), again.scalars().all()) == (["k"], [])  # the second one kept the row
        assert await session.scalar(select(KeyValue.value).where(KeyValue.key == "k")) == "first"
        await session.execute(upsert(session, KeyValue, {"key": "k", "value": "third"}, key=["key"],
                                     update={"value": "third"}))
        assert await session.scalar(select(KeyValue.value).where(KeyValue.key == "k")) == "third"
    numbers = []
    for _ in range(3):  # the ticket counter: the update reads the row's own column
        async with engine.begin() as conn:
            stmt = upsert(engine, DeskCounter, {"prefix": "HW", "last_number": 1}, key=["prefix"],
                          update={"last_number": DeskCounter.last_number + 1}).returning(DeskCounter.last_number)
            numbers.append((await conn.execute(stmt)).scalar_one())
    assert numbers == [1, 2, 3]


async def test_many_rows_in_one_statement_report_the_new_ones(engine) -> None:
    now = datetime(2026, 11, 24, 15, tzinfo=UTC)
    table = ProcessedEvent.__table__
    rows = [{"key": key, "received_at": now, "status": "received", "handled_at": None, "payload": {}}
            for key in ("a", "b")]
    async with engine.begin() as conn:
        stmt = upsert(conn, table, None, key=["key"]).returning(table.c.key)
        assert set((await conn.execute(stmt, rows)).scalars().all()) == {"a", "b"}
        rows.append({**rows[0], "key": "c"})
        assert set((await conn.execute(stmt, rows)).scalars().all()) == {"c"}


async def test_the_state_stores_put_new_keeps_the_first_writers_value(engine) -> None:
    """``put_new``: the first writer's value is stored and returned (by the INSERT's RETURNING, no read back); a
    later writer gets the stored value, not its own."""
    from storage.platform_state import StateStore

    store = StateStore(make_sessionmaker(engine))
    async with store.write() as state:
        assert await state.put_new("slack:space:HW-1", "C1") == "C1"
    async with store.write() as state:
        assert await state.put_new("slack:space:HW-1", "C2") == "C1"
    async with store.read() as state:
        assert await state.get("slack:space:HW-1") == "C1"
