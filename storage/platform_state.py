"""The ``platform_state`` key-value table: small adapter state that must survive restarts
(the Matrix sync token, ticket room and DM room mappings, pending numbered choices).

Repository functions in the style of ``storage/``: they take a session and never commit.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    await session.execute(upsert(session, KeyValue, {"key": key, "value": value}, key=["key"]))
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
    return bool(result.rowcount)
