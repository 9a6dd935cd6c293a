"""Ticket creation: tickets per second through the whole dispatcher, as a ratio to raw inserts.

    .venv/bin/python benchmarks/bench_tickets.py [--tickets 3000] [--warmup 100] [--chunk 100] [--budget 35]
                                                 [--backend sqlite|postgresql|all] [--profile]

Measured on SQLite (a file in a temporary directory) and on PostgreSQL (a fresh database
``dutydesk_bench_<pid>`` on ``$DUTYDESK_BENCH_PG_URL``, default 127.0.0.1:5432, dropped at the end;
skipped with one line when the server is not reachable):

- **dispatcher**: ``Dispatcher.handle`` of ``InboundEvent(kind="command", text="ticket printer on fire …")``
  from an outside requester in a public channel: the inbox row committed on its own (accept), then one
  unit of work (process): actor resolution, parsing, the ``ticket new`` handler (counter upsert, ticket,
  ticket_events row, outbox rows), the SLA refresh (timer rows) and the inbox row marked done. The
  outbox is never delivered: only acceptance and the unit of work count.
- **raw inserts**: the same rows (same tables, same columns, same values but keys and ids) written with
  SQLAlchemy Core ``insert()`` on the same engine, the way a sane hand-written implementation would:
  one transaction per ticket holding the counter upsert and every insert, several rows of a table in
  one executemany. The row shapes are copied from what the dispatcher wrote in this run, so the
  baseline follows the dispatcher when it changes.

Both sides write into the same database under their own ticket prefix (dispatcher ``HW``, raw ``RW``),
in alternating chunks, so they see the same table sizes and the same load on the machine (other
processes running meanwhile slow both alike). The first ``--warmup`` tickets of each side are not
timed; then up to ``--tickets`` are, but no new chunk starts after ``--budget`` seconds of a backend
(a busy machine gets fewer tickets, not a run of many minutes). At the end the rows of every table
are counted per side and must be equal. The ratio is dispatcher / raw: 1.0 would mean the dispatcher
costs nothing above the inserts themselves. The CPU time per ticket is printed too (this process only:
the Python side, and SQLite's own work, which runs in aiosqlite's thread; not the PostgreSQL server).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, bindparam, func, insert, select, update  # noqa: E402
from sqlalchemy import event as sa_event  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from adapters.sim import PROFILES  # noqa: E402
from benchmarks.common import PgUnavailable, pg_database, print_table, report_target  # noqa: E402
from bot.app import build  # noqa: E402
from bot.core.clock import VirtualClock  # noqa: E402
from bot.core.types import ChannelRef, InboundEvent, OutboundMessage, Platform, Removal, UserRef  # noqa: E402
from bot.settings import settings_from_data  # noqa: E402
from storage.models import DeskCounter, OutboxMessage, Person, ProcessedEvent, Ticket, TicketEvent, Timer  # noqa: E402
from storage.upsert import upsert  # noqa: E402

TARGET = 0.5  # the dispatcher should reach at least half the raw insert rate
START = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # a Tuesday, 08:00 in Berlin: the desk opens
TEXT = "printer on fire in room 3.14 — smoke everywhere, the toner is melting, please send someone"
REQUESTERS = 100
# each dispatcher ticket moves the virtual clock on by this much: 100 requesters in turn then open 7 tickets
# an hour each, within the desk's default limit of 10 (beyond it a request is kept on the newest ticket,
# which is less work than a ticket and not what this measures), and 3,200 tickets stay within the office
# hours (outside them a ticket also gets an auto-answer)
STEP = timedelta(seconds=5)
PREFIX, RAW_PREFIX = "HW", "RW"

# a desk as production runs one: staff, a duty channel (one more outbox row per ticket), and an SLA
# policy with response and resolution targets (a 75 % warning and a breach timer each per ticket)
DESK: dict[str, Any] = {
    "desk": {"name": "Bench desk", "ticket_prefix": PREFIX, "language": "en", "timezone": "Europe/Berlin",
             "calendar": "office", "sla": "desk"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"]}},
    "sla": {"desk": {"calendar": "office", "working_day": "hours",
                     "targets": {"response-P1": {"within": "1h"}, "response": {"within": "4h"},
                                 "resolve-P1": {"within": "4h"}, "resolve": {"within": "3d"}}}},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]}, "ben": {"name": "Ben"},
               "carla": {"name": "Carla", "roles": ["agent", "coordinator"]}},
    "channels": {"duty": ["#support-duty"]},
}


class NullAdapter:
    """Gives the desk Slack's capabilities; the benchmark never drains the outbox."""

    platform = Platform.SIM
    capabilities = PROFILES["slack"]

    async def send(self, message: OutboundMessage) -> str | None:  # pragma: no cover - never called
        raise AssertionError("the benchmark does not deliver the outbox")

    async def remove(self, removal: Removal) -> str | None:  # pragma: no cover - never called
        raise AssertionError("the benchmark does not deliver the outbox")


