"""Database faults while events stream in: PostgreSQL connections killed under the bot's feet
(``pg_terminate_backend``; ``pool_pre_ping`` reconnects), and a full disk under SQLite (a tiny
tmpfs filled to the last byte, or ``PRAGMA max_page_count`` where mounting is not allowed).

Each time: the person hears at once what happened (stored and handled later, or not stored and to
be sent again), nothing is half-written, and once the database is back the bot catches up: every
request is one ticket, every outbox row is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool

from bot.core.dispatcher import reference
from bot.i18n import t
from storage.errors import StorageUnavailable, unavailable
from storage.models import OutboxMessage, ProcessedEvent, Ticket

NOT_SAVED = "error.storage_not_saved"
LATER = "error.storage_later"


def told(sent, key: str, event_key: str) -> bool:
    return any(m.text == t("en", key, ref=reference(event_key)) for m in sent)


async def catch_up(desk) -> None:
    """What the running bot does once the database is back: the recovery pass and the outbox
    sender (rows leased by an interrupted attempt are due again after the claim's time)."""
    await desk.bot.dispatcher.recover()
    await desk.bot.outbox.drain()
    desk.advance(minutes=3)
    await desk.bot.outbox.drain()


async def check_every_request_is_one_ticket(desk, numbers: list[int]) -> None:
    tickets = await desk.rows(Ticket, order=Ticket.number)
    made = Counter(int(t.description.rsplit("#", 1)[1]) for t in tickets if "#" in t.description)
    assert made == Counter(numbers)
    assert [t.number for t in tickets] == list(range(1, len(tickets) + 1))
    assert {row.status for row in await desk.rows(ProcessedEvent)} == {"done"}
    outbox = await desk.rows(OutboxMessage)
    assert {row.status for row in outbox} == {"sent"}
    assert {row.id for row in outbox} <= {m.id for m in desk.adapter.sent}


# --------------------------------------------------------------------------- PostgreSQL: connections killed


async def terminate_backends(url: str) -> int:
    import psycopg

    parsed = make_url(url)
    conninfo = (f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} user={parsed.username or 'postgres'} "
                f"dbname={parsed.database}")
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        row = await cur.fetchone()
        return int(row[0]) if row else 0


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgres_connections_killed_mid_stream(make_harness, db_url: str) -> None:
    desk = await make_harness()
    stop = asyncio.Event()
    kills = []

    async def killer() -> None:
        while not stop.is_set():
            await asyncio.sleep(float(os.environ.get("KILL_EVERY", "0.15")))
            kills.append(await terminate_backends(db_url))

    task = asyncio.create_task(killer())
    outcomes: Counter[str] = Counter()
    try:
        for i in range(40):
            # the platform delivers an event until it is stored (Slack retries an unacknowledged one)
            for attempt in range(50):
                event = desk.event(f"user{i % 5}", f"/ticket printer {i} on fire #{i}", event_id=f"pg-{i}")
                before = len(desk.adapter.sent)
                accepted = await desk.bot.handle(event)
                sent = desk.adapter.sent[before:]
                if told(sent, NOT_SAVED, event.idempotency_key):
                    outcomes["not stored, sent again"] += 1
                    continue
                if told(sent, LATER, event.idempotency_key):
                    outcomes["stored, handled later"] += 1
                else:
                    outcomes["handled"] += 1
                assert accepted or attempt > 0
                break
            else:
                pytest.fail(f"event {i} was never stored")
    finally:
        stop.set()
        await task
    print(f"backends terminated: {sum(kills)} in {len(kills)} rounds; outcomes: {dict(outcomes)}")
    assert sum(kills) > 0
    await catch_up(desk)
    await check_every_request_is_one_ticket(desk, list(range(40)))
    # the bot keeps going on fresh connections
    assert (await desk.reply("ben", "/ticket after the storm #99")).kind == "receipt"


async def test_a_lost_connection_is_unavailable_and_a_bug_is_not() -> None:
    from sqlalchemy import exc as sa_exc

    lost = sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    full = sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    schema = sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: tickets"))
    assert unavailable(lost) and unavailable(full) and unavailable(ConnectionResetError())
    assert not unavailable(schema) and not unavailable(RuntimeError("bug")) and not unavailable(KeyError("x"))
    assert unavailable(StorageUnavailable(accepted=True))


# --------------------------------------------------------------------------- SQLite: the disk fills up


