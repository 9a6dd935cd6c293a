"""Slack receipt round trip of `/ticket` (HTTP mode), as a ratio to a bare slack-bolt app that acks and posts it.

    .venv/bin/python benchmarks/bench_slack_receipt.py [--requests 1200] [--concurrency 1 10] [--warmup 120]
                                                       [--rounds 3] [--db URL] [--profile]

What a person waits for is not the ack but the answer. Two processes on loopback: this one serves the
apps under test; the other runs the fake Slack Web API (``tests/adapters/slack/slack_fake.py``) and the
load generator together, so one clock measures each request from the moment the signed ``/ticket``
slash command is sent until the fake Web API receives its receipt (``chat.postEphemeral`` to the
requester in the channel), and the ack (the HTTP response) on the way. ``--concurrency`` people each
send a request and wait for its receipt before they send the next (a closed loop on the answer, with no
pause between a receipt and the next request: with one on the ack, a bot that acks at once would be sent
more than it can answer and measure its queue). Several values (``--concurrency 1 10``, the default) are
measured one after the other and reported each on its own. A requester's receipts are matched to their
requests in order (97 requesters per round).

- **bare bolt**: ``AsyncApp`` (bolt's default mode) whose ``/ticket`` listener acks and then posts the
  same receipt text with ``chat.postEphemeral`` through the same Web API client: the baseline of the
  issue's target. It stores nothing, so it promises what it may lose.
- **persisting baseline**: the same bare app, but its listener first commits an inbox row (SQLAlchemy
  Core on dutydesk's engine, the same database), then acks, then writes in one transaction the rows
  dutydesk writes for a ticket (counter, the inbox row marked done, ticket, its events, outbox rows and
  timers: ``bench_tickets.RawWriter``'s statements and the row shapes copied from a ticket dutydesk opened
  in this run) and posts the receipt. The floor of any bot that stores a ticket before it promises one;
  on SQLite its write transactions take turns on a lock (one writer), as a sane app's would.
- **dutydesk**: the whole bot as in ``bench_slack_ack.py`` (``bot.app.build`` on a fresh SQLite file
  unless ``--db``, ``SlackRuntime.start_http``, background running): the request is stored and acked,
  the ticket opened, and the receipt delivered inline by the outbox with the private channel and the
  duty notice. Also measured for it: when the requester is invited to the ticket's private channel
  (``conversations.invite``: the space is ready), and how long its processing and delivery went on after
  the round's last receipt (work that waits is not work saved: a bot that answered faster by leaving its
  other deliveries behind would show it here).

The apps take turns in ``--rounds`` rounds (the same load on the machine for all); every request must get
its receipt (the run fails otherwise). Targets (per concurrency): receipt p50 and p99 at most 1.5 × the
bare app's, and the ack p99 at most 1.5 × the bare app's ack p99. The ratio to the persisting baseline is
reported beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import deque
from pathlib import Path
from typing import Any

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "adapters" / "slack")]

from slack_fake import FakeSlack, sign  # noqa: E402 — found through the path above

from benchmarks.bench_slack_ack import BOT_TOKEN, SECRET, Dutydesk, serve_bolt  # noqa: E402
from benchmarks.bench_tickets import RawWriter, Template  # noqa: E402
from benchmarks.common import print_table, report_target  # noqa: E402

TARGET = 1.5
REQUESTERS = 97
RECEIPT_WAIT = 60.0  # seconds a receipt may take before it counts as missing (and the run fails)


# --------------------------------------------------------------------------- the fake and the load (a subprocess)


class Receipts(list):  # type: ignore[type-arg]
    """Stands in for the fake's list of calls: resolves the oldest request of a requester waiting for its receipt
    (``chat.postEphemeral``) and, where asked, for its invitation to the ticket's channel (``conversations.invite``)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[tuple[str, str], deque[asyncio.Future[float]]] = {}
        self.stray = 0

    def expect(self, user: str, method: str = "chat.postEphemeral") -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault((method, user), deque()).append(future)
        return future

    def append(self, call: Any) -> None:
        if call.method not in ("chat.postEphemeral", "conversations.invite") or not call.ok:
            return
        user = call.params.get("user") if call.method == "chat.postEphemeral" else call.params.get("users")
        queue = self.waiting.get((call.method, str(user)))
        if queue:
            queue.popleft().set_result(time.perf_counter())
        elif call.method == "chat.postEphemeral":
            self.stray += 1


