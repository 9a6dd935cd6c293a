"""Slack ack latency of `/ticket` in HTTP mode, as a ratio to a bare slack-bolt app that only acks.

    .venv/bin/python benchmarks/bench_slack_ack.py [--requests 2000] [--concurrency 10] [--warmup 200]
                                                   [--db URL] [--profile]

Three processes on loopback: this one serves the app under test; a second one runs the fake Slack
Web API (``tests/adapters/slack/slack_fake.py``) that the bot delivers to; a third one is the load
generator, an aiohttp client that sends ``--requests`` signed ``/ticket`` slash commands
(form-encoded, each with its own trigger id) with ``--concurrency`` in flight and measures each
request's time until the response. The first ``--warmup`` requests of each run are not counted.

Apps, each run against the same fake Web API in the same way:

- **bare bolt**: ``AsyncApp`` with the same signing secret and client, whose ``/ticket`` listener only
  calls ``ack()`` (bolt's default mode, as a plain app would run it) — the baseline.
- **bare bolt, process_before_response**: the same listener in the mode dutydesk uses (bolt answers
  when the listener returns, so the 10 ms ack polling of the default mode is gone); shown for reference.
- **dutydesk**: the whole bot (``bot.app.build`` on a fresh SQLite file unless ``--db``), served by
  ``SlackRuntime.start_http`` with the bot's background running: every request is verified, converted,
  stored in the inbox (one transaction) and acknowledged; processing (ticket, outbox rows) and
  delivery to the fake (receipt, private channel, invite, duty notice) run meanwhile in the same
  process, so they load the event loop and the database as in production.

The apps take turns in ``--rounds`` rounds, so a change of load on the machine falls on all of
them alike; after each dutydesk round its backlog is processed and delivered before the next app's
turn. At the end every ticket must exist (one per request). Targets: dutydesk p99 < 100 ms and at
most 1.5 × the bare app's p99. ``--db`` takes the URL of an empty PostgreSQL database instead of the
SQLite file; ``BENCH_TIMELINE=1`` makes the load generator also return each request's start time.
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "adapters" / "slack")]

from slack_fake import FakeSlack, sign  # noqa: E402 — found through the path above

SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
PATH = "/slack/events"


# --------------------------------------------------------------------------- the load generator (a subprocess)


async def load(url: str, requests: int, concurrency: int, warmup: int, run: str) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests + warmup))

    async def one(http: aiohttp.ClientSession, i: int) -> None:
        form = {"token": "legacy", "team_id": "T0TEAM", "team_domain": "bench", "channel_id": "C0GEN",
                "channel_name": "general", "user_id": f"U{run}{i % 97:04d}", "user_name": f"user{i % 97}",
                "command": "/ticket", "text": f"printer {i} on fire", "api_app_id": "A0APP",
                "response_url": "http://127.0.0.1:9/respond", "trigger_id": f"{run}.{i}.{time.time_ns()}"}
        body = urllib.parse.urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
        start = time.perf_counter()
        async with http.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
        elapsed = (time.perf_counter() - start) * 1000
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if i >= warmup:
            latencies.append(elapsed)
            if os.environ.get("BENCH_TIMELINE"):
                timeline.append((time.time() - elapsed / 1000, elapsed))

    async def worker(http: aiohttp.ClientSession) -> None:
        for i in counter:
            await one(http, i)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "statuses": statuses, "wall": wall, "timeline": timeline}


async def run_load(url: str, args: argparse.Namespace, run: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", url, "--requests", str(args.requests),
        "--concurrency", str(args.concurrency), "--warmup", str(args.warmup), "--run", run,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the load generator failed (exit {process.returncode})")
    return json.loads(out)


# --------------------------------------------------------------------------- the fake Web API (a subprocess)


async def serve_fake() -> None:
    fake = await FakeSlack().start()
    fake.calls = _Discard()  # a long run must not keep every call in memory
    print(fake.url, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await fake.stop()


class _Discard(list):
    def append(self, _item: object) -> None:
        pass


# --------------------------------------------------------------------------- the apps under test


async def serve_bolt(app: Any) -> tuple[Any, str]:
    """Serves a bolt app with aiohttp on 127.0.0.1 (port 0); returns the runner and the URL."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post(PATH, handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}{PATH}"