def make_events(side: str, first: int, count: int, at: datetime) -> list[InboundEvent]:
    """``/ticket printer on fire …`` from REQUESTERS outside requesters in turn, in #general, received
    STEP apart from ``at`` + STEP on (the dispatcher's clock is there when it handles each one)."""
    channel = ChannelRef(platform=Platform.SIM, channel_id="#general")
    return [
        InboundEvent(kind="command", event_id=f"bench-{side}-{n}", text=f"ticket {TEXT} #{n}", channel=channel,
                     actor=UserRef(platform=Platform.SIM, user_id=f"user{n % REQUESTERS}",
                                   display_name=f"User {n % REQUESTERS}"),
                     received_at=at + (n + 1) * STEP)
        for n in range(first, first + count)
    ]


# --------------------------------------------------------------------------- the raw baseline


def _plain(row: Any, drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in drop}


@dataclass
class Template:
    """The rows the dispatcher wrote for one ticket, without ids and keys."""

    key: str
    inbox: dict[str, Any]
    ticket: dict[str, Any]
    events: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    timers: list[dict[str, Any]]

    @classmethod
    async def capture(cls, engine: AsyncEngine, event: InboundEvent) -> Template:
        async with engine.connect() as conn:
            ticket = (await conn.execute(
                select(Ticket.__table__).where(Ticket.prefix == PREFIX).order_by(Ticket.id.desc()).limit(1)
            )).one()

            async def rows(table: Table, where: Any, drop: tuple[str, ...]) -> list[dict[str, Any]]:
                found = (await conn.execute(select(table).where(where).order_by(*table.primary_key))).all()
                return [_plain(r, drop) for r in found]

            inbox = await rows(ProcessedEvent.__table__, ProcessedEvent.key == event.idempotency_key,
                               ("key", "payload"))
            template = cls(
                key=ticket.key,
                inbox=inbox[0],
                ticket=_plain(ticket, ("id", "key", "prefix", "number")),
                events=await rows(TicketEvent.__table__, TicketEvent.ticket_id == ticket.id, ("id", "ticket_id")),
                outbox=await rows(OutboxMessage.__table__, OutboxMessage.ticket_key == ticket.key, ("id",)),
                timers=await rows(Timer.__table__, Timer.ticket_id == ticket.id, ("id", "ticket_id")),
            )
        if template.inbox["status"] != "done" or not template.events or not template.outbox:
            raise SystemExit(f"the dispatcher did not create a ticket as expected: {template}")
        return template