async def load(fake: FakeSlack, receipts: Receipts, order: dict[str, Any]) -> dict[str, Any]:
    """``concurrency`` people, each sending ``/ticket`` and waiting for its receipt before the next one."""
    import aiohttp

    url, run, warmup = order["url"], order["run"], order["warmup"]
    total = order["requests"] + warmup
    acks: list[float] = []
    round_trips: list[float] = []
    spaces: list[asyncio.Task[None]] = []
    space_times: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    missing = 0

    async def space(invited: asyncio.Future[float], start: float, counted: bool) -> None:
        with contextlib.suppress(TimeoutError):
            arrived = await asyncio.wait_for(invited, RECEIPT_WAIT)
            if counted:
                space_times.append((arrived - start) * 1000)

    async def one(http: aiohttp.ClientSession, i: int) -> None:
        nonlocal missing
        user = f"U{run}{i % REQUESTERS:04d}"
        form = {"token": "legacy", "team_id": "T0TEAM", "team_domain": "bench", "channel_id": "C0GEN",
                "channel_name": "general", "user_id": user, "user_name": f"user{i % REQUESTERS}",
                "command": "/ticket", "text": f"printer {i} on fire", "api_app_id": "A0APP",
                "response_url": "http://127.0.0.1:9/respond", "trigger_id": f"{run}.{i}.{time.time_ns()}"}
        body = urllib.parse.urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
        receipt = receipts.expect(user)
        invited = receipts.expect(user, "conversations.invite") if order.get("spaces") else None
        start = time.perf_counter()
        async with http.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
        acked = time.perf_counter()
        statuses[response.status] = statuses.get(response.status, 0) + 1
        try:
            arrived = await asyncio.wait_for(asyncio.shield(receipt), RECEIPT_WAIT)
        except TimeoutError:
            missing += 1
            return
        if i >= warmup:
            acks.append((acked - start) * 1000)
            round_trips.append((arrived - start) * 1000)
        if invited is not None:
            spaces.append(asyncio.create_task(space(invited, start, i >= warmup)))

    async def person(http: aiohttp.ClientSession) -> None:
        for i in counter:
            await one(http, i)

    connector = aiohttp.TCPConnector(limit=order["concurrency"])
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(person(http) for _ in range(order["concurrency"])))
    last_receipt = time.perf_counter()
    await asyncio.gather(*spaces)
    return {"acks": acks, "receipts": round_trips, "statuses": statuses, "missing": missing, "spaces": space_times,
            "spaces_after": (time.perf_counter() - last_receipt) if spaces else 0.0}


