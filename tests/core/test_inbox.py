"""The core's inbox (bot/core/inbox.py): group commit of concurrent submits, workers that let requests
being received go first (briefly), and the one recovery loop, timed by ``[ha]``. On both backends."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from storage.models import ProcessedEvent, Ticket


async def test_concurrent_submits_are_stored_in_one_commit(desk, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = desk.bot.inbox
    batches: list[int] = []
    accept_many = desk.bot.dispatcher.accept_many

    async def counting(events):
        batches.append(len(events))
        return await accept_many(events)

    monkeypatch.setattr(desk.bot.dispatcher, "accept_many", counting)
    events = [desk.event("ben", f"/ticket printer {i} on fire", event_id=f"gc-{i}") for i in range(5)]
    again = desk.event("ben", "/ticket printer 0 on fire", event_id="gc-0")   # Slack's retry of the first
    results = await asyncio.gather(*(inbox.submit(event) for event in [*events, again]))
    assert results == [True] * 5 + [False]
    assert batches == [6]   # one transaction for all six requests of the moment
    await inbox.idle()
    assert await desk.count(ProcessedEvent, ProcessedEvent.status == "done") == 5
    assert sorted(t.title for t in await desk.rows(Ticket)) == [f"printer {i} on fire" for i in range(5)]
    assert not inbox.in_flight


async def test_a_duplicate_submit_is_not_processed_again(desk) -> None:
    inbox = desk.bot.inbox
    event = desk.event("ben", "/ticket scanner jammed", event_id="dup-1")
    assert await inbox.submit(event) is True
    await inbox.idle()
    assert await inbox.submit(event) is False
    await inbox.idle()
    assert await desk.count(Ticket) == 1


async def test_work_waits_while_a_request_is_being_received(desk, monkeypatch) -> None:
    from bot.core import inbox as module

    monkeypatch.setattr(module, "YIELD_MAX", 60.0)   # it lets a request pass for at most YIELD_MAX; here: all along
    inbox = desk.bot.inbox
    event = desk.event("ben", "/ticket projector flickers", event_id="flow-1")
    async with inbox.arriving():   # a platform request is still being received …
        assert await inbox.submit(event)
        for _ in range(20):
            await asyncio.sleep(0.005)
        # … so the worker has not started on the stored event
        assert await desk.count(ProcessedEvent, ProcessedEvent.status == "received") == 1
    await inbox.idle()   # the request is in: the work goes on, no lull needed
    assert await desk.count(ProcessedEvent, ProcessedEvent.status == "done") == 1


async def test_a_stored_event_the_workers_hold_is_left_to_them(desk, monkeypatch) -> None:
    from bot.core import inbox as module

    monkeypatch.setattr(module, "YIELD_MAX", 60.0)
    inbox = desk.bot.inbox
    event = desk.event("ben", "/ticket door sensor", event_id="held-1")
    async with inbox.arriving():   # the worker waits for the request to end
        assert await inbox.submit(event)
        desk.advance(minutes=10)
        assert await inbox.recover(older_than=timedelta(minutes=1)) == 0   # in flight here: not recovered
    await inbox.idle()
    assert await desk.count(Ticket) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_one_recovery_loop_follows_ha(make_harness) -> None:
    harness = await make_harness(ha={"recover_every": "1s", "recover_after": "5m"})
    inbox = harness.bot.inbox
    assert (inbox.recover_every, inbox.recover_after) == (1.0, timedelta(minutes=5))
    event = harness.event("ben", "/ticket stored, then the process died", event_id="lost-1")
    assert await harness.bot.dispatcher.accept(event)
    harness.advance(minutes=4)   # younger than recover_after: perhaps still being processed elsewhere
    loop = asyncio.create_task(inbox.recover_loop())
    try:
        await asyncio.sleep(2.5)   # two passes of recover_every
        assert await harness.count(ProcessedEvent, ProcessedEvent.status == "received") == 1
        harness.advance(minutes=2)
        for _ in range(100):
            if await harness.count(ProcessedEvent, ProcessedEvent.status == "done"):
                break
            await asyncio.sleep(0.1)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert [t.title for t in await harness.rows(Ticket)] == ["stored, then the process died"]


async def test_a_prio1_request_is_processed_before_the_requests_queued_ahead_of_it(desk, monkeypatch) -> None:
    # one worker, busy with a first request while three ordinary requests queue up, then two Prio-1 ones
    inbox = desk.bot.inbox
    inbox.workers = 1
    processed: list[str] = []
    process = desk.bot.dispatcher.process
    busy = asyncio.Event()
    release = asyncio.Event()

    async def recording(event):
        processed.append(event.text)
        if len(processed) == 1:
            busy.set()
            await release.wait()
        await process(event)

    monkeypatch.setattr(desk.bot.dispatcher, "process", recording)
    assert await inbox.submit(desk.event("ben", "/ticket printer 0 jammed", event_id="queue-0"))
    await busy.wait()
    for n in range(1, 4):
        assert await inbox.submit(desk.event("ben", f"/ticket printer {n} jammed", event_id=f"queue-{n}"))
    assert await inbox.submit(desk.event("ben", "/ticket -p1 the mail server is down", event_id="queue-p1"))
    assert await inbox.submit(desk.event("ben", "/ticket priority HW-1 1", event_id="queue-raise"))
    release.set()
    await inbox.idle()
    texts = [text.removeprefix("/") for text in processed]
    assert texts == ["ticket printer 0 jammed", "ticket -p1 the mail server is down", "ticket priority HW-1 1",
                     "ticket printer 1 jammed", "ticket printer 2 jammed", "ticket printer 3 jammed"]


def test_only_a_command_for_a_prio1_ticket_ranks_first(desk) -> None:
    rank = desk.bot.dispatcher.rank
    assert rank(desk.event("ben", "/ticket -p1 the mail server is down")) == 0
    assert rank(desk.event("ben", "/ticket priority HW-3 1")) == 0
    assert rank(desk.event("ben", "/ticket the mail server is slow")) == 1
    assert rank(desk.event("ben", "/ticket priority HW-3 2")) == 1
    assert rank(desk.event("ben", "/ticket -p1")) == 1   # no text: a parse error, answered in turn
    assert rank(desk.event("ben", "/queue")) == 1


async def test_the_stop_ends_a_worker_that_loses_its_cancellation(desk, monkeypatch) -> None:
    """A worker waits for a gap between requests with wait_for, which on Python 3.11 drops a cancellation that meets
    the gap: the worker went on and then waited in its queue, and the bot's stop waited for it for ever."""
    inbox = desk.bot.inbox
    waiting, lost = asyncio.Event(), []

    async def losing() -> bool:
        waiting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            lost.append(True)
            asyncio.current_task().uncancel()   # dropped, as wait_for drops it
        return False

    monkeypatch.setattr(inbox.flow, "yield_to_requests", losing)
    assert await inbox.submit(desk.event("ben", "/ticket projector flickers", event_id="lost-1"))
    await asyncio.wait_for(waiting.wait(), 5)
    await asyncio.wait_for(inbox.drain(0.05), 10)
    assert lost == [True]
    assert await desk.count(ProcessedEvent, ProcessedEvent.status == "done") == 1   # the work it was given, done
