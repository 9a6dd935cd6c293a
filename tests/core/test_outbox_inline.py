"""Inline delivery (bot/infra/outbox.py): a unit of work's messages are sent by the process that committed it,
right after the commit, with the outbox's guarantees — each row once, order per target, claim leases,
retries — and a crash between the commit and the send is covered by the sender's loop. Both backends.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

import bot.infra.outbox as outbox
from bot.core.types import Platform, Target, Visibility
from bot.infra.outbox import DeliveryError, OutboxSender, Slots, enqueue
from storage.models import OutboxMessage


def inline(harness):
    """The harness's bot as build() wires it for Slack and Matrix: the dispatcher delivers inline."""
    harness.bot.dispatcher.inline = harness.bot.outbox
    harness.bot.outbox._slots = Slots(8)  # several targets at once, as on Slack and Matrix
    return harness


def dm(user: str) -> Target:
    return Target(kind="dm", platform=Platform.SIM, user_id=user)


async def process(harness, user: str, text: str, **kwargs) -> None:
    """Accept and process one event the way an ingress does (no drain by the caller)."""
    assert await harness.bot.dispatcher.handle(harness.event(user, text, **kwargs))


async def put(harness, target: Target, *texts: str, ticket: str | None = None) -> list[int]:
    async with harness.sessions.begin() as session:
        rows = [enqueue(session, harness.clock.now(), target, text, kind="notice", visibility=Visibility.PRIVATE,
                        ticket=ticket) for text in texts]
        await session.flush()
        return [row.id for row in rows]


