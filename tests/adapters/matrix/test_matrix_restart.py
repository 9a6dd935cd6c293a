"""A homeserver restart under the running bot: a private Synapse (its own data directory and port, from
the same cached virtual environment; the session's Synapse is shared by the other Matrix tests and
is never stopped) goes away and comes back while the bot runs its production loops: the sync loop
under its lease, the outbox sender and the timer loop.

While the homeserver is away the sync loop backs off instead of dying, ``/healthz`` reports the
Matrix sync as stale once no sync has completed for a while, and what the bot has to say (an SLA
warning that falls due, a notice queued for the duty room) waits in the outbox. Once Synapse is
back, the sync resumes from the stored token: the message sent just before the stop and the one
sent after the restart are each handled once, nothing in between is skipped, and every queued
message reaches its room once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from matrix_harness import MatrixHarness, suffix
from sqlalchemy import select
from synapse_server import Synapse, SynapseUnavailable, start_synapse

from adapters.matrix import sync as matrix_sync
from bot.core.types import Platform, Target, Visibility
from bot.infra import ops
from bot.infra.outbox import enqueue
from storage.models import KeyValue, OutboxMessage, ProcessedEvent, Ticket

WAIT = 60.0  # a guard against a hang, never an assertion on how long something took
# P1 tickets must be answered within 30 minutes, around the clock (the SLA of tests/core/test_ops.py)
SLA: dict[str, Any] = {
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {"response-P1": {"within": "30m"},
                                                          "response": {"within": "4h"}}}},
}


@pytest.fixture
def private_synapse(tmp_path: Path) -> Iterator[Synapse]:
    """A Synapse of this test's own: stopping it does not disturb the session's homeserver."""
    try:
        server = start_synapse(tmp_path / "synapse")
    except SynapseUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (CI=true: the Synapse tests must run)", pytrace=False)
        pytest.skip(f"no Synapse homeserver for the Matrix restart test: {exc}")
    try:
        yield server
    finally:
        server.stop()


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(matrix: MatrixHarness) -> AsyncIterator[list[asyncio.Task[None]]]:
    """The production loops: the sync under the device's lease, the outbox sender, the timer loop."""
    matrix.runtime.run_sync()
    tasks = [asyncio.create_task(matrix.bot.outbox.run(poll=0.1), name="outbox"),
             asyncio.create_task(matrix.bot.timer_loop(poll=0.1), name="timers")]
    try:
        yield tasks
    finally:
        await matrix.runtime.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