def bare_app(api: str, process_before_response: bool) -> Any:
    from slack_bolt.async_app import AsyncApp

    from adapters.slack.adapter import make_client

    app = AsyncApp(client=make_client(BOT_TOKEN, api), signing_secret=SECRET,
                   process_before_response=process_before_response)

    @app.command("/ticket")
    async def ticket(ack) -> None:
        await ack()

    return app


class Dutydesk:
    """The whole bot behind its Slack HTTP endpoint, with its background (outbox, timers) running."""

    def __init__(self, args: argparse.Namespace, api: str, workdir: Path) -> None:
        self.args, self.api, self.workdir = args, api, workdir
        self.backlog = 0.0

    async def __aenter__(self) -> Dutydesk:
        from adapters.slack.adapter import SlackAdapter
        from adapters.slack.ratelimit import ChannelRateLimiter
        from adapters.slack.runtime import SlackRuntime
        from bot.app import build
        from bot.core.clock import SystemClock
        from bot.settings import settings_from_data

        data = {"desk": {"name": "bench", "ticket_prefix": "HW"}, "channels": {"duty": ["#support-duty"]},
                "people": {"anna": {"name": "Anna", "slack": "U0ANNA", "roles": ["agent", "lead"]}},
                "slack": {"mode": "http", "api_base_url": self.api}}
        env = {"DUTYDESK_SLACK__BOT_TOKEN": BOT_TOKEN, "DUTYDESK_SLACK__SIGNING_SECRET": SECRET}
        settings = settings_from_data(data, "(bench)", env=env)
        clock = SystemClock()
        # the fake has no rate limits; Slack's 1/s per channel would only stretch the delivery, not the acks
        self.adapter = SlackAdapter(settings, clock, limiter=ChannelRateLimiter(rate=10_000, burst=10_000))
        await self.adapter.start()
        self.runtime = SlackRuntime(self.adapter)
        self.bot = await build(settings, clock, [self.runtime], upgrade=True,
                               db_url=self.args.db or f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}")
        self.runtime.bind(self.bot.ports)
        self.background = self.bot.background()
        await self.background.__aenter__()
        port = await self.runtime.start_http("127.0.0.1", 0, PATH)
        self.url = f"http://127.0.0.1:{port}{PATH}"
        return self

    async def settle(self) -> None:
        """Waits until every accepted event is processed and its messages are delivered."""
        started = time.perf_counter()
        await self.bot.inbox.idle()
        await self.bot.outbox.drain()
        self.backlog += time.perf_counter() - started

    async def counts(self) -> tuple[int, int]:
        from sqlalchemy import func, select

        from storage.models import OutboxMessage, Ticket

        async with self.bot.desk.sessions() as session:
            tickets = int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)
            sent = int(await session.scalar(select(func.count()).select_from(OutboxMessage)
                                            .where(OutboxMessage.status == "sent")) or 0)
        return tickets, sent

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.stop()
        await self.background.__aexit__(None, None, None)
        await self.adapter.close()
        await self.bot.close()


def merge(into: dict[str, Any], result: dict[str, Any]) -> None:
    into.setdefault("latencies", []).extend(result["latencies"])
    into.setdefault("timeline", []).extend(result["timeline"])
    into["wall"] = into.get("wall", 0.0) + result["wall"]
    for status, count in result["statuses"].items():
        into.setdefault("statuses", {})[status] = into.get("statuses", {}).get(status, 0) + count


# --------------------------------------------------------------------------- the report


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join([str(cells[0]).ljust(widths[0]), *(str(c).rjust(w) for c, w in
                                                             zip(cells[1:], widths[1:], strict=True))]).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(result: dict[str, Any]) -> dict[str, float]:
    lat = result["latencies"]
    return {"p50": statistics.median(lat), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
            "max": max(lat), "rps": (len(lat) + 0.0) / result["wall"]}