class RawWriter:
    """One transaction per ticket: counter upsert, inbox row, ticket, its events, outbox rows, timers.

    With ``inbox_first`` the inbox row is committed in a transaction of its own first and marked done in
    the second one, as the dispatcher's durability contract demands (``--raw-inbox-first``).
    """

    def __init__(self, engine: AsyncEngine, template: Template, *, inbox_first: bool = False) -> None:
        self.engine = engine
        self.tpl = template
        self.inbox_first = inbox_first
        self.counter = upsert(engine, DeskCounter, {"prefix": RAW_PREFIX, "last_number": 1}, key=["prefix"],
                              update={"last_number": DeskCounter.last_number + 1}).returning(DeskCounter.last_number)
        inbox = ProcessedEvent.__table__
        self.inbox = insert(inbox)
        self.inbox_done = update(inbox).where(inbox.c.key == bindparam("event_key"))
        self.ticket = insert(Ticket.__table__).returning(Ticket.__table__.c.id)
        self.events = insert(TicketEvent.__table__)
        self.outbox = insert(OutboxMessage.__table__)
        self.timers = insert(Timer.__table__)

    async def own_requester(self) -> None:
        """The raw tickets get a requester of their own: with the dispatcher's, they would count towards
        that person's limit of new tickets, and the dispatcher would keep their requests instead."""
        people = Person.__table__
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(people).where(people.c.id == self.tpl.ticket["requester_id"]))).one()
            values = {**_plain(row, ("id",)), "key": f"{row.key}-raw-bench"}
            person_id = (await conn.execute(insert(people).returning(people.c.id), values)).scalar_one()
        self.tpl.ticket["requester_id"] = person_id
        for rows in (self.tpl.events, self.tpl.outbox, self.tpl.timers):
            for values in rows:
                for column in ("person_id", "actor_id", "requester_id"):
                    if values.get(column) == row.id:
                        values[column] = person_id

    async def write(self, event: InboundEvent) -> None:
        tpl = self.tpl
        inbox = {**tpl.inbox, "key": event.idempotency_key, "payload": event.model_dump(mode="json")}
        if self.inbox_first:
            async with self.engine.begin() as conn:
                await conn.execute(self.inbox, {**inbox, "status": "received", "handled_at": None})
        async with self.engine.begin() as conn:
            number = (await conn.execute(self.counter)).scalar_one()
            key = f"{RAW_PREFIX}-{number}"
            if self.inbox_first:
                await conn.execute(self.inbox_done, {"event_key": event.idempotency_key, "status": tpl.inbox["status"],
                                                     "handled_at": tpl.inbox["handled_at"]})
            else:
                await conn.execute(self.inbox, inbox)
            ticket_id = (await conn.execute(
                self.ticket, {**tpl.ticket, "key": key, "prefix": RAW_PREFIX, "number": number}
            )).scalar_one()
            await conn.execute(self.events, [{**row, "ticket_id": ticket_id} for row in tpl.events])
            await conn.execute(self.outbox, [{**row, "ticket_key": key, "text": row["text"].replace(tpl.key, key)}
                                             for row in tpl.outbox])
            if tpl.timers:
                await conn.execute(self.timers, [{**row, "ticket_id": ticket_id} for row in tpl.timers])


# --------------------------------------------------------------------------- one backend


async def rows_per_side(engine: AsyncEngine, prefix: str, side: str) -> dict[str, Any]:
    """What one side wrote, table by table (the two sides must match)."""
    mine = Ticket.prefix == prefix
    count = func.count()
    async with engine.connect() as conn:
        async def one(stmt: Any) -> Any:
            return (await conn.execute(stmt)).scalar_one()

        return {
            "processed_events done": await one(select(count).where(
                ProcessedEvent.key.like(f"sim:bench-{side}-%"), ProcessedEvent.status == "done")),
            "processed_events other": await one(select(count).where(
                ProcessedEvent.key.like(f"sim:bench-{side}-%"), ProcessedEvent.status != "done")),
            "desk_counters": await one(select(DeskCounter.last_number).where(DeskCounter.prefix == prefix)),
            "tickets": await one(select(count).where(mine)),
            "ticket_events": await one(select(count).select_from(TicketEvent).join(Ticket).where(mine)),
            "timers": await one(select(count).select_from(Timer).join(Ticket).where(mine)),
            "outbox": await one(select(count).where(OutboxMessage.ticket_key.like(f"{prefix}-%"))),
        }


