"""Runs the alembic migrations from inside the bot (``dutydesk db upgrade`` and ``run`` on SQLite).

Each migration runs in a transaction of its own, one after the other, so ``db upgrade`` can say which one runs and
an upgrade that fails keeps the migrations before it. On PostgreSQL the upgrade holds an advisory lock: replicas
that all run ``db upgrade`` at start (an init container each, say) wait for the first and then find nothing to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_lock key of the schema upgrade (any constant; "dutydesk" in ASCII)
UPGRADE_LOCK = 0x6475747964657368


class SchemaAhead(Exception):
    """The database was upgraded by a newer release than this one; the message says what to do."""


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def pending(current: str | None, target: str = "head") -> list[Script]:
    """The migrations from ``current`` to ``target``, oldest first (SchemaAhead when ``current`` is unknown here)."""
    directory = scripts()
    if current is not None and current not in {s.revision for s in directory.walk_revisions()}:
        raise SchemaAhead(
            f"the database is at schema revision {current}, which this dutydesk ({head_revision()}) does not know: a "
            "newer release upgraded it; run that release, or restore the backup taken before the upgrade")
    return list(reversed(list(directory.iterate_revisions(target, current))))


async def upgrade(engine: AsyncEngine, revision: str = "head", *, progress: Callable[[str], None] | None = None
                  ) -> list[str]:
    """Applies the migrations up to ``revision``, one transaction each; ``progress`` hears of each as it starts and
    ends. Returns the revisions applied."""
    say = progress or (lambda _line: None)
    applied: list[str] = []
    async with engine.connect() as lock:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            # autocommit: a transaction left open here would hold back CREATE INDEX CONCURRENTLY for ever
            await lock.execution_options(isolation_level="AUTOCOMMIT")
            await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": UPGRADE_LOCK})
        try:
            for step in pending(await current_revision(engine), revision):
                say(f"applying {step.revision}: {step.doc}")
                started = time.perf_counter()
                async with engine.connect() as conn:
                    await conn.run_sync(_upgrade_to, step.revision)
                applied.append(step.revision)
                say(f"applied {step.revision} in {time.perf_counter() - started:.1f} s")
        finally:
            if postgres:
                await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK})
    return applied


def _upgrade_to(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_revision)


def head_revision() -> str | None:
    return scripts().get_current_head()