async def main(args: argparse.Namespace) -> int:
    fake = await asyncio.create_subprocess_exec(sys.executable, __file__, "--fake", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert fake.stdout is not None and fake.stdin is not None
    api = (await fake.stdout.readline()).decode().strip() + "/api/"
    names = ["bare bolt (ack only)", "bare bolt, process_before_response", "dutydesk /ticket"]
    results: dict[str, dict[str, Any]] = {name: {} for name in names}
    # the apps take turns, a round of requests each, so a change of load on the machine meanwhile
    # (other processes) falls on all of them alike
    per_round = args.requests // args.rounds
    round_args = argparse.Namespace(**{**vars(args), "requests": per_round, "warmup": args.warmup // args.rounds})
    profiler = cProfile.Profile() if args.profile else None
    try:
        with tempfile.TemporaryDirectory(prefix="dutydesk-bench-") as tmp:
            bare0, url0 = await serve_bolt(bare_app(api, False))
            bare1, url1 = await serve_bolt(bare_app(api, True))
            async with Dutydesk(args, api, Path(tmp)) as dutydesk:
                for n in range(args.rounds):
                    merge(results[names[0]], await run_load(url0, round_args, f"a{n}"))
                    merge(results[names[1]], await run_load(url1, round_args, f"b{n}"))
                    if profiler:
                        profiler.enable()
                    merge(results[names[2]], await run_load(dutydesk.url, round_args, f"d{n}"))
                    await dutydesk.settle()  # the backlog: accepted during the round, processed since
                    if profiler:
                        profiler.disable()
                tickets, sent = await dutydesk.counts()
                backlog = dutydesk.backlog
            await bare0.cleanup()
            await bare1.cleanup()
    finally:
        fake.stdin.close()
        await fake.wait()
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
        print(stream.getvalue(), file=sys.stderr)

    base = summary(results["bare bolt (ack only)"])
    rows = []
    for name, result in results.items():
        s = summary(result)
        rows.append([name, f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}",
                     f"{s['rps']:.0f}", f"{s['p50'] / base['p50']:.2f}", f"{s['p99'] / base['p99']:.2f}",
                     " ".join(f"{k}×{v}" for k, v in sorted(result["statuses"].items()))])
    print(f"/ticket ack latency, HTTP mode: {per_round * args.rounds} signed requests per app in {args.rounds} "
          f"alternating rounds, {args.concurrency} in flight, {round_args.warmup} warm-up requests per round "
          "not counted (ms; ratios to the bare bolt app)")
    print_table(["app", "p50", "p95", "p99", "max", "req/s", "p50 ×", "p99 ×", "HTTP statuses"], rows)
    dd = summary(results["dutydesk /ticket"])
    expected = (per_round + round_args.warmup) * args.rounds
    print(f"tickets stored: {tickets} of {expected}; outbox messages delivered: {sent}; processing and delivery "
          f"went on for {backlog:.1f} s in all after the rounds' last acks")
    verdict = dd["p99"] < 100 and dd["p99"] <= 1.5 * base["p99"]
    print(f"target p99 < 100 ms and ≤ 1.5 × bare: {'met' if verdict else 'MISSED'} "
          f"(p99 {dd['p99']:.1f} ms, {dd['p99'] / base['p99']:.2f} ×)")
    from benchmarks.common import report_target

    report_target("Slack /ticket ack p99 ÷ bare bolt (ack only)",
                  f"{dd['p99'] / base['p99']:.2f}× ({dd['p99']:.0f} ms)", "≤ 1.5× and < 100 ms", verdict)
    return 0 if tickets == expected else 1


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per app (default 4)")
    parser.add_argument("--db", help="URL of an empty database for dutydesk, migrated at the start "
                                     "(default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="cProfile the dutydesk run (to stderr)")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--run", default="x", help=argparse.SUPPRESS)
    parser.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    os.chdir(ROOT)
    arguments = parse()
    if arguments.fake:
        asyncio.run(serve_fake())
    elif arguments.client:
        print(json.dumps(asyncio.run(load(arguments.client, arguments.requests, arguments.concurrency,
                                          arguments.warmup, arguments.run))))
    else:
        sys.exit(asyncio.run(main(arguments)))