class StatementCount:
    """SQL statements and commits sent on an engine (an executemany counts once, as one round trip)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements = 0
        self.commits = 0
        sync = engine.sync_engine

        def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            self.statements += 1
            if os.environ.get("BENCH_SQL"):  # every statement to stderr, for a look at one ticket's
                print("SQL:", " ".join(sql.split())[:240], file=sys.stderr)

        def commit(*_: Any) -> None:
            self.commits += 1

        sa_event.listen(sync, "before_cursor_execute", statement)
        sa_event.listen(sync, "commit", commit)


@dataclass
class Side:
    """One contender: its events, its step, and the time it spent on the timed ones."""

    name: str
    step: Callable[[InboundEvent], Awaitable[None]]
    counter: StatementCount | None = None
    served: int = 0
    timed: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # process time (all threads: aiosqlite runs SQLite on one of its own)
    statements: int = 0
    commits: int = 0

    async def run(self, events: list[InboundEvent], *, warmup: int, profiler: cProfile.Profile | None) -> None:
        for event in events:
            timing = self.served >= warmup
            if timing and profiler is not None:
                profiler.enable()
            counted = (self.counter.statements, self.counter.commits) if self.counter else (0, 0)
            began, began_cpu = time.perf_counter(), time.process_time()
            await self.step(event)
            if timing:
                self.seconds += time.perf_counter() - began
                self.cpu += time.process_time() - began_cpu
                self.timed += 1
                if self.counter is not None:
                    self.statements += self.counter.statements - counted[0]
                    self.commits += self.counter.commits - counted[1]
                if profiler is not None:
                    profiler.disable()
            self.served += 1

    @property
    def rate(self) -> float:
        return self.timed / self.seconds

    def per_ticket(self) -> str:
        return (f"{1000 * self.seconds / self.timed:.1f} ms ({1000 * self.cpu / self.timed:.1f} ms CPU here, "
                f"{self.statements / self.timed:.1f} statements, {self.commits / self.timed:.1f} commits)")


@dataclass
class Result:
    backend: str
    dispatcher: Side
    raw: Side

    @property
    def ratio(self) -> float:
        return self.dispatcher.rate / self.raw.rate


async def run_backend(name: str, url: str, args: argparse.Namespace) -> Result:
    clock = VirtualClock(START)
    bot = await build(settings_from_data(DESK, "(benchmark desk)"), clock, [NullAdapter()], db_url=url, upgrade=True)
    try:
        async def dispatch(event: InboundEvent) -> None:
            clock.set(event.received_at)
            if not await bot.dispatcher.handle(event):
                raise SystemExit(f"{name}: event {event.event_id} was taken for a duplicate")

        total = REQUESTERS + args.warmup + args.tickets
        d_events = make_events("d", 0, total, clock.now())
        r_events = make_events("r", 0, total, clock.now())
        # the requesters write once first (they become people, as in a desk that has run a while), and the
        # raw side copies the rows of a ticket the dispatcher wrote; neither side times these
        counter = StatementCount(bot.engine)
        dispatcher = Side("dispatcher", dispatch, counter)
        await dispatcher.run(d_events[:REQUESTERS], warmup=total, profiler=None)
        template = await Template.capture(bot.engine, d_events[REQUESTERS - 1])
        writer = RawWriter(bot.engine, template, inbox_first=args.raw_inbox_first)
        await writer.own_requester()
        raw = Side("raw", writer.write, counter)
        await raw.run(r_events[:REQUESTERS], warmup=total, profiler=None)
        dispatcher.served = raw.served = 0

        # CPU time, not wall time: waiting for the database is not what a profile can improve
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        began = time.perf_counter()
        for start in range(REQUESTERS, total, args.chunk):
            await dispatcher.run(d_events[start:start + args.chunk], warmup=args.warmup, profiler=profiler)
            await raw.run(r_events[start:start + args.chunk], warmup=args.warmup, profiler=None)
            if raw.timed >= args.chunk and time.perf_counter() - began > args.budget:
                break  # a busy machine: fewer tickets rather than a run without end
        if not raw.timed:
            raise SystemExit(f"{name}: no timed tickets; lower --warmup or raise --budget")

        served = REQUESTERS + dispatcher.served
        written = await rows_per_side(bot.engine, PREFIX, "d"), await rows_per_side(bot.engine, RAW_PREFIX, "r")
        if written[0] != written[1] or written[0]["tickets"] != served or written[0]["processed_events other"]:
            raise SystemExit(f"{name}: the two sides wrote different rows: dispatcher {written[0]}, raw {written[1]}")
        if profiler is not None:
            if os.environ.get("BENCH_PROFILE_DUMP"):  # the raw profile for pstats, per backend
                profiler.dump_stats(f"{os.environ['BENCH_PROFILE_DUMP']}.{name}")
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(f"{ROOT}/(bot|commands|storage)/", 40)
            print(f"--- CPU profile of the timed dispatcher tickets on {name} (call counts of coroutines "
                  "count every resumption)", file=sys.stderr)
            print(out.getvalue(), file=sys.stderr)
        return Result(name, dispatcher, raw)
    finally:
        await bot.close()


async def main_async(args: argparse.Namespace) -> int:
    results: list[Result] = []
    skipped: list[str] = []
    began = time.perf_counter()
    if args.backend in ("sqlite", "all"):
        with tempfile.TemporaryDirectory(prefix="dutydesk-bench-") as tmp:
            results.append(await run_backend("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args))
    if args.backend in ("postgresql", "all"):
        try:
            with pg_database("dutydesk_bench") as url:
                results.append(await run_backend("postgresql", url, args))
        except PgUnavailable as exc:
            skipped.append(f"postgresql: skipped — {exc}")

    transactions = "the inbox row first, then the rest" if args.raw_inbox_first else "one transaction per ticket"
    print("ticket creation: Dispatcher.handle of /ticket against raw SQLAlchemy Core inserts of the same rows "
          f"({transactions}); after {args.warmup} warm-up tickets per side, alternating chunks of {args.chunk}")
    print_table(
        ["backend", "dispatcher tickets/s", "raw inserts tickets/s", "ratio", "timed tickets/side"],
        [[r.backend, f"{r.dispatcher.rate:,.1f}", f"{r.raw.rate:,.1f}", f"{r.ratio:.2f}×", str(r.raw.timed)]
         for r in results],
    )
    for line in skipped:
        print(line)
    for r in results:
        print(f"{r.backend}: per ticket, dispatcher {r.dispatcher.per_ticket()}, raw {r.raw.per_ticket()}")
    below = [r.backend for r in results if r.ratio < TARGET]
    verdict = f"below the target ratio of {TARGET}: {', '.join(below)}" if below else f"target ratio {TARGET}: met"
    print(f"{verdict} ({time.perf_counter() - began:.0f} s in all)")
    for r in results:
        report_target(f"ticket creation ÷ raw inserts, {r.backend}",
                      f"{r.ratio:.2f}× ({r.dispatcher.statements / r.dispatcher.timed:.0f} statements a ticket)",
                      f"≥ {TARGET}×", r.ratio >= TARGET)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=3000, help="timed tickets per side at most (3000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed tickets per side before those (100)")
    parser.add_argument("--chunk", type=int, default=100, help="tickets per turn of a side (100)")
    parser.add_argument("--budget", type=float, default=35.0,
                        help="seconds per backend after which no new chunk starts (35; keeps a busy machine's "
                             "run under two minutes at the cost of fewer tickets)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--raw-inbox-first", action="store_true",
                        help="the raw side commits the inbox row on its own first, as the dispatcher must "
                             "(two transactions per ticket): what the ORM and the code cost, without the price "
                             "of the durability contract")
    parser.add_argument("--profile", action="store_true",
                        help="CPU-profile the timed dispatcher tickets and print the top functions to stderr")
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.warmup < 0 or args.chunk < 1 or args.budget <= 0:
        parser.error("--tickets and --chunk must be at least 1, --warmup at least 0, --budget positive")
    # stopped by benchmarks/run.py's timeout: unwind, so the PostgreSQL database is dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