@dataclass
class TinyDisk:
    """A small filesystem for the database; ``fill()`` takes its last byte, ``free()`` gives it back."""

    root: Path
    mounted: bool
    limit: list[int | None]  # the page limit every new SQLite connection gets (fallback)

    def fill(self) -> None:
        if not self.mounted:
            db = self.root / "dutydesk.db"
            with sqlite3.connect(db) as conn:
                self.limit[0] = conn.execute("PRAGMA page_count").fetchone()[0]
            return
        fd = os.open(self.root / "ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        self.limit[0] = None
        with contextlib.suppress(FileNotFoundError):
            (self.root / "ballast").unlink()


def _limit_pages(limit: list[int | None]):
    def connect(dbapi_connection, _record) -> None:
        if limit[0] is not None and "sqlite" in type(dbapi_connection).__module__.lower():
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA max_page_count = {int(limit[0])}")
            cursor.close()

    return connect


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[TinyDisk]:
    root = tmp_path / "tiny"
    root.mkdir()
    mounted = os.geteuid() == 0 and shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(root)], capture_output=True).returncode == 0
    limit: list[int | None] = [None]
    listener = _limit_pages(limit)
    if not mounted:
        sa_event.listen(Pool, "connect", listener)
    try:
        yield TinyDisk(root, mounted, limit)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)
        else:
            sa_event.remove(Pool, "connect", listener)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_disk_full_tells_people_writes_nothing_half_and_catches_up(
        make_harness, sqlite_template: Path, tiny_disk: TinyDisk) -> None:
    shutil.copyfile(sqlite_template, tiny_disk.root / "dutydesk.db")
    desk = await make_harness(url=f"sqlite+aiosqlite:///{tiny_disk.root / 'dutydesk.db'}")
    for i in range(3):
        assert (await desk.reply("ben", f"/ticket before the disk filled up #{i}")).kind == "receipt"
    tiny_disk.fill()
    if not tiny_disk.mounted:
        await desk.bot.engine.dispose()  # new connections get the page limit

    filler = "the attached log says: " + "x" * 3000
    outcome: dict[int, str] = {}
    for i in range(3, 80):
        event = desk.event("dora", f"/ticket disk test {filler} #{i}", event_id=f"full-{i}")
        before = len(desk.adapter.sent)
        await desk.bot.handle(event)
        sent = desk.adapter.sent[before:]
        if told(sent, NOT_SAVED, event.idempotency_key):
            outcome[i] = "not stored"
        elif told(sent, LATER, event.idempotency_key):
            outcome[i] = "later"
        else:
            assert any(m.kind == "receipt" for m in sent) or await desk.count(Ticket, Ticket.number > 0)
            outcome[i] = "handled"
        if list(outcome.values()).count("not stored") >= 3:
            break
    print(f"disk {'tmpfs' if tiny_disk.mounted else 'max_page_count'}: {Counter(outcome.values())}")
    assert "not stored" in outcome.values(), "the disk never filled up"

    # nothing half-written: a ticket exactly for the handled events, the inbox row tells the rest
    with sqlite3.connect(tiny_disk.root / "dutydesk.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tickets = await desk.rows(Ticket)
    numbers = {int(t.description.rsplit("#", 1)[1]) for t in tickets}
    inbox = {row.key: row.status for row in await desk.rows(ProcessedEvent)}
    for i, what in outcome.items():
        key = f"sim:full-{i}"
        if what == "handled":
            assert i in numbers and inbox[key] == "done"
        elif what == "later":
            assert i not in numbers and inbox[key] == "received"
        else:
            assert i not in numbers and key not in inbox

    # space comes back: the stored events are handled, the person sends the others again
    tiny_disk.free()
    if not tiny_disk.mounted:
        await desk.bot.engine.dispose()
    await catch_up(desk)
    for i, what in outcome.items():
        if what == "not stored":
            reply = await desk.reply("dora", f"/ticket disk test again #{i}", event_id=f"again-{i}")
            assert reply.kind == "receipt"
    desk.advance(minutes=3)
    await catch_up(desk)
    await check_every_request_is_one_ticket(desk, [0, 1, 2, *outcome])


async def test_the_recovery_loop_finishes_stored_events_on_its_own(make_harness) -> None:
    desk = await make_harness()
    event = desk.event("ben", "/ticket stored while the database was away #1", event_id="later-1")
    assert await desk.bot.dispatcher.accept(event)
    desk.advance(minutes=2)
    task = asyncio.create_task(desk.bot.inbox.recover_loop(every=0.01, older_than=timedelta(minutes=1)))
    try:
        for _ in range(500):
            if await desk.count(ProcessedEvent, ProcessedEvent.status == "done"):
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [t.title for t in await desk.rows(Ticket)] == ["stored while the database was away #1"]
