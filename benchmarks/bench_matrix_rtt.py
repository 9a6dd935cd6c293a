"""Round trip on a real Synapse: a person's ``!ticket …`` until the bot's receipt shows up in the
person's sync, against a bare matrix-nio echo bot measured in the same run on the same homeserver.

    .venv/bin/python benchmarks/bench_matrix_rtt.py [--messages 200] [--warmup 5] [--pause 0.3]

Synapse comes from the Matrix tests' cached virtual environment (installed on first use). Each bot
runs in this process with its own client; the person sends one message at a time and waits for the
answer in a long-poll sync, so a round trip is: the bot's sync wakes, it handles the event (dutydesk:
the inbox row and the unit of work in one commit: command, ticket, outbox rows), sends, and the person's sync
wakes. The three paths take turns (echo, ``!ticket``, ``!queue``, echo, …), so each sees the same
moments of a shared machine's load (with ``--back-to-back`` each path runs on its own, one after the
other, as before).

Before each round the system is let come to rest, the same for every path: dutydesk's deliveries
under way have finished (a ticket's private room is named and its people invited after the receipt
has gone out) and so has the creation of spare ticket rooms, both people have caught up with their
syncs (joining the rooms they were invited to), then ``--pause`` seconds pass. So a round measures
the latency a person sees, not how many rooms per second the homeserver creates. ``--back-to-back``
skips the rest: the next message goes out right after the answer, while Synapse may still be setting
up the previous ticket's room (work the echo bot never does).
The target is ≤ 1.3× the echo bot's median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "adapters" / "matrix"), str(ROOT / "benchmarks")]

from common import print_table  # noqa: E402
from nio import (  # noqa: E402
    AsyncClient,
    AsyncClientConfig,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

PASSWORD = "bench-password"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Person:
    """A person who sends one message and waits, in a long-poll sync, for the answer that matches."""

    def __init__(self, url: str, user_id: str) -> None:
        self.client = AsyncClient(url, user_id, config=AsyncClientConfig(store_sync_tokens=False))
        self.seen: list[tuple[float, str, dict[str, Any]]] = []

    async def start(self) -> None:
        await self.client.login(PASSWORD)
        first = await self.client.sync(timeout=0, full_state=True)
        assert isinstance(first, SyncResponse)

    async def catch_up(self) -> None:
        """Takes in what arrived meanwhile (joining rooms one was invited to), outside a measurement."""
        answer = await self.client.sync(timeout=0)
        assert isinstance(answer, SyncResponse), answer
        for room_id in answer.rooms.invite:
            await self.client.join(room_id)

    async def next_answer(self, sender: str, match: str, timeout: float = 30.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            answer = await self.client.sync(timeout=30_000)
            now = time.perf_counter()
            assert isinstance(answer, SyncResponse), answer
            for room_id in answer.rooms.invite:
                await self.client.join(room_id)
            for info in answer.rooms.join.values():
                for event in info.timeline.events:
                    source = event.source
                    body = (source.get("content") or {}).get("body", "")
                    if source.get("sender") == sender and source.get("type") == "m.room.message" and match in body:
                        return now
        raise TimeoutError(f"no answer matching {match!r}")

    async def send(self, room: str, body: str) -> float:
        start = time.perf_counter()
        answer = await self.client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body})
        assert isinstance(answer, RoomSendResponse), answer
        return start


async def echo_bot(url: str, user_id: str, stop: asyncio.Event) -> None:
    """The baseline: a bare nio bot that answers each text message with an m.notice echo."""
    client = AsyncClient(url, user_id, config=AsyncClientConfig(store_sync_tokens=False))
    await client.login(PASSWORD)
    first = await client.sync(timeout=0, full_state=True)
    assert isinstance(first, SyncResponse)
    try:
        while not stop.is_set():
            answer = await client.sync(timeout=1000)
            if not isinstance(answer, SyncResponse):
                continue
            for room_id in answer.rooms.invite:
                await client.join(room_id)
            for room_id, info in answer.rooms.join.items():
                for event in info.timeline.events:
                    source = event.source
                    content = source.get("content") or {}
                    if source.get("sender") != user_id and content.get("msgtype") == "m.text":
                        await client.room_send(room_id, "m.room.message",
                                               {"msgtype": "m.notice", "body": f"echo: {content['body']}"})
    finally:
        await client.close()


async def round_trip(person: Person, room: str, sender: str, text: str, match: str) -> float:
    start = await person.send(room, text)
    return (await person.next_answer(sender, match)) - start


async def run(messages: int, warmup: int, pause: float, back_to_back: bool) -> None:
    from synapse_server import start_synapse

    from adapters.matrix.runtime import connect
    from bot.app import build
    from bot.core.clock import SystemClock
    from bot.settings import settings_from_data

    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        synapse = start_synapse(Path(tmp) / "synapse")
        try:
            for name in ("dutydesk", "echo", "rita", "anna"):
                synapse.register(name, PASSWORD)
            settings = settings_from_data({
                "desk": {"name": "bench", "ticket_prefix": "HW", "language": "en"},
                "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"], "matrix": "@anna:localhost"}},
                "storage": {"url": f"sqlite+aiosqlite:///{tmp}/bench.db"},
                "matrix": {"homeserver": synapse.url, "user_id": "@dutydesk:localhost"},
            }, "(bench)", env={"DUTYDESK_MATRIX__PASSWORD": PASSWORD})
            clock = SystemClock()
            runtime = await connect(settings, clock)
            bot = await build(settings, clock, [runtime], upgrade=True)
            await runtime.prepare(bot.ports)
            stop = asyncio.Event()
            echo = asyncio.create_task(echo_bot(synapse.url, "@echo:localhost", stop))
            results: dict[str, list[float]] = {}
            async with bot.background():
                runtime.run_sync()
                rita, anna = Person(synapse.url, "@rita:localhost"), Person(synapse.url, "@anna:localhost")
                await rita.start()
                await anna.start()
                rooms = {}
                for who in ("echo", "dutydesk"):
                    created = await rita.client.room_create(preset=RoomPreset.private_chat,
                                                            invite=[f"@{who}:localhost", "@anna:localhost"])
                    assert isinstance(created, RoomCreateResponse), created
                    rooms[who] = created.room_id
                    await anna.client.join(created.room_id)
                await asyncio.sleep(2.0)   # both bots join (and dutydesk's first sync keeps only the token)
                results = {"echo": [], "ticket": [], "queue": []}

                async def rest() -> None:
                    if back_to_back:
                        return
                    await bot.outbox.settle()                      # the ticket room's naming and invites
                    refill = runtime.adapter.rooms._refill                 # spare ticket rooms being created
                    if refill is not None:
                        await asyncio.gather(refill, return_exceptions=True)
                    await rita.catch_up()
                    await anna.catch_up()
                    await asyncio.sleep(pause)

                rounds = []
                for n in range(warmup + messages):
                    text = f"!ticket the printer {n} is jammed again"
                    rounds += [(n, "echo", rita, rooms["echo"], "@echo:localhost", text, f"echo: {text}"),
                               (n, "ticket", rita, rooms["dutydesk"], "@dutydesk:localhost", text,
                                f"Ticket HW-{n + 1} is open"),
                               (n, "queue", anna, rooms["dutydesk"], "@dutydesk:localhost", "!queue", "Queue:")]
                if back_to_back:  # each path on its own, as a closed loop: dutydesk's room work never lands
                    rounds.sort(key=lambda r: ("echo", "ticket", "queue").index(r[1]))  # on an echo round
                for n, key, person, room, sender, body, match in rounds:
                    await rest()
                    took = await round_trip(person, room, sender, body, match)
                    if n >= warmup:
                        results[key].append(took)
                await rita.client.close()
                await anna.client.close()
                await runtime.stop()
            stop.set()
            await echo
            await runtime.close()
            await bot.close()
        finally:
            synapse.stop()
    base = statistics.median(results["echo"])
    rows = []
    for label, key in (("bare nio echo bot (baseline)", "echo"), ("dutydesk !ticket → receipt (DM)", "ticket"),
                       ("dutydesk !queue → answer (DM)", "queue")):
        values = results[key]
        rows.append([label, str(len(values)), f"{statistics.median(values) * 1000:.1f}",
                     f"{pct(values, 0.99) * 1000:.1f}", f"{statistics.median(values) / base:.2f}×",
                     f"{pct(values, 0.99) / pct(results['echo'], 0.99):.2f}×"])
    how = "each path on its own, back to back" if back_to_back else \
        f"paths taking turns, each round from rest, then {pause:.2f} s"
    print(f"Matrix round trip on Synapse (loopback, SQLite), {messages} messages each after {warmup} warm-up, "
          f"{how}")
    print_table(["path", "n", "p50 ms", "p99 ms", "p50 ratio", "p99 ratio"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between rounds once at rest (0.3)")
    parser.add_argument("--back-to-back", action="store_true",
                        help="no rest between rounds: the next message right after the answer")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.warmup, args.pause, args.back_to_back))


if __name__ == "__main__":
    main()
