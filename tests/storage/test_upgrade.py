"""Upgrading a desk that ran the first release (issue #21): its database at schema revision 0001, with the rows
that release wrote (tests/storage/data/release_0001.json, see make_release_fixture.py), goes through every
migration with `dutydesk db upgrade`, which names each migration as it runs; afterwards every row is there and the
bot works on them — old tickets, an event the old release had stored but not handled, a message it had not sent.
On PostgreSQL, migration 0005 builds its indexes CONCURRENTLY: tickets are written while it runs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Integer, MetaData, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build, prepare_storage
from bot.cli import main
from bot.core.clock import VirtualClock
from bot.settings import settings_from_data
from storage import migrate
from storage.db import make_engine
from storage.models import OutboxMessage, Ticket
from tests.conftest import BACKENDS, FakeAdapter, Harness
from tests.storage.test_migrations import schema_diff

DATA = Path(__file__).parent / "data"
RELEASE = json.loads((DATA / "release_0001.json").read_text())
DESK = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en"},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]},
               "carla": {"name": "Carla", "roles": ["agent", "coordinator"]}},
    "channels": {"duty": ["#support-duty"]},
}
AFTER = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)   # the morning after the old release's last day


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    return request.getfixturevalue("fresh_pg_url")


def _typed(meta: MetaData, name: str, row: dict[str, Any]) -> dict[str, Any]:
    """A fixture row with its instants as datetimes (stored as naive UTC by the first release)."""
    table = meta.tables[name]
    out = dict(row)
    for column in table.columns:
        if isinstance(column.type, DateTime) and isinstance(out.get(column.name), str):
            out[column.name] = datetime.fromisoformat(out[column.name]).replace(tzinfo=UTC)
    return out


def _load(connection: Connection, tables: dict[str, list[dict[str, Any]]]) -> None:
    meta = MetaData()
    meta.reflect(connection)
    for table in meta.sorted_tables:
        if tables.get(table.name):
            connection.execute(table.insert(), [_typed(meta, table.name, row) for row in tables[table.name]])
    if connection.dialect.name == "postgresql":  # explicit ids do not move the sequences; a real database's moved
        for table in meta.sorted_tables:
            if "id" in table.c and isinstance(table.c.id.type, Integer) and tables.get(table.name):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"(SELECT max(id) FROM {table.name}))"))


async def first_release_database(url: str, *, up_to: str = "0001") -> AsyncEngine:
    """The database as the first release left it when it was stopped for the upgrade: its rows, one event stored
    but not handled yet and one message not sent yet (then migrated ``up_to``)."""
    tables = json.loads(json.dumps(RELEASE["tables"]))
    opened = dict(tables["processed_events"][0])   # ben's `/ticket -p 1 …`, in the old release's payload shape
    opened.update(key="sim:step-99", status="received", handled_at=None, received_at="2026-11-24T11:59:00")
    opened["payload"] = {**opened["payload"], "event_id": "step-99", "message_id": "step-99",
                         "text": "ticket -p 2 stored before the upgrade", "received_at": "2026-11-24T11:59:00Z"}
    tables["processed_events"].append(opened)
    unsent = tables["outbox"][-1]
    unsent.update(status="pending", sent_at=None, platform_ref=None, attempts=0)
    engine = make_engine(url)
    await migrate.upgrade(engine, "0001")
    async with engine.begin() as conn:
        await conn.run_sync(_load, tables)
    if up_to != "0001":
        await migrate.upgrade(engine, up_to)
    return engine


async def test_first_release_database_upgrades_and_the_bot_works_on_it(empty_url: str, capsys) -> None:
    engine = await first_release_database(empty_url)
    try:
        assert await migrate.current_revision(engine) == RELEASE["revision"] == "0001"
        assert await asyncio.to_thread(main, ["db", "upgrade", "--db", empty_url]) == 0
        out, err = capsys.readouterr()
        later = [step.revision for step in migrate.pending("0001")]
        assert later[0] == "0002" and later[-1] == migrate.head_revision()
        lines = out.splitlines()
        assert [line.split(":")[0] for line in lines[:-1:2]] == [f"applying {rev}" for rev in later]
        assert [line.split(" in ")[0] for line in lines[1:-1:2]] == [f"applied {rev}" for rev in later]
        assert lines[-1] == f"database is at schema revision {migrate.head_revision()}"
        assert err == ""
        assert await schema_diff(engine) == []

        async with engine.connect() as conn:
            tickets = (await conn.execute(select(Ticket.key, Ticket.state, Ticket.priority, Ticket.title)
                                          .order_by(Ticket.number))).all()
            outbox = await conn.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))
        assert [tuple(t) for t in tickets] == [(t["key"], t["state"], t["priority"], t["title"])
                                               for t in RELEASE["tables"]["tickets"]]
        assert outbox == RELEASE["tables"]["outbox"][-1]["id"]
    finally:
        await engine.dispose()

    clock = VirtualClock(AFTER)
    adapter = FakeAdapter()
    bot = await build(settings_from_data(json.loads(json.dumps(DESK)), "(upgraded desk)"), clock, [adapter],
                      db_url=empty_url)
    desk = Harness(bot, clock, adapter)
    try:
        # what the old release left undone is finished by the new one
        assert await bot.dispatcher.recover() == 1
        await bot.outbox.drain()
        assert outbox in [m.id for m in adapter.sent]
        assert (await desk.rows(Ticket, Ticket.key == "HW-5"))[0].title == "stored before the upgrade"
        # the old tickets with their history, in the queue, and the numbering goes on
        shown = (await desk.reply("anna", "/ticket show HW-1", channel="#support-duty")).text
        assert "printer on fire in room 4.12" in shown and "toner cartridge jammed" in shown
        queue = (await desk.reply("anna", "/queue", channel="#support-duty")).text
        assert all(key in queue for key in ("HW-1", "HW-2", "HW-4"))
        assert "HW-3" not in queue   # closed by the old release
        receipt = (await desk.reply("rita", "/ticket the new release works")).text
        assert "HW-6" in receipt
        clock.advance(timedelta(minutes=1))
        assert "HW-6" in (await desk.reply("anna", "/ticket take HW-6", channel="#support-duty")).text
    finally:
        await bot.close()


async def test_an_unknown_newer_revision_is_named_not_a_traceback(empty_url: str, capsys) -> None:
    """An older release started on a database that a newer one upgraded (a replica restarted during a rolling
    upgrade, say) says so: `db upgrade` exits 2 with one line, and the bot does not start on it."""
    db_url = empty_url
    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        assert await asyncio.to_thread(main, ["db", "upgrade", "--db", db_url]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.count("\n") == 1 and "0999" in err and "newer release" in err
        with pytest.raises(migrate.SchemaAhead):
            await prepare_storage(engine, upgrade=False)
    finally:
        await engine.dispose()


def test_an_unreachable_database_is_one_line(capsys) -> None:
    assert main(["db", "upgrade", "--db", "postgresql+psycopg://nobody@127.0.0.1:9/nothing"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "cannot reach the database" in err and "port 9" in err


async def _waiting_index_build(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.scalar(text(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'CREATE INDEX%' AND wait_event_type = 'Lock'"))


NEW_TICKET = text(
    "INSERT INTO tickets (key, prefix, number, requester_id, title, description, priority, state, origin_platform, "
    "language, data, created_at, updated_at) VALUES (:key, 'HW', :number, 3, 'written during the upgrade', '', 2, "
    "'new', 'sim', 'en', '{}', now(), now())")


@pytest.mark.postgres
async def test_0005_lets_tickets_be_written_while_its_indexes_are_built(fresh_pg_url: str) -> None:
    """A plain CREATE INDEX queues behind a running transaction that writes tickets, and every later write queues
    behind it: the desk stands still until the oldest transaction ends. CONCURRENTLY waits too, but lets the
    writes through (with a plain CREATE INDEX the second insert below runs into its lock_timeout)."""
    engine = await first_release_database(fresh_pg_url, up_to="0004")
    try:
        async with engine.connect() as busy:
            await busy.execute(NEW_TICKET, {"key": "HW-90", "number": 90})   # open transaction: a writer at work
            upgrading = asyncio.create_task(migrate.upgrade(engine, "0005"))
            for _ in range(400):
                if await _waiting_index_build(engine) or upgrading.done():
                    break
                await asyncio.sleep(0.05)
            assert not upgrading.done(), upgrading
            assert "CONCURRENTLY" in (await _waiting_index_build(engine) or "")
            async with engine.connect() as other:
                await other.execute(text("SET lock_timeout = '5s'"))
                try:
                    await other.execute(NEW_TICKET, {"key": "HW-91", "number": 91})
                    await other.commit()
                except OperationalError as exc:
                    pytest.fail(f"a ticket could not be written while 0005 ran: {exc.orig}")
            await busy.commit()
        assert await upgrading == ["0005"]
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            valid = (await conn.execute(text(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname LIKE 'ix_tickets_open_%' ORDER BY 1"))).all()
        assert [tuple(v) for v in valid] == [("ix_tickets_open_created", True),
                                              ("ix_tickets_open_priority_created", True),
                                              ("ix_tickets_open_unassigned", True)]
        assert await schema_diff(engine) == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_0005_recovers_from_a_concurrent_build_that_failed(fresh_pg_url: str) -> None:
    """A concurrent build that failed leaves an invalid index (and maybe a valid one before it); the next
    `db upgrade` finishes the job instead of stopping at "already exists"."""
    engine = await first_release_database(fresh_pg_url, up_to="0004")
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("CREATE INDEX ix_tickets_open_created ON tickets (created_at) WHERE state IN "
                                    "('deferred', 'in_progress', 'new', 'triage', 'vendor', 'waiting_requester')"))
            # an index PostgreSQL marks invalid, as a failed CREATE INDEX CONCURRENTLY leaves it
            await conn.execute(text("CREATE INDEX ix_tickets_open_unassigned ON tickets (priority, created_at)"))
            await conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                                    "'ix_tickets_open_unassigned'::regclass"))
        assert (await migrate.upgrade(engine))[0] == "0005"
        async with engine.connect() as conn:
            invalid = await conn.scalar(text("SELECT count(*) FROM pg_index WHERE NOT indisvalid"))
        assert invalid == 0
    finally:
        await engine.dispose()
