"""Shared fixtures: real databases (a fresh SQLite file and a fresh PostgreSQL database), a bot built
through the composition root on them, a virtual clock and a recording adapter.

PostgreSQL: the server at ``$DUTYDESK_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
gets one fresh database per test session, ``dutydesk_test_<unix time>_<random>``, created through the ``postgres``
maintenance database, migrated once with ``storage.migrate.upgrade`` and dropped at the end. Every test
starts on emptied tables. With ``CI=true`` an unreachable server fails the PostgreSQL tests; elsewhere
they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sim import PROFILES
from bot.app import Bot, build
from bot.core.clock import VirtualClock
from bot.core.types import Capability, ChannelRef, InboundEvent, OutboundMessage, Platform, Removal, UserRef
from bot.settings import Settings, settings_from_data
from storage import migrate
from storage.db import make_engine
from storage.models import Base

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2026, 11, 24, 14, 50, tzinfo=UTC)  # a Tuesday, 15:50 in Berlin

# the desk most core tests run: two agents (anna also lead), a coordinator, an admin, one duty channel
DESK = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en"},
    "people": {
        "anna": {"name": "Anna", "roles": ["agent", "lead"]},
        "ben": {"name": "Ben"},
        "carla": {"name": "Carla", "roles": ["agent", "coordinator"]},
        "root": {"name": "Root", "roles": ["admin"]},
    },
    "channels": {"duty": ["#support-duty"]},
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# --------------------------------------------------------------------------- databases


def _pg_base() -> URL:
    return make_url(os.environ.get("DUTYDESK_TEST_PG_URL", PG_DEFAULT))


def _maintenance_connect(base: URL):
    import psycopg

    return psycopg.connect(
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        user=base.username or "postgres",
        password=base.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def _run_aside(coro: Coroutine[Any, Any, None]) -> None:
    """Runs a coroutine to the end on a loop of its own (a session fixture may be set up inside a test's loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


PG_TEST_PREFIX = "dutydesk_test_"
STALE_AFTER = 6 * 3600  # a test database this old belongs to a run that was killed before it could drop it


def _drop_stale_databases(conn) -> None:
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PG_TEST_PREFIX + "%",)).fetchall()
    for (name,) in rows:
        stamp = name.removeprefix(PG_TEST_PREFIX).partition("_")[0]
        if stamp.isdigit() and time.time() - int(stamp) > STALE_AFTER:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped at the end)."""
    import psycopg

    base = _pg_base()
    where = f"{base.host or '127.0.0.1'}:{base.port or 5432}"
    try:
        conn = _maintenance_connect(base)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {where} is not reachable: {str(exc).strip().splitlines()[0]}"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"{reason}; start it (or set DUTYDESK_TEST_PG_URL) to run the PostgreSQL tests")
    _drop_stale_databases(conn)
    name = f"{PG_TEST_PREFIX}{int(time.time())}_{secrets.token_hex(4)}"
    conn.execute(f'CREATE DATABASE "{name}"')
    # a throw-away database: commits need not wait for the disk
    conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
    try:
        url = base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        _run_aside(_migrate(url))
        yield url
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def fresh_pg_url(pg_server_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own (no schema yet), dropped at the end."""
    base = make_url(pg_server_url)
    name = f"{PG_TEST_PREFIX}{int(time.time())}_{secrets.token_hex(4)}"
    with _maintenance_connect(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with _maintenance_connect(base) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once with ``storage.migrate.upgrade``; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    _run_aside(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


async def _empty_pg(url: str) -> None:
    # DELETE, children first: an order of magnitude faster than TRUNCATE on a few small tables
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def db_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty, migrated database on each backend (SQLite: a new file; PostgreSQL: emptied tables)."""
    if backend == "sqlite":
        path = tmp_path / "dutydesk.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("pg_server_url")
    await _empty_pg(url)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


# --------------------------------------------------------------------------- the bot


@dataclass
class FakeAdapter:
    """Records what the bot sends; ``fail`` can make a send raise (a DeliveryError, say)."""

    platform: Platform = Platform.SIM
    capabilities: frozenset[Capability] = PROFILES["slack"]
    sent: list[OutboundMessage] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    fail: Callable[[OutboundMessage], BaseException | None] | None = None

    async def send(self, message: OutboundMessage) -> str | None:
        self.attempts.append(message.id)
        if self.fail is not None:
            exc = self.fail(message)
            if exc is not None:
                raise exc
        self.sent.append(message)
        return f"fake-{message.id}"

    async def remove(self, removal: Removal) -> str | None:
        self.removed.append(removal)
        return removal.message_id


@functools.cache
def _default_desk() -> Settings:
    return settings_from_data(copy.deepcopy(DESK), "(test desk)")


def desk_settings(**overrides: Any) -> Settings:
    if not overrides:
        return _default_desk()  # loading settings is not free; the default desk is loaded once
    data = copy.deepcopy(DESK)
    data.update(overrides)
    return settings_from_data(data, "(test desk)")


@dataclass(frozen=True)
class DeskSettingsFactory:
    """``factory(**overrides)`` is the test desk's settings; ``factory.start`` the instant tests start at."""

    start: datetime = START

    def __call__(self, **overrides: Any) -> Settings:
        return desk_settings(**overrides)


@pytest.fixture
def desk_settings_factory() -> DeskSettingsFactory:
    return DeskSettingsFactory()


_EVENT_IDS = itertools.count(1)  # unique across bots, so a rebuilt bot's events are not duplicates


class Harness:
    """A whole bot on a real database, driven like a platform would drive it."""

    def __init__(self, bot: Bot, clock: VirtualClock, adapter: FakeAdapter) -> None:
        self.bot = bot
        self.clock = clock
        self.adapter = adapter

    @property
    def sessions(self):
        return self.bot.desk.sessions

    def event(
        self,
        user: str,
        text: str = "",
        *,
        kind: str | None = None,
        channel: str = "#general",
        dm: bool = False,
        ticket: str | None = None,
        event_id: str | None = None,
        name: str | None = None,
        value: str | None = None,
    ) -> InboundEvent:
        if dm:
            ref = ChannelRef(platform=Platform.SIM, channel_id=f"@{user}", is_private=True, is_direct=True)
        elif ticket is not None:
            ref = ChannelRef(platform=Platform.SIM, channel_id=f"ticket:{ticket}", is_private=True)
        else:
            ref = ChannelRef(platform=Platform.SIM, channel_id=channel,
                             is_private=self.bot.desk.is_duty_channel(channel))
        if kind is None:
            kind = "command" if text.startswith("/") else ("dm" if dm else "message")
        return InboundEvent(
            kind=kind,  # type: ignore[arg-type]
            event_id=event_id or f"ev-{next(_EVENT_IDS)}",
            actor=UserRef(platform=Platform.SIM, user_id=user, display_name=user.capitalize()),
            channel=ref,
            text=text.removeprefix("/"),
            received_at=self.clock.now(),
            ticket=ticket,
            name=name,
            value=value,
        )

    async def send(self, user: str, text: str = "", **kwargs: Any) -> list[OutboundMessage]:
        """Handles one event and delivers what is due; returns the messages sent meanwhile."""
        before = len(self.adapter.sent)
        await self.bot.handle(self.event(user, text, **kwargs))
        return self.adapter.sent[before:]

    async def reply(self, user: str, text: str, **kwargs: Any) -> OutboundMessage:
        """The one message the actor was answered with (receipt, reply or error)."""
        sent = await self.send(user, text, **kwargs)
        mine = [m for m in sent if m.target.user_id == user and m.target.kind in ("ephemeral", "dm")]
        assert len(mine) == 1, f"expected one answer to {user}, got {[(m.target, m.text) for m in sent]}"
        return mine[0]

    async def rows(self, model: type, *where: Any, order: Any = None) -> list[Any]:
        async with self.sessions() as session:
            stmt = select(model).where(*where)
            if order is not None:
                stmt = stmt.order_by(order)
            return list((await session.scalars(stmt)).all())

    async def count(self, model: type, *where: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))


BotFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(db_url: str) -> AsyncIterator[BotFactory]:
    """Builds bots through ``bot.app.build`` on the test database; closes them at the end.

    ``factory(settings=None, *, url=None, capabilities=None, clock=None, **desk_overrides)``:
    without ``settings`` the test desk is used, with ``desk_overrides`` replacing its sections.
    """
    bots: list[Bot] = []

    async def factory(
        settings: Settings | None = None,
        *,
        url: str | None = None,
        capabilities: frozenset[Capability] | None = None,
        clock: VirtualClock | None = None,
        **desk_overrides: Any,
    ) -> Harness:
        clock = clock or VirtualClock(START)
        adapter = FakeAdapter(capabilities=capabilities if capabilities is not None else PROFILES["slack"])
        bot = await build(settings or desk_settings(**desk_overrides), clock, [adapter], db_url=url or db_url)
        bots.append(bot)
        return Harness(bot, clock, adapter)

    yield factory
    for bot in bots:
        await bot.close()


@pytest.fixture
async def desk(make_harness: BotFactory) -> Harness:
    """The test desk on each backend."""
    return await make_harness()
