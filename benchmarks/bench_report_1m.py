"""The week's report (`/report`, the weekly post) at a million tickets, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_report_1m.py [--tickets 1000000] [--repeat 7] [--backend sqlite|postgresql|all]
                                                   [--no-plans] [--rebuild]

The data: the tickets of benchmarks/bench_queue_1m.py (the same generator, the same seed: five years, 20,000
requesters, 40 agents, 98 % done, 2 % open) and, new here, each ticket's event log as the bot writes it: created;
for a taken ticket the assignment, the state change and the agent's public reply (the first response); for a
solved one resolved, the satisfaction question (state ``feedback``), the answer for 60 % of them (satisfied or not
fixed) and the close (``no answer`` for the rest); a merged one is merged. About 7 events per ticket, 7 M rows.

- SQLite: built once with ``executemany`` into a cached file in the system temp directory (named by the schema
  revision and the data version; ``--rebuild`` makes it anew), analysed like the running bot does, then read.
- PostgreSQL: a fresh database ``dutydesk_bench_r1m_<pid>`` on ``$DUTYDESK_BENCH_PG_URL`` (default
  127.0.0.1:5432), migrated, loaded with ``COPY`` (secondary indexes built after the load), analysed, dropped at
  the end.

Measured with the production code: ``bot.reports.figures.build_report`` on a desk with the office calendar
(Mon–Fri 08:00–18:00, Europe/Berlin) and an SLA policy of three targets, for **last week** (Mon 16 – Sun 22 Nov
2026, what the weekly post reports on Monday; "now" is Tue 24 Nov 15:00, so the tickets that changed after the
week's end are read too) and **this week** (Mon 23 Nov up to now). Each is run ``--repeat`` times after a warm-up
on one session; the median is the result, the target is under 1 s. The baseline is a plain SQL count of the same
tickets on the same connection (``SELECT count(*) FROM tickets WHERE created_at >= start AND created_at < end``):
the ratio says how much more than touching the week's rows the report costs. Then the plan of every statement the
report sent (captured as it ran): EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from benchmarks.bench_queue_1m import (  # noqa: E402
    AGENTS,
    NOW,
    Table,
    explain,
    load_postgres,
    sqlite_file,
    tables,
    ticket_rows,
)
from benchmarks.common import PgUnavailable, pg_database, print_table, report_target  # noqa: E402
from bot.core.clock import VirtualClock  # noqa: E402
from bot.core.desk import Desk  # noqa: E402
from bot.core.registry import Registry  # noqa: E402
from bot.reports.figures import bounds, build_report, report_calendar  # noqa: E402
from bot.settings import settings_from_data  # noqa: E402
from bot.tickets.states import OPEN_STATES  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.models import Ticket  # noqa: E402

TARGET_S = 1.0
DATA_VERSION = 2
EVENT_COLUMNS = ["id", "ticket_id", "at", "actor_id", "kind", "old", "new", "body", "public"]
WEEKS = {"last week": (date(2026, 11, 16), date(2026, 11, 22)), "this week": (date(2026, 11, 23), date(2026, 11, 29))}
DESK = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "calendar": "office", "sla": "support",
             "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {
        "response-P1": {"within": "30m"}, "response": {"within": "4h"}, "resolve": {"within": "2d"}}}},
    "people": {f"agent{i}": {"name": f"Agent {i}", "roles": ["agent"]} for i in range(1, AGENTS + 1)},
}
OPEN = {s.value for s in OPEN_STATES}


# --------------------------------------------------------------------------- data


def event_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """Each ticket's log, consistent with its row (state, assignee, closed_at), in the order the bot writes it."""
    rng = random.Random(7)
    n = 0

    def ev(ticket: int, at: datetime, actor: int | None, kind: str, old: str | None = None, new: str | None = None,
           body: str | None = None, public: bool = False) -> tuple[Any, ...]:
        nonlocal n
        n += 1
        return (n, ticket, at, actor, kind, old, new, body, public)

    for row in ticket_rows(count):
        tid, requester, assignee, state, created, closed = row[0], row[4], row[5], row[9], row[14], row[16]
        yield ev(tid, created, requester, "created", new="new", body="")
        if state == "new":
            continue
        if state == "merged":
            yield ev(tid, min(closed, created + (NOW - created) * 0.9), assignee, "state", "new", "merged")
            continue
        taken = created + timedelta(minutes=rng.randint(5, 180))
        last = "new"
        if state == "triage":
            yield ev(tid, taken, None, "state", "new", "triage")
            continue
        if assignee is not None:
            yield ev(tid, taken, assignee, "assign", None, f"agent{assignee}")
        yield ev(tid, taken, assignee, "state", last, "in_progress")
        last = "in_progress"
        agent = assignee or rng.randint(1, AGENTS)
        # the generator's close may lie after "now" for the newest tickets: nothing is logged in the future
        end = NOW if closed is None else min(closed, created + (NOW - created) * 0.9)
        replied = min(taken + timedelta(minutes=rng.randint(1, 240)), end - timedelta(seconds=2))
        yield ev(tid, max(replied, taken), agent, "reply", body="looking into it", public=True)
        if state in OPEN:
            if state != "in_progress":
                yield ev(tid, max(replied, taken) + timedelta(seconds=1), agent, "state", last, state)
            continue
        span = (end - created) / 2
        resolved = max(created + span, max(replied, taken) + timedelta(seconds=1))
        yield ev(tid, resolved, agent, "state", last, "resolved", body="the solution")
        if state == "resolved":
            continue
        yield ev(tid, resolved + timedelta(seconds=1), None, "state", "resolved", "feedback")
        if state == "feedback":
            continue
        answered = rng.random() < 0.6
        if answered:
            yield ev(tid, resolved + (end - resolved) / 2, requester, "feedback", None,
                     rng.choice(("satisfied", "satisfied", "satisfied", "notfixed")))
        yield ev(tid, end, None if not answered else requester, "state", "feedback", "closed",
                 body=None if answered else "no answer")