async def serve_client() -> None:
    """The fake Web API and the load generator; takes one JSON order a line on stdin, answers one JSON line."""
    fake = await FakeSlack().start()
    receipts = Receipts()
    fake.calls = receipts
    print(fake.url, flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            break
        print(json.dumps(await load(fake, receipts, json.loads(line))), flush=True)
    await fake.stop()


# --------------------------------------------------------------------------- the apps under test


def receipt_text(number: int | str) -> str:
    return (f"Ticket HW-{number} is open (priority 3, normal). The support team will answer you in "
            f"the private channel of HW-{number}.")


def bare_app(api: str) -> Any:
    from slack_bolt.async_app import AsyncApp

    from adapters.slack.adapter import make_client

    app = AsyncApp(client=make_client(BOT_TOKEN, api), signing_secret=SECRET)
    counter = iter(range(1, 10**9))

    @app.command("/ticket")
    async def ticket(ack: Any, command: dict[str, Any], client: Any) -> None:
        await ack()
        await client.chat_postEphemeral(channel=command["channel_id"], user=command["user_id"],
                                        text=receipt_text(next(counter)))

    return app


class Persisting:
    """The persisting baseline's storage: ``bench_tickets.RawWriter``'s statements on dutydesk's engine, in two
    transactions: the inbox row (before the ack), then the ticket's rows with the inbox row marked done."""

    def __init__(self, engine: Any, template: Template) -> None:
        self.engine = engine
        self.raw = RawWriter(engine, template, inbox_first=True)
        # SQLite has one writer: a sane app takes turns instead of meeting in SQLite's busy handler
        self.lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext())

    @classmethod
    async def prepare(cls, engine: Any) -> Persisting:
        """The row shapes of the ticket dutydesk opened last (with its own requester, as in bench_tickets)."""
        from types import SimpleNamespace

        from sqlalchemy import select

        from storage.models import ProcessedEvent

        async with engine.connect() as conn:
            key = (await conn.execute(select(ProcessedEvent.key).order_by(ProcessedEvent.received_at.desc())
                                      .limit(1))).scalar_one()
        store = cls(engine, await Template.capture(engine, SimpleNamespace(idempotency_key=key)))  # type: ignore[arg-type]
        await store.raw.own_requester()
        return store

    async def accept(self, key: str, payload: dict[str, Any]) -> None:
        raw = self.raw
        async with self.lock, self.engine.begin() as conn:
            await conn.execute(raw.inbox, {**raw.tpl.inbox, "key": key, "payload": payload, "status": "received",
                                           "handled_at": None})

    async def open_ticket(self, key: str) -> int:
        raw, tpl = self.raw, self.raw.tpl
        async with self.lock, self.engine.begin() as conn:
            number = (await conn.execute(raw.counter)).scalar_one()
            ticket_key = f"RW-{number}"
            await conn.execute(raw.inbox_done, {"event_key": key, "status": tpl.inbox["status"],
                                                "handled_at": tpl.inbox["handled_at"]})
            ticket_id = (await conn.execute(
                raw.ticket, {**tpl.ticket, "key": ticket_key, "prefix": "RW", "number": number})).scalar_one()
            await conn.execute(raw.events, [{**row, "ticket_id": ticket_id} for row in tpl.events])
            await conn.execute(raw.outbox, [{**row, "ticket_key": ticket_key,
                                             "text": row["text"].replace(tpl.key, ticket_key)} for row in tpl.outbox])
            if tpl.timers:
                await conn.execute(raw.timers, [{**row, "ticket_id": ticket_id} for row in tpl.timers])
        return int(number)


def persisting_app(api: str, store: Persisting) -> Any:
    from slack_bolt.async_app import AsyncApp

    from adapters.slack.adapter import make_client

    app = AsyncApp(client=make_client(BOT_TOKEN, api), signing_secret=SECRET)

    @app.command("/ticket")
    async def ticket(ack: Any, body: dict[str, Any], command: dict[str, Any], client: Any) -> None:
        key = f"slack:bench:{command['trigger_id']}"
        await store.accept(key, body)   # committed before the ack, as dutydesk's inbox row
        await ack()
        number = await store.open_ticket(key)
        await client.chat_postEphemeral(channel=command["channel_id"], user=command["user_id"],
                                        text=receipt_text(number))

    return app


# --------------------------------------------------------------------------- the report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def stats(values: list[float]) -> tuple[float, float]:
    return (statistics.median(values), percentile(values, 99)) if values else (float("nan"), float("nan"))


BARE, PERSISTING, DUTYDESK = ("bare bolt (ack, then chat.postEphemeral)",
                              "persisting baseline (inbox row, ack, ticket rows, post)", "dutydesk /ticket")
NAMES = (BARE, PERSISTING, DUTYDESK)