async def rows(matrix: MatrixHarness, model: type, *where: Any) -> list[Any]:
    async with matrix.bot.desk.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def test_a_homeserver_restart_is_waited_out_and_nothing_is_lost_or_doubled(
        private_synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    # the sync loop's backoff doubles from 1 s; capped at 2 s it notices the homeserver's return soon
    monkeypatch.setattr(matrix_sync, "BACKOFF_MAX", 2.0)
    matrix = MatrixHarness(private_synapse, f"sqlite+aiosqlite:///{tmp_path / 'dutydesk.db'}", suffix())
    try:
        await matrix.setup(desk={"name": "HW desk", "ticket_prefix": "HW", "language": "en", "sla": "support",
                                 "timezone": "Europe/Berlin"}, **SLA)
        rita = matrix.people["rita"]
        anna = matrix.people["anna"]
        dm = await matrix.dm_with_bot("rita")
        first = await rita.send(dm, "!ticket -p1 the mail server is down")
        await matrix.settle(first)
        token_before = matrix.runtime.ingress.token
        first_starts = logged(caplog, "matrix: first start")  # the bot's very first sync, in setup()

        async with running(matrix) as tasks:
            # accepted by Synapse just before it stops; the bot may or may not have synced them by then (commands:
            # a plain DM this soon after the first would be a follow-up of that ticket)
            before = [await rita.send(dm, "!ticket the scanner on floor 2 is offline"),
                      await rita.send(dm, "!ticket the coffee machine in the kitchen leaks")]
            await asyncio.to_thread(private_synapse.stop)
            handled_before_stop = [await matrix.seen(event) for event in before]

            # away: time passes, the P1's SLA warning falls due, a notice is queued for the duty room
            matrix.clock.advance(timedelta(minutes=40))
            async with matrix.bot.desk.sessions.begin() as session:
                enqueue(session, matrix.clock.now(), Target(kind="channel", platform=Platform.MATRIX,
                                                            channel_id=f"#duty-{matrix.sfx}"),
                        "queued while the homeserver was away", kind="notice", visibility=Visibility.PRIVATE)
            matrix.bot.outbox.wakeup.set()

            async def both_failed() -> bool:
                return bool(logged(caplog, "matrix: sync failed") and logged(caplog, "outbox: row"))

            await until("the sync and a delivery fail", both_failed)
            assert not [task.get_name() for task in (*tasks, matrix.runtime._task) if task.done()]
            status, health = await ops.health(matrix.bot)
            assert (status, health["status"], health["sync_stale"]) == (200, "ok", ["matrix"])
            assert health["outbox"]["pending"] >= 2

            await asyncio.to_thread(private_synapse.start)  # the same data directory and port
            after = await rita.send(dm, "!ticket the projector in room 3 flickers")
            # the failed deliveries are due again after their backoff (1 s after the first attempt)
            matrix.clock.advance(timedelta(seconds=5))
            matrix.bot.outbox.wakeup.set()

            async def caught_up() -> bool:
                pending = [r for r in await rows(matrix, OutboxMessage) if r.status != "sent"]
                seen = [await matrix.seen(event) for event in (*before, after)]
                return all(seen) and not pending and not ops.stale_syncs(matrix.bot, matrix.clock.now())

            await until("the bot catches up", caught_up)
            status, health = await ops.health(matrix.bot)
            assert (status, health["sync_stale"]) == (200, [])
            assert not [task.get_name() for task in tasks if task.done()]

        kinds = Counter(r.kind for r in await rows(matrix, OutboxMessage))
        print(f"handled before the stop: {handled_before_stop}; failed syncs: {logged(caplog, 'matrix: sync failed')}, "
              f"deliveries: {logged(caplog, 'outbox: row')}; outbox rows: {dict(kinds)}")
        # every message is one ticket: the first, the two just before the stop, the one after the restart
        tickets = sorted(t.title for t in await rows(matrix, Ticket))
        assert tickets == ["the coffee machine in the kitchen leaks", "the mail server is down",
                           "the projector in room 3 flickers", "the scanner on floor 2 is offline"]
        assert {r.status for r in await rows(matrix, ProcessedEvent)} == {"done"}
        # the sync went on from the stored token: never a first start, which would skip the backlog
        [token] = await rows(matrix, KeyValue, KeyValue.key == matrix.runtime.ingress.token_key)
        assert token.value != token_before and token.value == matrix.runtime.ingress.token
        assert logged(caplog, "matrix: first start") == first_starts == 1

        # every outbox row arrived, once: among them the notice and the SLA warnings queued in the outage
        outbox = await rows(matrix, OutboxMessage)
        assert {r.status for r in outbox} == {"sent"} and any(r.kind == "sla_warning" for r in outbox)
        duty = await anna.from_bot(matrix.duty, matrix.bot_id)
        shown = Counter(e["event_id"] for e in [*duty, *await rita.from_bot(dm, matrix.bot_id)])
        for row in outbox:  # each in the room it was meant for
            if row.kind == "sla_warning" or row.text.startswith("queued"):
                assert shown[row.platform_ref] == 1, row.kind
        bodies = Counter(e["content"]["body"] for e in duty)
        assert bodies["queued while the homeserver was away"] == 1 and set(bodies.values()) == {1}
        receipts = Counter(e["content"]["body"] for e in await rita.from_bot(dm, matrix.bot_id)
                           if "is open" in e["content"]["body"])
        assert len(receipts) == 4 and set(receipts.values()) == {1}
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        await matrix.close()
