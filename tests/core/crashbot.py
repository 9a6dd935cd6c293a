"""A bot process for the crash tests (tests/core/test_crash_safety.py): it plays a platform that feeds
a fixed stream of events into the real dispatcher, scheduler, timers and outbox, and it can be
SIGKILLed at any instant and started again.

    python tests/core/crashbot.py --db URL --dir DIR [--events N] [--step-minutes M]

- Event ``i`` (0 ≤ i < N) happens at ``START + i × step`` on a virtual clock: mostly ``/ticket … #i``
  from outside requesters (every 10th one Prio-1), now and then ``/queue`` from a lead.
- Like Slack, the "platform" counts an event as delivered once it was acknowledged: the bot
  acknowledges right after ``Dispatcher.accept`` committed the inbox row (``DIR/acked``, one index
  a line), then processes it. After a restart the platform redelivers from the first unacknowledged
  event on, and delivers the last few acknowledged ones again (duplicates must be dropped).
- A start does what ``Bot.background`` does: ``dispatcher.recover()`` and ``scheduler.catch_up()``;
  the digest and handover slots and the per-ticket timers then fire as the virtual clock passes them
  (``Bot.run_until``, the simulator's production-code path), and the outbox sender runs meanwhile.
- The adapter appends every message it is handed to ``DIR/delivered.jsonl`` before it returns
  (the outbox row id is the idempotency key a platform would dedupe on); now and then a send fails
  with a transient ``DeliveryError`` so retries happen too.
- When every event is acknowledged, the clock runs on to the end of the window and ``DONE`` is
  printed. Each start appends a line to ``DIR/starts.jsonl`` (what it recovered and caught up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapters.sim import PROFILES  # noqa: E402
from bot.app import build  # noqa: E402
from bot.core.clock import VirtualClock  # noqa: E402
from bot.core.types import ChannelRef, InboundEvent, OutboundMessage, Platform, Removal, UserRef  # noqa: E402
from bot.infra import timers  # noqa: E402
from bot.infra.outbox import DeliveryError  # noqa: E402
from bot.settings import Settings, settings_from_data  # noqa: E402

START = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)  # a Tuesday, 07:30 in Berlin; duty runs 08:00-20:00
TAIL = timedelta(hours=3)  # after the last event the clock runs on this long (retries, last slots)
REDELIVER = 3  # acknowledged events the platform delivers again after a restart
FAIL_RATE = 0.03

CONFIG = {
    "desk": {"name": "Crash desk", "ticket_prefix": "CR", "language": "en", "timezone": "Europe/Berlin"},
    "people": {
        "anna": {"name": "Anna", "roles": ["agent", "lead"]},
        "ben": {"name": "Ben"},
        "carla": {"name": "Carla", "roles": ["agent", "coordinator"]},
    },
    "channels": {"duty": ["#support-duty"]},
    "duty": {
        "window": "mon-sun 08:00-20:00",
        "roles": ["phone", "standby"],
        "members": ["anna", "ben"],
        "coordinator": "carla",
        "anchor": "2026-11-23",
        "digest": {"every": "1h", "priorities": [1], "post_when_empty": True},
    },
}


def settings() -> Settings:
    return settings_from_data(json.loads(json.dumps(CONFIG)), "(crash desk)")


def event_time(i: int, step: timedelta) -> datetime:
    return START + i * step


def end_time(events: int, step: timedelta) -> datetime:
    return event_time(events, step) + TAIL


def is_ticket(i: int) -> bool:
    return i % 11 != 5


def event(i: int, at: datetime) -> InboundEvent:
    if is_ticket(i):
        user, text = f"user{i % 7}", f"ticket {'-p1 ' if i % 10 == 0 else ''}printer on fire, crash test #{i}"
    else:
        user, text = "anna", "queue"
    return InboundEvent(
        kind="command", event_id=f"ev-{i}", text=text, received_at=at,
        actor=UserRef(platform=Platform.SIM, user_id=user, display_name=user.capitalize()),
        channel=ChannelRef(platform=Platform.SIM, channel_id="#general"),
    )


class FileAdapter:
    """Records every message it is handed, one JSON line, before it reports the send as done."""

    platform = Platform.SIM
    capabilities = PROFILES["slack"]

    def __init__(self, path: Path, rng: random.Random) -> None:
        self.out = path.open("a", encoding="utf-8")
        self.rng = rng

    async def send(self, message: OutboundMessage) -> str | None:
        if self.rng.random() < FAIL_RATE:
            raise DeliveryError("transient failure (crash test)")
        line = {"id": message.id, "kind": message.kind, "ticket": message.ticket, "text": message.text,
                "to": message.target.channel_id or message.target.user_id or message.target.ticket}
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()  # in the kernel's hands: a SIGKILL cannot take it back
        return f"file-{message.id}"

    async def remove(self, removal: Removal) -> str | None:
        return removal.message_id


def acknowledged(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {int(line) for line in path.read_text().split() if line.strip().isdigit()}


async def main(db: str, folder: Path, events: int, step: timedelta) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    acked_path = folder / "acked"
    acked = acknowledged(acked_path)
    first = next((i for i in range(events) if i not in acked), events)
    clock = VirtualClock(event_time(first, step))
    adapter = FileAdapter(folder / "delivered.jsonl", random.Random(os.getpid()))
    bot = await build(settings(), clock, [adapter], db_url=db, upgrade=True)
    ack_file = acked_path.open("a", encoding="utf-8")
    try:
        # what Bot.background does on a start, on the virtual clock
        recovered = await bot.dispatcher.recover()
        caught_up = await bot.scheduler.catch_up()
        with (folder / "starts.jsonl").open("a", encoding="utf-8") as starts:
            starts.write(json.dumps({"pid": os.getpid(), "first": first, "recovered": recovered,
                                     "caught_up": caught_up}) + "\n")
        await timers.fire_due(bot.desk)
        sender = asyncio.create_task(bot.outbox.run(poll=1.0))
        try:
            # the platform delivers the last acknowledged events once more, then the rest in order
            for i in [*range(max(first - REDELIVER, 0), first), *range(first, events)]:
                if i >= first:
                    await bot.run_until(clock, event_time(i, step))
                ev = event(i, clock.now())
                new = await bot.dispatcher.accept(ev)
                if i >= first:
                    ack_file.write(f"{i}\n")
                    ack_file.flush()
                elif new:
                    raise AssertionError(f"event {i} was acknowledged before, yet accepted as new")
                if new:
                    await bot.dispatcher.process(ev)
                await timers.fire_due(bot.desk)
                await bot.outbox.drain()
            await bot.run_until(clock, end_time(events, step))
            await bot.outbox.drain()
            # a transient failure in the last drain (FAIL_RATE) is retried after its backoff, seconds later: the
            # clock runs on for the outbox alone (no slot or timer after the window), as a running bot's would
            for _ in range(50):
                retry = await next_retry(bot)
                if retry is None:
                    break
                clock.set(max(retry, clock.now()))
                await bot.outbox.drain()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    finally:
        ack_file.close()
        await bot.close()
    print("DONE", flush=True)
    return 0


async def next_retry(bot: Any) -> datetime | None:
    """When the first outbox row still pending is due again (None: every row is settled)."""
    from sqlalchemy import func, select

    from storage.models import OutboxMessage

    async with bot.desk.sessions() as session:
        return await session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                                    .where(OutboxMessage.status == "pending"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--step-minutes", type=float, default=3.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.db, args.dir, args.events, timedelta(minutes=args.step_minutes))))
