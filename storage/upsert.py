"""``INSERT … ON CONFLICT`` on both databases: SQLite and PostgreSQL spell it alike, but SQLAlchemy has one
``insert()`` per dialect, so the statement is built for the dialect of the session, connection or engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase


def upsert(on: AsyncSession | AsyncConnection | AsyncEngine, table: type[DeclarativeBase] | Table,
           values: Mapping[str, Any] | None, *, key: Sequence[str], update: Mapping[str, Any] | None = None) -> Insert:
    """Inserts ``values`` into ``table``; a row with the same ``key`` columns stays as it is, or gets ``update``.

    Returns the statement: add ``.returning(…)`` to learn which rows were new, or pass ``values=None``
    and a list of parameter dicts to ``execute`` for many rows in one statement.
    """
    dialect = (on.get_bind() if isinstance(on, AsyncSession) else on).dialect.name
    return upsert_for(dialect, table, values, key=key, update=update)


def upsert_for(dialect: str, table: type[DeclarativeBase] | Table, values: Mapping[str, Any] | None, *,
               key: Sequence[str], update: Mapping[str, Any] | None = None) -> Insert:
    """:func:`upsert` for the dialect named ``dialect`` (``sqlite``, ``postgresql``): for a statement built once
    and kept (with ``bindparam`` values), which SQLAlchemy then need not build and look up anew every time."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table) if values is None else insert(table).values(**values)
    if update:
        return stmt.on_conflict_do_update(index_elements=list(key), set_=dict(update))
    return stmt.on_conflict_do_nothing(index_elements=list(key))