def data(count: int) -> list[Table]:
    """The queue benchmark's people and tickets, and each ticket's event log."""
    return [*tables(count), ("ticket_events", EVENT_COLUMNS, lambda: event_rows(count))]


# --------------------------------------------------------------------------- measuring


class Capture:
    """The statements (and parameters) the code sends while ``on`` is set."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        if self.on:
            self.statements.append((statement, parameters))


async def measure(url: str, backend: str, repeat: int, plans: bool, tickets: int) -> list[list[str]]:
    engine = make_engine(url)
    capture = Capture(engine)
    settings = settings_from_data(DESK, "(benchmark desk)", env={})
    desk = Desk(settings=settings, clock=VirtualClock(NOW), sessions=make_sessionmaker(engine), registry=Registry())
    zone = report_calendar(desk).zone
    rows = []
    try:
        async with desk.sessions() as session:
            for name, (first, last) in WEEKS.items():
                start, end = bounds(zone, first, last)
                count = select(func.count()).select_from(Ticket).where(Ticket.created_at >= start,
                                                                        Ticket.created_at < end)
                report = await build_report(session, desk, first, last)  # warm-up: caches, plans
                baseline = await session.scalar(count)
                reports, counts = [], []
                for _ in range(repeat):
                    began = time.perf_counter()
                    await build_report(session, desk, first, last)
                    reports.append(time.perf_counter() - began)
                    began = time.perf_counter()
                    await session.scalar(count)
                    counts.append(time.perf_counter() - began)
                median, floor = statistics.median(reports), statistics.median(counts)
                assert report.opened == baseline, (report.opened, baseline)  # the same rows
                print(f"{backend}: {name} {first}–{last}: {report.opened:,} opened, {report.closed:,} closed, "
                      f"{report.open_at_end:,} open at the end, {len(report.tickets):,} ticket lines; "
                      f"report median {median * 1000:.0f} ms (worst {max(reports) * 1000:.0f}), "
                      f"count median {floor * 1000:.1f} ms")
                rows.append([f"{backend}: {name}", f"{report.opened:,}", f"{median * 1000:.0f}",
                             f"{max(reports) * 1000:.0f}", f"{floor * 1000:.1f}", f"{median / floor:.0f}x",
                             "ok" if median < TARGET_S else "SLOW"])
                report_target(f"report {name} at {tickets:,} tickets, {backend}", f"{median * 1000:.0f} ms",
                              f"< {TARGET_S * 1000:.0f} ms", median < TARGET_S)
                if plans and name == "last week":
                    capture.on = True
                    await build_report(session, desk, first, last)
                    capture.on = False
        if plans:
            await explain(engine, backend, capture.statements)
        return rows
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--no-plans", dest="plans", action="store_false")
    parser.add_argument("--rebuild", action="store_true", help="build the cached SQLite file anew")
    args = parser.parse_args()
    rows: list[list[str]] = []
    if args.backend in ("sqlite", "all"):
        path = sqlite_file(args.tickets, args.rebuild, name="r1m", version=DATA_VERSION, data=data(args.tickets))
        rows += asyncio.run(measure(f"sqlite+aiosqlite:///{path}", "sqlite", args.repeat, args.plans, args.tickets))
    if args.backend in ("postgresql", "all"):
        try:
            with pg_database("dutydesk_bench_r1m") as url:
                asyncio.run(load_postgres(url, args.tickets, data(args.tickets)))
                rows += asyncio.run(measure(url, "postgresql", args.repeat, args.plans, args.tickets))
        except PgUnavailable as exc:
            rows.append([f"postgresql: {exc}", "-", "-", "-", "-", "-", "-"])
    print()
    print(f"{args.tickets:,} tickets; target: the report's median < {TARGET_S * 1000:.0f} ms")
    print_table(["report", "opened", "median ms", "worst ms", "count ms", "vs count", "target"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
