"""Slack receipt round trip of `/ticket` (HTTP mode), as a ratio to a bare slack-bolt app that acks and posts it.

    .venv/bin/python benchmarks/bench_slack_receipt.py [--requests 1200] [--concurrency 10] [--warmup 120]
                                                       [--rounds 3] [--db URL] [--profile]

What a person waits for is not the ack but the answer. Two processes on loopback: this one serves the
apps under test; the other runs the fake Slack Web API (``tests/adapters/slack/slack_fake.py``) and the
load generator together, so one clock measures each request from the moment the signed ``/ticket``
slash command is sent until the fake Web API receives its receipt (``chat.postEphemeral`` to the
requester in the channel), and the ack (the HTTP response) on the way. ``--concurrency`` people each
send a request and wait for its receipt before they send the next (a closed loop on the answer: with
one on the ack, a bot that acks at once would be sent more than it can answer and measure its queue).
A requester's receipts are matched to their requests in order (97 requesters per round).

- **bare bolt**: ``AsyncApp`` (bolt's default mode) whose ``/ticket`` listener acks and then posts the
  same receipt text with ``chat.postEphemeral`` through the same Web API client: the baseline.
- **dutydesk**: the whole bot as in ``bench_slack_ack.py`` (``bot.app.build`` on a fresh SQLite file
  unless ``--db``, ``SlackRuntime.start_http``, background running): the request is stored and acked,
  the ticket opened, and the receipt delivered inline by the outbox with the private channel and the
  duty notice.

The apps take turns in ``--rounds`` rounds (the same load on the machine for both); every request
must get its receipt (the run fails otherwise). Targets: receipt p50 and p99 at most 1.5 × the bare
app's, and the ack p99 at most 1.5 × the bare app's ack p99.
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
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "adapters" / "slack")]

from slack_fake import FakeSlack, sign  # noqa: E402 — found through the path above

from benchmarks.bench_slack_ack import BOT_TOKEN, SECRET, Dutydesk, serve_bolt  # noqa: E402
from benchmarks.common import print_table, report_target  # noqa: E402

TARGET = 1.5
REQUESTERS = 97
RECEIPT_WAIT = 60.0  # seconds a receipt may take before it counts as missing (and the run fails)


# --------------------------------------------------------------------------- the fake and the load (a subprocess)


class Receipts(list):  # type: ignore[type-arg]
    """Stands in for the fake's list of calls: resolves the oldest request of a requester waiting for its receipt."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[str, deque[asyncio.Future[float]]] = {}
        self.stray = 0

    def expect(self, user: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(user, deque()).append(future)
        return future

    def append(self, call: Any) -> None:
        if call.method != "chat.postEphemeral" or not call.ok:
            return
        queue = self.waiting.get(str(call.params.get("user")))
        if queue:
            queue.popleft().set_result(time.perf_counter())
        else:
            self.stray += 1


async def load(fake: FakeSlack, receipts: Receipts, order: dict[str, Any]) -> dict[str, Any]:
    """``concurrency`` people, each sending ``/ticket`` and waiting for its receipt before the next one."""
    import aiohttp

    url, run, warmup = order["url"], order["run"], order["warmup"]
    total = order["requests"] + warmup
    acks: list[float] = []
    round_trips: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    missing = 0

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

    async def person(http: aiohttp.ClientSession) -> None:
        for i in counter:
            await one(http, i)

    connector = aiohttp.TCPConnector(limit=order["concurrency"])
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(person(http) for _ in range(order["concurrency"])))
    return {"acks": acks, "receipts": round_trips, "statuses": statuses, "missing": missing}


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


def bare_app(api: str) -> Any:
    from slack_bolt.async_app import AsyncApp

    from adapters.slack.adapter import make_client

    app = AsyncApp(client=make_client(BOT_TOKEN, api), signing_secret=SECRET)
    counter = iter(range(1, 10**9))

    @app.command("/ticket")
    async def ticket(ack: Any, command: dict[str, Any], client: Any) -> None:
        await ack()
        number = next(counter)
        text = (f"Ticket HW-{number} is open (priority 3, normal). The support team will answer you in "
                f"the private channel of HW-{number}.")
        await client.chat_postEphemeral(channel=command["channel_id"], user=command["user_id"], text=text)

    return app