def report(concurrency: int, results: dict[str, dict[str, Any]], args: argparse.Namespace,
           loads: tuple[float, float]) -> None:
    base_ack, base_rt = stats(results[BARE]["acks"]), stats(results[BARE]["receipts"])
    floor_rt = stats(results[PERSISTING]["receipts"])
    rows = []
    for name in NAMES:
        result = results[name]
        ack, rt = stats(result["acks"]), stats(result["receipts"])
        rows.append([name, str(len(result["receipts"])), f"{rt[0]:.1f}", f"{rt[1]:.1f}", f"{rt[0] / base_rt[0]:.2f}×",
                     f"{rt[1] / base_rt[1]:.2f}×", f"{rt[0] / floor_rt[0]:.2f}×", f"{rt[1] / floor_rt[1]:.2f}×",
                     f"{ack[0]:.1f}", f"{ack[1]:.1f}", f"{ack[1] / base_ack[1]:.2f}×",
                     " ".join(f"{k}×{v}" for k, v in sorted(result["statuses"].items()))])
    per_round = args.requests // args.rounds
    print(f"\n/ticket on Slack (HTTP mode), {concurrency} in flight: {per_round * args.rounds} signed requests per app "
          f"in {args.rounds} alternating rounds, {args.warmup // args.rounds} warm-up requests per round not counted; "
          f"ms from sending the request (load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end)")
    print_table(["app", "n", "receipt p50", "receipt p99", "p50 ÷ bare", "p99 ÷ bare", "p50 ÷ persisting",
                 "p99 ÷ persisting", "ack p50", "ack p99", "ack p99 ÷ bare", "HTTP statuses"], rows)
    print("CPU time of this process (the app, its database work in aiosqlite's thread; not the client or the fake) "
          "per request: " + ", ".join(f"{name.split(' (')[0].removesuffix(' /ticket')} "
                                      f"{results[name]['cpu'] / max(1, results[name]['tickets']) * 1000:.1f} ms"
                                      for name in NAMES))
    print("SQL statements per request (on dutydesk's engine, from a before_cursor_execute listener): " + ", ".join(
        f"{name.split(' (')[0].removesuffix(' /ticket')} "
        f"{results[name]['statements'] / max(1, results[name]['tickets']):.1f}" for name in NAMES))
    dd = results[DUTYDESK]
    space = stats(dd["spaces"])
    print(f"dutydesk: requester invited to the ticket's private channel p50 {space[0]:.1f} ms, p99 {space[1]:.1f} ms "
          f"after the request ({len(dd['spaces'])} of {len(dd['receipts'])}); the last invitations of a round "
          f"{max(dd['spaces_after'], default=0) * 1000:.0f} ms at most after its last receipt, the rest of its "
          f"processing and delivery {max(dd['settle'], default=0) * 1000:.0f} ms at most after that")
    ack, rt = stats(dd["acks"]), stats(dd["receipts"])
    where = f", {concurrency} in flight"
    report_target(f"Slack receipt round trip p50 ÷ bare bolt{where}",
                  f"{rt[0] / base_rt[0]:.2f}× ({rt[0]:.0f} ms; ÷ persisting {rt[0] / floor_rt[0]:.2f}×)",
                  f"≤ {TARGET}×", rt[0] <= TARGET * base_rt[0])
    report_target(f"Slack receipt round trip p99 ÷ bare bolt{where}",
                  f"{rt[1] / base_rt[1]:.2f}× ({rt[1]:.0f} ms; ÷ persisting {rt[1] / floor_rt[1]:.2f}×)",
                  f"≤ {TARGET}×", rt[1] <= TARGET * base_rt[1])
    report_target(f"Slack /ticket ack p99 ÷ bare bolt (receipt run){where}",
                  f"{ack[1] / base_ack[1]:.2f}× ({ack[1]:.0f} ms)", f"≤ {TARGET}×", ack[1] <= TARGET * base_ack[1])


