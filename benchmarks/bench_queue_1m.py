"""`/queue` and the Prio-1 digest query at a million tickets, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_queue_1m.py [--tickets 1000000] [--repeat 15] [--backend sqlite|postgresql|all]
                                                  [--no-plans] [--rebuild]

The data: ``--tickets`` tickets over five years from 20,000 requesters and 40 agents, in a realistic
mix: 98 % closed, resolved or merged, 2 % open (new, triage, in progress, waiting for the requester,
vendor, deferred), priorities 10 % P1 / 60 % P2 / 30 % P3, a third of the open ones unassigned.

- SQLite: built once with ``executemany`` into a cached file in the system temp directory (named by
  the schema revision and the data version; ``--rebuild`` makes it anew), then read.
- PostgreSQL: a fresh database ``dutydesk_bench_q1m_<pid>`` on ``$DUTYDESK_BENCH_PG_URL`` (default
  127.0.0.1:5432), migrated, loaded with ``COPY`` (secondary indexes built after the load), analysed,
  and dropped at the end.

Measured with the production code on a migrated schema: ``bot.tickets.queue.snapshot`` (what
``/queue`` shows: counts by state and priority, the oldest open, the unassigned) and the SELECT of
``bot.digest.prio1.open_tickets`` (open P1 tickets, oldest first, with the assignee). Each is run
``--repeat`` times after a warm-up; the median and the worst are printed against the target of 50 ms,
and as a ratio to a primary-key lookup of one ticket on the same connection (the floor any query
pays). Then the plan of every statement the code sent (captured as it ran): EXPLAIN (ANALYZE,
BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from benchmarks.common import PgUnavailable, pg_database, print_table  # noqa: E402
from bot.digest import prio1  # noqa: E402
from bot.tickets import queue  # noqa: E402
from bot.tickets.states import OPEN_STATES, State  # noqa: E402
from storage import maintenance, migrate  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.models import Ticket  # noqa: E402

TARGET_MS = 50.0
DATA_VERSION = 1
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
AGENTS, REQUESTERS = 40, 20_000
OPEN = sorted(s.value for s in OPEN_STATES)
OPEN_WEIGHTS = {"new": 15, "triage": 15, "in_progress": 40, "waiting_requester": 15, "vendor": 5, "deferred": 10}
DONE_WEIGHTS = {State.CLOSED.value: 94, State.RESOLVED.value: 2, State.FEEDBACK.value: 2, State.MERGED.value: 2}
COLUMNS = ["id", "key", "prefix", "number", "requester_id", "assignee_id", "title", "description", "priority",
           "state", "origin_platform", "origin_channel", "language", "data", "created_at", "updated_at", "closed_at"]


# --------------------------------------------------------------------------- data


def people_rows() -> list[tuple[Any, ...]]:
    rows = [(i, f"agent{i}", f"Agent {i}", True, NOW - timedelta(days=2000)) for i in range(1, AGENTS + 1)]
    rows += [(AGENTS + i, f"requester{i}", f"Requester {i}", False, NOW - timedelta(days=2000))
             for i in range(1, REQUESTERS + 1)]
    return rows


def ticket_rows(count: int) -> list[tuple[Any, ...]]:
    """Deterministic rows; the oldest first, the open ones mostly recent (as in a real desk)."""
    rng = random.Random(42)
    span = timedelta(days=5 * 365).total_seconds()
    open_states, open_w = list(OPEN_WEIGHTS), list(OPEN_WEIGHTS.values())
    done_states, done_w = list(DONE_WEIGHTS), list(DONE_WEIGHTS.values())
    rows = []
    for n in range(1, count + 1):
        created = NOW - timedelta(seconds=span * (1 - n / count) + rng.random() * 60)
        is_open = rng.random() < 0.02 * (0.5 + n / count)  # ~2 %, more of them recent
        state = rng.choices(open_states, open_w)[0] if is_open else rng.choices(done_states, done_w)[0]
        priority = rng.choices((1, 2, 3), (10, 60, 30))[0]
        assignee = None if (is_open and rng.random() < 0.33) or (not is_open and rng.random() < 0.03) \
            else rng.randint(1, AGENTS)
        closed = None if is_open else created + timedelta(hours=rng.randint(1, 400))
        rows.append((n, f"HW-{n}", "HW", n, AGENTS + rng.randint(1, REQUESTERS), assignee,
                     f"ticket {n}: printer on fire in room {n % 500}", "", priority, state, "slack", "C0GENERAL",
                     "en", "{}", created, created + timedelta(minutes=5), closed))
    return rows


def naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


PEOPLE_COLUMNS = ["id", "key", "display_name", "is_staff", "created_at"]
# a table the benchmark data fills: its name, its columns, and a function giving its rows
Table = tuple[str, Sequence[str], Callable[[], Iterable[tuple[Any, ...]]]]


def tables(count: int) -> list[Table]:
    """The people and ``count`` tickets; bench_report_1m.py adds their event logs."""
    return [("people", PEOPLE_COLUMNS, people_rows), ("tickets", COLUMNS, lambda: ticket_rows(count))]


def sqlite_file(count: int, rebuild: bool, *, name: str = "q1m", version: int = DATA_VERSION,
                data: list[Table] | None = None) -> Path:
    """The benchmark's SQLite file, built once (``executemany``, the big tables' indexes built after the load) and
    cached in the temp directory by ``name``, ticket count, schema revision and data ``version``."""
    data = data if data is not None else tables(count)
    head = migrate.head_revision()
    path = Path(tempfile.gettempdir()) / f"dutydesk-bench-{name}-{count}-{head}-v{version}.sqlite"
    if path.exists() and not rebuild:
        print(f"sqlite: cached {path.name}")
        return path
    began = time.perf_counter()
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    engine = make_engine(f"sqlite+aiosqlite:///{building}")
    asyncio.run(_migrate(engine))
    conn = sqlite3.connect(building)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    big = [table for table, _, _ in data if table != "people"]
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
                           f"tbl_name IN ({', '.join('?' * len(big))})", big).fetchall()
    for index, _ in indexes:
        conn.execute(f'DROP INDEX "{index}"')
    with conn:
        for table, columns, rows in data:
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                             (tuple(naive(v) for v in row) for row in rows()))
    with conn:
        for _, definition in indexes:
            conn.execute(definition)
    # what the running bot does (storage/maintenance.py): a bounded ANALYZE
    conn.execute(f"PRAGMA analysis_limit={maintenance.ANALYSIS_LIMIT}")
    conn.execute("ANALYZE")
    counts = ", ".join(f"{conn.execute(f'SELECT count(*) FROM {table}').fetchone()[0]:,} {table}" for table in big)
    conn.close()
    building.rename(path)
    print(f"sqlite: built {counts} in {time.perf_counter() - began:.1f} s ({path.name})")
    return path


async def _migrate(engine: AsyncEngine) -> None:
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def load_postgres(url: str, count: int, data: list[Table] | None = None) -> None:
    """Migrates the database at ``url`` and fills it with COPY; the big tables' secondary indexes are built once
    after the load, not row by row during it."""
    import psycopg
    from sqlalchemy.engine import make_url

    data = data if data is not None else tables(count)
    names = [table for table, _, _ in data]
    big = [table for table in names if table != "people"]
    engine = make_engine(url)
    await _migrate(engine)
    parsed = make_url(url)
    began = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(
            host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username or "postgres",
            password=parsed.password, dbname=parsed.database) as conn:
        async with conn.cursor() as cur:
            await cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                              "AND indexname LIKE 'ix_%%'", (big,))
            indexes = await cur.fetchall()
            for index, _ in indexes:
                await cur.execute(f'DROP INDEX "{index}"')
            for table, columns, rows in data:
                async with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows():
                        await copy.write_row(row)
            for table in big:
                await cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))")
            await cur.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in indexes:
                await cur.execute(definition)
        await conn.commit()
        await conn.set_autocommit(True)
        for table in names:
            await conn.execute(f"VACUUM ANALYZE {table}")
    print(f"postgresql: loaded {count:,} tickets ({', '.join(big)}) with COPY in {time.perf_counter() - began:.1f} s")


# --------------------------------------------------------------------------- measuring


class Capture:
    """The statements (and parameters) the code sends while ``on`` is set."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        if self.on and "tickets" in statement:
            self.statements.append((statement, parameters))


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    await fn()  # warm-up: caches, plans
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


