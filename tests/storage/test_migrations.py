"""Schema changes only through alembic: the same migrations build the models' schema on both backends."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import StorageNotReady, prepare_storage
from storage import migrate
from storage.db import make_engine
from storage.models import Base


def _diff(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, Base.metadata)


async def schema_diff(engine: AsyncEngine) -> list:
    async with engine.connect() as conn:
        return await conn.run_sync(_diff)


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    assert await schema_diff(engine) == []


async def test_database_is_at_head_and_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    head = migrate.head_revision()
    assert head is not None
    assert await migrate.current_revision(engine) == head
    await migrate.upgrade(engine)  # a second run changes nothing
    assert await migrate.current_revision(engine) == head
    assert await schema_diff(engine) == []


async def test_every_model_table_exists(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"} == names


async def test_empty_sqlite_file_is_upgraded_in_place(tmp_path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'new.db'}")
    try:
        assert await migrate.current_revision(engine) is None
        await prepare_storage(engine, upgrade=False)  # embedded SQLite: upgraded without asking
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await schema_diff(engine) == []
        await _assert_drift_is_noticed(engine)
    finally:
        await engine.dispose()


async def _assert_drift_is_noticed(engine: AsyncEngine) -> None:
    """The comparison is not vacuous: a schema that lost an index is reported."""
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX ix_outbox_status_due"))
    diff = await schema_diff(engine)
    assert [d[0] for d in diff] == ["add_index"]
    assert diff[0][1].name == "ix_outbox_status_due"


@contextlib.asynccontextmanager
async def pg_schema(url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """An engine on a new, empty schema of the test database (dropped afterwards)."""
    schema = f"fresh_{secrets.token_hex(4)}"
    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        yield engine, schema
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.mark.postgres
async def test_postgres_from_empty_schema_and_refusal_when_behind(pg_server_url: str) -> None:
    """A shared database is not upgraded behind the operator's back; `db upgrade` brings it to head."""
    async with pg_schema(pg_server_url) as (engine, schema):
        assert await migrate.current_revision(engine) is None
        with pytest.raises(StorageNotReady, match="dutydesk db upgrade"):
            await prepare_storage(engine, upgrade=False)
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names(schema=schema)))
        assert "tickets" in names and "alembic_version" in names
        assert await schema_diff(engine) == []
        await prepare_storage(engine, upgrade=False)  # at head: accepted
        await _assert_drift_is_noticed(engine)


def test_db_upgrade_cli(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    out, err = capsys.readouterr()
    every = [step.revision for step in migrate.pending(None)]
    assert [line.split(":")[0] for line in out.splitlines()[:-1:2]] == [f"applying {rev}" for rev in every]
    assert out.splitlines()[-1] == f"database is at schema revision {migrate.head_revision()}"
    assert err == ""
    assert main(["db", "upgrade", "--db", url]) == 0   # nothing to do: only where it is
    assert capsys.readouterr().out == f"database is at schema revision {migrate.head_revision()}\n"


async def _removal_rows_after_0006(engine: AsyncEngine) -> list[tuple]:
    await migrate.upgrade(engine, "0005")
    columns = ("created_at, platform, target_kind, channel_id, kind, visibility, text, buttons, status, attempts, "
               "next_attempt_at, meta")
    async with engine.begin() as conn:
        for kind, meta in (("remove", '{"message_id": "m1"}'), ("notice", None)):
            await conn.execute(text(
                f"INSERT INTO outbox ({columns}) VALUES (:at, 'slack', 'channel', '#general', :kind, 'public', '', "
                "'[]', 'pending', 0, :at, :meta)"), {"at": "2026-11-24 10:00:00", "kind": kind, "meta": meta})
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT operation, kind, meta FROM outbox ORDER BY id"))).all())


async def test_0006_turns_stored_removal_rows_into_the_remove_operation(tmp_path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        rows = await _removal_rows_after_0006(engine)
        assert [(op, kind) for op, kind, _ in rows] == [("remove", "remove"), ("send", "notice")]
        assert "m1" in str(rows[0][2])
        assert await schema_diff(engine) == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_0006_on_postgres(pg_server_url: str) -> None:
    async with pg_schema(pg_server_url) as (engine, _):
        rows = await _removal_rows_after_0006(engine)
        assert [(op, kind) for op, kind, _ in rows] == [("remove", "remove"), ("send", "notice")]
        assert await schema_diff(engine) == []