async def test_a_unit_of_work_is_delivered_inline_once_and_the_receipt_goes_first(make_harness) -> None:
    desk = inline(await make_harness())
    await process(desk, "ben", "/ticket printer on fire")
    await desk.bot.outbox.settle()  # no pass of the sender's loop: the dispatcher sent them itself
    rows = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    assert rows and {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert Counter(desk.adapter.attempts) == {r.id: 1 for r in rows}
    assert {r.platform_ref for r in rows} == {f"fake-{r.id}" for r in rows}
    kinds = [m.target.kind for m in desk.adapter.sent]
    assert "ticket" in kinds and kinds.index("ticket") == len(kinds) - 1  # the private space after the replies
    assert await desk.bot.outbox.drain() == 0  # nothing left, nothing sent twice
    assert len(desk.adapter.sent) == len(rows)


async def test_a_crash_between_commit_and_send_is_delivered_once_by_the_next_process(make_harness, db_url) -> None:
    crashed = inline(await make_harness())
    crashed.bot.outbox.deliver_now = lambda plan: None  # the process dies right after the commit
    await process(crashed, "ben", "/ticket printer on fire")
    claimed = await crashed.rows(OutboxMessage, order=OutboxMessage.id)
    assert claimed and all(r.status == "pending" and r.attempts == 0 for r in claimed)

    restarted = await make_harness(clock=crashed.clock)  # a new process on the same database
    assert await restarted.bot.outbox.drain() == 0  # the lease holds: not sent twice meanwhile
    restarted.clock.advance(outbox.CLAIM_TTL)
    assert await restarted.bot.outbox.drain() == len(claimed)
    assert await restarted.bot.outbox.drain() == 0
    assert Counter(restarted.adapter.attempts) == {r.id: 1 for r in claimed}
    assert crashed.adapter.sent == []


async def test_an_older_row_waiting_for_a_retry_is_not_overtaken(make_harness) -> None:
    desk = inline(await make_harness())
    # the same line as the receipt below (a target is the outbox's: kind, user, channel or ticket)
    (older,) = await put(desk, dm("ben"), "an older message to ben", ticket="HW-1")
    desk.adapter.fail = lambda m: DeliveryError("ratelimited", retry_after=30) if m.id == older else None
    assert await desk.bot.outbox.drain() == 0  # it waits for its retry now
    await process(desk, "ben", "printer on fire", dm=True)  # a ticket by DM: its receipt goes to the same DM
    await desk.bot.outbox.settle()
    assert [m.target.user_id for m in desk.adapter.sent if m.target.kind == "dm"] == []  # held back
    desk.adapter.fail = None
    desk.advance(seconds=30)
    await desk.bot.outbox.drain()
    to_ben = [m.id for m in desk.adapter.sent if m.target.kind == "dm" and m.target.user_id == "ben"]
    assert to_ben[0] == older and len(to_ben) >= 2 and to_ben == sorted(to_ben)
    sent = [m.id for m in desk.adapter.sent]
    assert len(sent) == len(set(sent)) == await desk.count(OutboxMessage)


async def test_the_senders_loop_is_woken_only_for_rows_left_to_it(make_harness) -> None:
    desk = inline(await make_harness())
    wakeup, timers = desk.bot.outbox.wakeup, desk.bot.timers_wakeup
    wakeup.clear()
    timers.clear()
    await process(desk, "ben", "/ticket printer on fire")  # every message of the unit is sent inline
    assert not wakeup.is_set() and timers.is_set()  # the timer loop still looks for the ticket's SLA timers
    await desk.bot.outbox.settle()
    (older,) = await put(desk, dm("ben"), "an older message to ben", ticket="HW-1")
    desk.adapter.fail = lambda m: DeliveryError("ratelimited", retry_after=30) if m.id == older else None
    assert await desk.bot.outbox.drain() == 0
    wakeup.clear()
    await process(desk, "ben", "printer on the roof now", dm=True)  # its receipt waits behind the older row
    assert wakeup.is_set()  # so it is the loop's: woken, it finds it due once the older one went
    desk.adapter.fail = None
    desk.advance(seconds=30)
    await desk.bot.outbox.drain()
    assert await desk.count(OutboxMessage) == len({m.id for m in desk.adapter.sent})  # all sent, each once


async def test_lines_of_one_target_keep_commit_order_while_an_earlier_send_is_slow(make_harness) -> None:
    desk = inline(await make_harness())
    gate = asyncio.Event()
    first: list[int] = []
    send = desk.adapter.send

    async def slow_first(message):
        if message.target.kind == "dm" and not first:
            first.append(message.id)
            await gate.wait()  # the homeserver takes its time with the first answer
        return await send(message)

    desk.bot.outbox.senders[Platform.SIM] = slow_first
    # two answers on one line: the same DM, about no ticket (a ticket's receipt is on that ticket's line)
    await process(desk, "anna", "/queue", dm=True)
    await asyncio.sleep(0)
    await process(desk, "anna", "/queue", dm=True)
    await asyncio.sleep(0.05)
    assert [m.id for m in desk.adapter.sent if m.target.kind == "dm"] == []  # the second waits behind the first
    gate.set()
    await desk.bot.outbox.settle()
    answers = [m.id for m in desk.adapter.sent if m.target.kind == "dm"]
    assert len(answers) == 2 and answers == sorted(answers) and answers[0] == first[0]
    assert await desk.bot.outbox.drain() == 0


async def test_a_failed_inline_send_holds_back_the_next_line_of_its_target(make_harness) -> None:
    desk = inline(await make_harness())
    failed: list[int] = []

    def fail_first_answer(message):
        if message.target.kind == "dm" and not failed:  # the first answer fails, once
            failed.append(message.id)
            return DeliveryError("timeout", retry_after=10)
        return None

    desk.adapter.fail = fail_first_answer
    await process(desk, "anna", "/queue", dm=True)
    await process(desk, "anna", "/queue", dm=True)
    await desk.bot.outbox.settle()
    await desk.bot.outbox.drain()
    (head,) = await desk.rows(OutboxMessage, OutboxMessage.id == failed[0])
    assert (head.status, head.attempts, head.last_error) == ("pending", 1, "timeout")
    assert [m for m in desk.adapter.sent if m.target.kind == "dm"] == []  # the second answer waits behind it
    desk.advance(seconds=10)
    await desk.bot.outbox.drain()
    answers = [m.id for m in desk.adapter.sent if m.target.kind == "dm"]
    assert len(answers) == 2 and answers[0] == failed[0] and answers == sorted(answers)
    rows = await desk.rows(OutboxMessage)
    assert all(r.status == "sent" for r in rows)


async def test_a_claimed_line_is_left_alone_by_another_sender_until_its_lease_runs_out(make_harness) -> None:
    desk = await make_harness()
    ids = await put(desk, dm("ben"), "one", "two", "three")
    other = OutboxSender(desk.sessions, desk.clock, {Platform.SIM: desk.adapter.send})
    assert set(await other._claim(await desk.rows(OutboxMessage), desk.clock.now())) == set(ids)
    assert await desk.bot.outbox.drain() == 0  # claimed by the other sender, which then "dies"
    desk.advance(seconds=outbox.CLAIM_TTL.total_seconds() - 1)
    assert await desk.bot.outbox.drain() == 0
    desk.advance(seconds=1)
    assert await desk.bot.outbox.drain() == 3
    assert [m.id for m in desk.adapter.sent] == ids  # in order, each once
    assert await desk.bot.outbox.drain() == 0


async def test_two_senders_draining_together_send_each_row_once(make_harness) -> None:
    desk = await make_harness()
    ids = []
    for user in ("ben", "dora", "erik", "fay"):
        ids += await put(desk, dm(user), f"{user} 1", f"{user} 2", f"{user} 3")
    other = OutboxSender(desk.sessions, desk.clock, {Platform.SIM: desk.adapter.send}, concurrency=4)
    counts = await asyncio.gather(desk.bot.outbox.drain(), other.drain())
    assert sum(counts) == len(ids)
    assert sorted(desk.adapter.attempts) == sorted(ids)  # none twice
    for user in ("ben", "dora", "erik", "fay"):
        mine = [m.id for m in desk.adapter.sent if m.target.user_id == user]
        assert mine == sorted(mine)
    rows = await desk.rows(OutboxMessage)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert {r.platform_ref for r in rows} == {f"fake-{i}" for i in ids}


async def test_a_failing_line_ends_the_pass_only_after_the_other_lines(make_harness, monkeypatch) -> None:
    """A database error in one target's line must not leave another line sending after the pass (and its
    lock) ended: the next pass could overtake it in its own target."""
    desk = await make_harness()
    sender = desk.bot.outbox
    sender._slots = Slots(8)
    await put(desk, dm("ben"), "ben 1")
    await put(desk, dm("dora"), "dora 1")
    real = sender._send_line

    async def line(rows):
        if rows[0].user_id == "ben":
            raise ConnectionError("the database is away")
        await asyncio.sleep(0.05)  # dora's line is still under way when ben's fails
        return await real(rows)

    monkeypatch.setattr(sender, "_send_line", line)
    with pytest.raises(ConnectionError):  # the failing line's error is not swallowed
        await sender.drain()
    # dora's line had finished when the pass ended
    assert [m.text for m in desk.adapter.sent] == ["dora 1"]


async def test_waiting_for_inline_deliveries_is_bounded(make_harness) -> None:
    """The Matrix sync waits for its batch's replies before the next long-poll, but a send that hangs
    (a ticket room being set up) does not hold it for longer than the bound."""
    sender = (await make_harness()).bot.outbox
    gate = asyncio.Event()
    task = sender._track(asyncio.create_task(gate.wait()))
    await sender.wait_inline(0.01)
    assert not task.done()
    gate.set()
    await sender.wait_inline(5.0)
    assert task.done()


@pytest.mark.parametrize("chat", [False, True], ids=["sender's loop", "inline"])
async def test_stopping_the_bot_lets_the_sends_under_way_finish(make_harness, chat) -> None:
    """A stop that cut a send off left its row unmarked although the platform may have had it: after the
    restart the row was sent a second time (a mail receipt twice). The stop waits for the send and its mark."""
    desk = inline(await make_harness()) if chat else await make_harness()
    started, go_on = asyncio.Event(), asyncio.Event()
    send = desk.bot.outbox.senders[Platform.SIM]

    async def slow(message):
        started.set()
        await go_on.wait()
        return await send(message)

    desk.bot.outbox.senders[Platform.SIM] = slow
    background = desk.bot.background()
    await background.__aenter__()
    await process(desk, "ben", "/ticket printer on fire")
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(background.__aexit__(None, None, None))
    await asyncio.sleep(0.2)
    assert not stopping.done()   # it waits for the send under way
    go_on.set()
    await asyncio.wait_for(stopping, 10)
    rows = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    assert rows and {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert Counter(desk.adapter.attempts) == {r.id: 1 for r in rows}