async def measure(url: str, backend: str, repeat: int, plans: bool) -> list[list[str]]:
    engine = make_engine(url)
    capture = Capture(engine)
    sessions = make_sessionmaker(engine)
    open_count = 0
    try:
        async with sessions() as session:
            open_count = len((await session.execute(select(Ticket.id).where(Ticket.state.in_(OPEN)))).all())

            async def the_queue() -> Any:
                return await queue.snapshot(session)

            async def the_digest() -> Any:
                return (await session.execute(prio1.digest_query([1]))).all()

            async def pk_lookup() -> Any:
                return await session.scalar(select(Ticket.title).where(Ticket.id == 123_456))

            results = {"queue snapshot": await timed(the_queue, repeat),
                       "digest query": await timed(the_digest, repeat), "pk lookup": await timed(pk_lookup, repeat)}
            snap = await the_queue()
            digest = await the_digest()
            capture.on = True
            await the_queue()
            await the_digest()
            capture.on = False
        floor = statistics.median(results["pk lookup"])
        rows = []
        for name in ("queue snapshot", "digest query"):
            times = results[name]
            median = statistics.median(times)
            rows.append([f"{backend}: {name}", f"{median:.1f}", f"{max(times):.1f}", f"{median / floor:.0f}x",
                         "ok" if median < TARGET_MS else "SLOW"])
        print(f"{backend}: {open_count:,} open tickets; /queue shows {snap.total} open, "
              f"{snap.unassigned_total} unassigned; the digest lists {len(digest)}; pk lookup {floor:.2f} ms")
        if plans:
            await explain(engine, backend, capture.statements)
        return rows
    finally:
        await engine.dispose()


