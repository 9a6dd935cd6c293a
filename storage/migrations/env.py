"""Alembic environment: batch mode so the same migrations run on SQLite and PostgreSQL.

``storage.migrate`` hands in a synchronous connection (from ``AsyncConnection.run_sync``);
the plain ``alembic`` command line gets an async engine of its own.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import make_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    # one transaction per migration: `db upgrade` reports each, and an autocommit block (CREATE INDEX CONCURRENTLY)
    # commits only its own migration's work
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.begin() as conn:
        await conn.run_sync(_configure)
    await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    _configure(given)
else:
    asyncio.run(_run_with_own_engine())
