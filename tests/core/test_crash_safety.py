"""Crash safety: the bot as a real process, SIGKILLed at random instants while it handles a stream of
events, and started again each time (tests/core/crashbot.py says what the process does). Afterwards
nothing is lost and nothing is doubled: every event is one ticket, every outbox row reached the
platform (at least once, and exactly once per row id, the idempotency key a platform dedupes on),
and every digest and handover slot ran exactly once. Also the scheduler's own crash window, in
process: a job that dies before its commit leaves its slot unclaimed, so the catch-up runs it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.core.mentions import plain
from bot.infra.scheduler import Job
from storage.db import make_engine, make_sessionmaker
from storage.models import JobRun, OutboxMessage, ProcessedEvent, Ticket

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import crashbot  # noqa: E402

# events over ten hours of duty (twelve hourly digests and a handover); fewer on PostgreSQL, whose
# round trips make each event dearer, so both stay near 20 s
EVENTS = {"sqlite": 40, "postgresql": 30}
ROUNDS = 5
BERLIN = ZoneInfo("Europe/Berlin")


def step(events: int) -> timedelta:
    return timedelta(hours=10) / events


def expected_slots(events: int) -> dict[str, list[datetime]]:
    """What the duty window promises, worked out by hand: a digest on every full hour 08:00-19:00 and
    the handover at 08:00, Berlin time, as far as the run's clock gets."""
    end = crashbot.end_time(events, step(events))
    day = crashbot.START.astimezone(BERLIN).date()
    hours = [datetime(day.year, day.month, day.day, h, tzinfo=BERLIN).astimezone(UTC) for h in range(8, 20)]
    within = [slot for slot in hours if crashbot.START < slot <= end]
    return {"digest-prio1": within, "handover": within[:1]}


def start(db_url: str, folder: Path, events: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "crashbot.py"), "--db", db_url, "--dir", str(folder),
         "--events", str(events), "--step-minutes", str(step(events).total_seconds() / 60)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "DUTYDESK_LOG_LEVEL": "ERROR"},
    )


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def kill_at(proc: subprocess.Popen[str], folder: Path, acked: int | None, rng: random.Random) -> str:
    """SIGKILLs the process a random moment after ``acked`` events were acknowledged (mid-stream, in
    the unit of work, the outbox or a job), or at a random instant when ``acked`` is None (start-up,
    migrations and recovery included)."""
    if acked is None:
        time.sleep(rng.uniform(0.1, 2.0))
        how = "random instant"
    else:
        deadline = time.monotonic() + 30
        while lines(folder / "acked") < acked and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.3))
        how = f"after event {lines(folder / 'acked')}"
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return how
    proc.wait()
    return f"{how} (had exited)"