async def explain(engine: AsyncEngine, backend: str, statements: list[tuple[str, Any]]) -> None:
    """The plan of each SELECT sent (once per statement shape: chunked IN (…) queries repeat), EXPLAIN (ANALYZE,
    BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite; bench_report_1m.py prints its plans with it too."""
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if backend == "postgresql" else "EXPLAIN QUERY PLAN "
    seen: set[str] = set()
    async with engine.connect() as conn:
        for statement, parameters in statements:
            shape = " ".join(statement.split())
            if shape in seen or not shape.upper().startswith("SELECT"):
                continue
            seen.add(shape)
            result = await conn.exec_driver_sql(prefix + statement, parameters)
            out = io.StringIO()
            out.write(f"\n-- {backend}: {shape[:160]}…\n")
            for row in result.all():
                out.write(f"   {row[-1]}\n")
            print(out.getvalue(), end="")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--no-plans", dest="plans", action="store_false")
    parser.add_argument("--rebuild", action="store_true", help="build the cached SQLite file anew")
    args = parser.parse_args()
    rows: list[list[str]] = []
    if args.backend in ("sqlite", "all"):
        path = sqlite_file(args.tickets, args.rebuild)
        rows += asyncio.run(measure(f"sqlite+aiosqlite:///{path}", "sqlite", args.repeat, args.plans))
    if args.backend in ("postgresql", "all"):
        try:
            with pg_database("dutydesk_bench_q1m") as url:
                asyncio.run(load_postgres(url, args.tickets))
                rows += asyncio.run(measure(url, "postgresql", args.repeat, args.plans))
        except PgUnavailable as exc:
            rows.append([f"postgresql: {exc}", "-", "-", "-", "-"])
    print()
    print(f"{args.tickets:,} tickets; target: median < {TARGET_MS:.0f} ms")
    print_table(["query", "median ms", "worst ms", "vs pk lookup", "target"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