# --------------------------------------------------------------------------- the report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def main(args: argparse.Namespace) -> int:
    client = await asyncio.create_subprocess_exec(sys.executable, __file__, "--client", stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE)
    assert client.stdout is not None and client.stdin is not None
    api = (await client.stdout.readline()).decode().strip() + "/api/"

    async def run(url: str, name: str) -> dict[str, Any]:
        order = {"url": url, "run": name, "requests": args.requests // args.rounds,
                 "warmup": args.warmup // args.rounds, "concurrency": args.concurrency}
        client.stdin.write((json.dumps(order) + "\n").encode())  # type: ignore[union-attr]
        await client.stdin.drain()  # type: ignore[union-attr]
        return json.loads(await client.stdout.readline())  # type: ignore[union-attr]

    names = ["bare bolt (ack, then chat.postEphemeral)", "dutydesk /ticket"]
    results: dict[str, dict[str, Any]] = {name: {"acks": [], "receipts": [], "statuses": {}, "missing": 0}
                                          for name in names}
    load_before = os.getloadavg()[0]
    profiler = cProfile.Profile() if args.profile else None
    try:
        with tempfile.TemporaryDirectory(prefix="dutydesk-bench-") as tmp:
            bare, bare_url = await serve_bolt(bare_app(api))
            async with Dutydesk(args, api, Path(tmp)) as dutydesk:
                for n in range(args.rounds):
                    for name, url, tag in ((names[0], bare_url, f"a{n}"), (names[1], dutydesk.url, f"d{n}")):
                        if profiler is not None and name == names[1]:
                            profiler.enable()
                        got = await run(url, tag)
                        if profiler is not None:
                            profiler.disable()
                        into = results[name]
                        into["acks"] += got["acks"]
                        into["receipts"] += got["receipts"]
                        into["missing"] += got["missing"]
                        for status, count in got["statuses"].items():
                            into["statuses"][status] = into["statuses"].get(status, 0) + count
                    await dutydesk.settle()
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

    def stats(values: list[float]) -> tuple[float, float]:
        return statistics.median(values), percentile(values, 99)

    base_ack, base_rt = stats(results[names[0]]["acks"]), stats(results[names[0]]["receipts"])
    rows = []
    for name in names:
        result = results[name]
        ack, rt = stats(result["acks"]), stats(result["receipts"])
        rows.append([name, str(len(result["receipts"])), f"{rt[0]:.1f}", f"{rt[1]:.1f}", f"{rt[0] / base_rt[0]:.2f}×",
                     f"{rt[1] / base_rt[1]:.2f}×", f"{ack[0]:.1f}", f"{ack[1]:.1f}", f"{ack[1] / base_ack[1]:.2f}×",
                     " ".join(f"{k}×{v}" for k, v in sorted(result["statuses"].items()))])
    per_round = args.requests // args.rounds
    print(f"/ticket on Slack (HTTP mode): {per_round * args.rounds} signed requests per app in {args.rounds} "
          f"alternating rounds, {args.concurrency} in flight, {args.warmup // args.rounds} warm-up requests per "
          f"round not counted; ms from sending the request (load average {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end)")
    print_table(["app", "n", "receipt p50", "receipt p99", "p50 ×", "p99 ×", "ack p50", "ack p99", "ack p99 ×",
                 "HTTP statuses"], rows)
    dd = results[names[1]]
    ack, rt = stats(dd["acks"]), stats(dd["receipts"])
    report_target("Slack receipt round trip p50 ÷ bare bolt", f"{rt[0] / base_rt[0]:.2f}× ({rt[0]:.0f} ms)",
                  f"≤ {TARGET}×", rt[0] <= TARGET * base_rt[0])
    report_target("Slack receipt round trip p99 ÷ bare bolt", f"{rt[1] / base_rt[1]:.2f}× ({rt[1]:.0f} ms)",
                  f"≤ {TARGET}×", rt[1] <= TARGET * base_rt[1])
    report_target("Slack /ticket ack p99 ÷ bare bolt (receipt run)", f"{ack[1] / base_ack[1]:.2f}× ({ack[1]:.0f} ms)",
                  f"≤ {TARGET}×", ack[1] <= TARGET * base_ack[1])
    missing = sum(r["missing"] for r in results.values())
    if missing:
        print(f"{missing} receipts did not arrive within {RECEIPT_WAIT:.0f} s of their request", file=sys.stderr)
        return 1
    return 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=10)
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
