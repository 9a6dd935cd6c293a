"""SQLite has one writer: the process's write transactions queue in asyncio (``SerialWriteSessions``)
instead of in SQLite's busy handler, so many concurrent writers all finish, in arrival order."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, insert, select

from storage.db import SerialWriteSessions, begin_first, make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import KeyValue


async def test_concurrent_write_transactions_all_commit_in_arrival_order(tmp_path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        assert isinstance(sessions, SerialWriteSessions)
        order: list[int] = []

        async def writer(i: int) -> None:
            async with sessions.begin() as session:
                order.append(i)
                session.add(KeyValue(key=f"k{i}", value=str(i)))
                await session.flush()
                await asyncio.sleep(0)  # let the others pile up behind this transaction
                async with sessions.begin() as nested:  # the same task may nest without deadlocking itself
                    await nested.scalar(select(func.count()).select_from(KeyValue))

        await asyncio.gather(*(writer(i) for i in range(40)))
        assert order == list(range(40))
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(KeyValue)) == 40
    finally:
        await engine.dispose()


def test_postgresql_keeps_the_plain_sessionmaker() -> None:
    engine = make_engine("postgresql+psycopg://u@127.0.0.1:1/x")
    assert not isinstance(make_sessionmaker(engine), SerialWriteSessions)  # no connection is made


async def test_a_request_waiting_for_its_ack_writes_before_the_background(tmp_path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        order: list[str] = []
        holding = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with sessions.begin() as session:
                session.add(KeyValue(key="held", value="0"))
                await session.flush()
                holding.set()
                await release.wait()
            order.append("holder")

        async def writer(name: str, *, first: bool) -> None:
            if first:  # the inbox's way: a Core connection
                async with begin_first(sessions) as connection:
                    await connection.execute(insert(KeyValue).values(key=name, value="1"))
            else:
                async with sessions.begin() as session:
                    session.add(KeyValue(key=name, value="1"))
            order.append(name)

        task = asyncio.create_task(holder())
        await holding.wait()
        background = [asyncio.create_task(writer(f"background-{i}", first=False)) for i in range(3)]
        await asyncio.sleep(0)
        request = asyncio.create_task(writer("request", first=True))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(task, request, *background)
        # the one writer is handed to the request before the background's transactions that asked earlier
        assert order == ["holder", "request", "background-0", "background-1", "background-2"]
    finally:
        await engine.dispose()