async def test_sigkill_at_random_points_loses_and_doubles_nothing(db_url: str, backend: str, tmp_path: Path) -> None:
    events = EVENTS[backend]
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    # one kill at a random instant, the others spread over the stream; the last one after the last
    # event, while the clock runs on through the remaining slots and retries
    points: list[int | None] = [None, *sorted(rng.sample(range(1, events), ROUNDS - 2)), events]
    kills = []
    for acked in points:
        proc = start(db_url, tmp_path, events)
        kills.append(kill_at(proc, tmp_path, acked, rng))
    final = start(db_url, tmp_path, events)
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0 and "DONE" in out, f"the last run did not finish (seed {seed}, kills {kills})"
    print(f"crash rounds: {kills}; starts: {(tmp_path / 'starts.jsonl').read_text()}")

    # the platform's side: every event was acknowledged
    assert crashbot.acknowledged(tmp_path / "acked") == set(range(events))
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            inbox = (await session.scalars(select(ProcessedEvent))).all()
            tickets = (await session.scalars(select(Ticket).order_by(Ticket.number))).all()
            outbox = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            runs = (await session.scalars(select(JobRun))).all()
    finally:
        await engine.dispose()

    # every event handled once: one ticket per /ticket event, numbered without gaps
    assert sorted(row.key for row in inbox) == sorted(f"sim:ev-{i}" for i in range(events))
    assert {row.status for row in inbox} == {"done"}
    wanted = [i for i in range(events) if crashbot.is_ticket(i)]
    made = Counter(int(t.description.rsplit("#", 1)[1]) for t in tickets)
    assert made == Counter(wanted), f"seed {seed}"
    assert [t.number for t in tickets] == list(range(1, len(wanted) + 1))

    # every outbox row delivered: at least once, and once per row id after dedupe
    assert {row.status for row in outbox} == {"sent"}
    delivered = [json.loads(line) for line in (tmp_path / "delivered.jsonl").read_text().splitlines()]
    per_id = Counter(line["id"] for line in delivered)
    assert set(per_id) == {row.id for row in outbox}
    by_id = {row.id: row for row in outbox}
    # the row's text as the platform gets it: the simulator has no mentions, so the digest's is plain text
    assert all(line["text"] == plain(by_id[line["id"]].text) for line in delivered)
    receipts = Counter(row.ticket_key for row in outbox if row.kind == "receipt")
    assert receipts == Counter(t.key for t in tickets)  # one receipt per ticket
    doubled = sum(n - 1 for n in per_id.values())
    print(f"{len(outbox)} outbox rows, {len(delivered)} deliveries, {doubled} redelivered after a kill (deduped by id)")

    # every scheduled slot ran exactly once, and its message is one outbox row
    expected = expected_slots(events)
    for job, slots in expected.items():
        assert sorted(r.slot for r in runs if r.job == job) == slots
    assert all(r.done_at is not None for r in runs)
    assert sorted(row.created_at for row in outbox if row.kind == "digest") == expected["digest-prio1"]
    # the handover is written when it runs (a caught-up one later than its slot): one per slot
    assert len([row for row in outbox if row.kind == "handover"]) == len(expected["handover"])


# --------------------------------------------------------------------------- the scheduler's crash window


async def test_a_job_that_dies_before_its_commit_runs_again_and_only_once(make_harness) -> None:
    """Claim and work commit together: a failure after the job wrote its messages leaves neither the
    claim nor the messages, and the catch-up then runs the slot once."""
    desk = await make_harness()
    slot = desk.clock.now() - timedelta(minutes=5)
    calls = []

    async def job(session, desk_, at):
        calls.append(at)
        from bot.core.types import Visibility
        from bot.infra.outbox import enqueue

        for target in desk_.duty_targets():
            enqueue(session, at, target, f"digest {len(calls)}", kind="digest", visibility=Visibility.PRIVATE)
        if len(calls) == 1:
            raise ConnectionError("the process died here")

    scheduler = desk.bot.scheduler
    flaky = Job("flaky", None, job)  # type: ignore[arg-type]  # run_slot never asks the trigger
    assert await scheduler.run_slot(flaky, slot) is False
    assert await desk.count(JobRun) == 0
    assert await desk.count(OutboxMessage, OutboxMessage.kind == "digest") == 0
    assert await scheduler.run_slot(flaky, slot) is True
    assert await scheduler.run_slot(flaky, slot) is False  # claimed: a second replica or a restart skips it
    assert len(calls) == 2
    (row,) = await desk.rows(OutboxMessage, OutboxMessage.kind == "digest")
    assert row.text == "digest 2"
    (run,) = await desk.rows(JobRun)
    assert (run.job, run.slot, run.done_at is not None) == ("flaky", slot, True)


@pytest.mark.parametrize("rounds", [3])
async def test_two_replicas_racing_for_a_slot_run_it_once(make_harness, rounds) -> None:
    """Both replicas try every slot at the same time; the claim in the unit of work lets one through."""
    import asyncio

    first = await make_harness()
    second = await make_harness(clock=first.clock)
    ran = Counter()

    def body(name):
        async def job(session, desk_, at):
            ran[name] += 1
            await asyncio.sleep(0.01)

        return job

    slot = first.clock.now()
    for i in range(rounds):
        at = slot - timedelta(minutes=i)
        results = await asyncio.gather(first.bot.scheduler.run_slot(Job("race", None, body("a")), at),  # type: ignore[arg-type]
                                       second.bot.scheduler.run_slot(Job("race", None, body("b")), at))  # type: ignore[arg-type]
        assert sorted(results) == [False, True]
    assert sum(ran.values()) == rounds
    assert await first.count(JobRun) == rounds
