"""The ``platform_state`` key-value table: small adapter state that must survive restarts
(the Matrix sync token, ticket room and DM room mappings, pending numbered choices).

Repository functions in the style of ``storage/``: they take a session and never commit. Adapters
reach them only through :class:`StateStore` (their ``state`` port).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import affected
from storage.models import KeyValue
from storage.upsert import upsert


async def get(session: AsyncSession, key: str) -> str | None:
    return await session.scalar(select(KeyValue.value).where(KeyValue.key == key))


async def get_many(session: AsyncSession, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = await session.execute(select(KeyValue.key, KeyValue.value).where(KeyValue.key.in_(keys)))
    return {key: value for key, value in rows.all()}


async def put(session: AsyncSession, key: str, value: str) -> None:
    """Sets ``key`` (insert or overwrite)."""
    await session.execute(upsert(session, KeyValue, {"key": key, "value": value}, key=["key"],
                                 update={"value": value}))


async def put_new(session: AsyncSession, key: str, value: str) -> str:
    """Sets ``key`` unless it is set already; returns the value that is stored now (the first writer wins)."""
    inserted = await session.scalar(upsert(session, KeyValue, {"key": key, "value": value}, key=["key"])
                                    .returning(KeyValue.value))
    if inserted is not None:   # this writer was first: no second statement to read back what it wrote
        return inserted
    stored = await get(session, key)
    return stored if stored is not None else value


async def remove(session: AsyncSession, key: str) -> None:
    await session.execute(delete(KeyValue).where(KeyValue.key == key))


async def keys_with_prefix(session: AsyncSession, prefix: str, *, limit: int = 100) -> list[str]:
    rows = await session.scalars(select(KeyValue.key).where(KeyValue.key.startswith(prefix, autoescape=True))
                                 .order_by(KeyValue.key).limit(limit))
    return list(rows.all())


async def take(session: AsyncSession, key: str) -> bool:
    """Deletes ``key``; True only for the one caller whose delete removed it (a claim)."""
    result = await session.execute(delete(KeyValue).where(KeyValue.key == key))
    return bool(affected(result))


class StateTx:
    """The functions above on one session (the ``state`` port's transaction, bot/core/ports.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> str | None:
        return await get(self.session, key)

    async def get_many(self, keys: list[str]) -> dict[str, str]:
        return await get_many(self.session, keys)

    async def put(self, key: str, value: str) -> None:
        await put(self.session, key, value)

    async def put_new(self, key: str, value: str) -> str:
        return await put_new(self.session, key, value)

    async def remove(self, key: str) -> None:
        await remove(self.session, key)

    async def keys_with_prefix(self, prefix: str, *, limit: int = 100) -> list[str]:
        return await keys_with_prefix(self.session, prefix, limit=limit)

    async def take(self, key: str) -> bool:
        return await take(self.session, key)


class StateStore:
    """The ``state`` port of the adapters: ``read()`` without a commit, ``write()`` one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[StateTx]:
        async with self.sessions() as session:
            yield StateTx(session)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[StateTx]:
        async with self.sessions.begin() as session:
            yield StateTx(session)