async def main(args: argparse.Namespace) -> int:
    client = await asyncio.create_subprocess_exec(sys.executable, __file__, "--client", stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE)
    assert client.stdout is not None and client.stdin is not None
    api = (await client.stdout.readline()).decode().strip() + "/api/"

    async def run(url: str, tag: str, concurrency: int, *, requests: int, warmup: int,
                  spaces: bool = False) -> dict[str, Any]:
        order = {"url": url, "run": tag, "requests": requests, "warmup": warmup, "concurrency": concurrency,
                 "spaces": spaces}
        client.stdin.write((json.dumps(order) + "\n").encode())  # type: ignore[union-attr]
        await client.stdin.drain()  # type: ignore[union-attr]
        return json.loads(await client.stdout.readline())  # type: ignore[union-attr]

    missing = 0
    profiler = cProfile.Profile() if args.profile else None
    try:
        with tempfile.TemporaryDirectory(prefix="dutydesk-bench-") as tmp:
            bare, bare_url = await serve_bolt(bare_app(api))
            async with Dutydesk(args, api, Path(tmp)) as dutydesk:
                # one ticket first: the persisting baseline copies the shapes of its rows
                await run(dutydesk.url, "prime", 1, requests=0, warmup=1)
                await dutydesk.settle()
                store = await Persisting.prepare(dutydesk.bot.engine)
                statements = [0]   # every SQL statement on the engine (dutydesk's; the persisting baseline's too)

                def count(*_: Any) -> None:
                    statements[0] += 1

                event.listen(dutydesk.bot.engine.sync_engine, "before_cursor_execute", count)
                persisting, persisting_url = await serve_bolt(persisting_app(api, store))
                urls = {BARE: bare_url, PERSISTING: persisting_url, DUTYDESK: dutydesk.url}
                for concurrency in args.concurrency:
                    results: dict[str, dict[str, Any]] = {
                        name: {"acks": [], "receipts": [], "statuses": {}, "missing": 0, "spaces": [],
                               "spaces_after": [], "settle": [], "cpu": 0.0, "tickets": 0,
                               "statements": 0} for name in NAMES}
                    load_before = os.getloadavg()[0]
                    for n in range(args.rounds):
                        for i, name in enumerate(NAMES):
                            if profiler is not None and name == DUTYDESK:
                                profiler.enable()
                            cpu, executed = time.process_time(), statements[0]
                            got = await run(urls[name], f"{'apd'[i]}{n}c{concurrency}", concurrency,
                                            requests=args.requests // args.rounds, warmup=args.warmup // args.rounds,
                                            spaces=name == DUTYDESK)
                            if name == DUTYDESK:
                                started = time.perf_counter()
                                await dutydesk.settle()
                                results[name]["settle"].append(time.perf_counter() - started)
                            if profiler is not None:
                                profiler.disable()
                            into = results[name]
                            into["cpu"] += time.process_time() - cpu
                            into["statements"] += statements[0] - executed
                            into["tickets"] += args.requests // args.rounds + args.warmup // args.rounds
                            for field in ("acks", "receipts", "spaces"):
                                into[field] += got[field]
                            into["spaces_after"].append(got["spaces_after"])
                            into["missing"] += got["missing"]
                            for status, count in got["statuses"].items():
                                into["statuses"][status] = into["statuses"].get(status, 0) + count
                    report(concurrency, results, args, (load_before, os.getloadavg()[0]))
                    missing += sum(r["missing"] for r in results.values())
                await persisting.cleanup()
            await bare.cleanup()
    finally:
        client.stdin.write(b"\n")
        await client.stdin.drain()
        client.stdin.close()
        await client.wait()

    if profiler is not None:
        stream = io.StringIO()
        stats_ = pstats.Stats(profiler, stream=stream)
        stats_.sort_stats("tottime").print_stats(40)
        stats_.sort_stats("cumulative").print_stats(r"dutydesk|/bot/|/adapters/|/storage/", 60)
        print(stream.getvalue(), file=sys.stderr)
    if missing:
        print(f"{missing} receipts did not arrive within {RECEIPT_WAIT:.0f} s of their request", file=sys.stderr)
        return 1
    return 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10],
                        help="people in flight; several values are measured one after the other (default 1 10)")
    parser.add_argument("--warmup", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per app (default 3)")
    parser.add_argument("--db", help="URL of an empty database for dutydesk (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile this process during the dutydesk rounds (to stderr)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    os.chdir(ROOT)
    arguments = parse()
    if arguments.client:
        asyncio.run(serve_client())
    else:
        sys.exit(asyncio.run(main(arguments)))
