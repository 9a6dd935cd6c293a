"""The outbox sender on both backends: Retry-After on the virtual clock, order per target, dead rows."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest

from adapters.sim import PROFILES
from bot.core.types import Button, Capability, MessageKind, OutboundMessage, Platform, Target, Visibility
from bot.infra.outbox import MAX_ATTEMPTS, MAX_BACKOFF, DeliveryError, Operation, backoff, enqueue, enqueue_removal
from storage.models import OutboxMessage

LONGER_THAN_ANY_BACKOFF = MAX_BACKOFF * 1.25 + timedelta(seconds=1)


def channel(name: str) -> Target:
    return Target(kind="channel", platform=Platform.SIM, channel_id=name)


async def put(desk, target: Target, *texts: str, kind: str = "notice", ticket: str | None = None) -> list[int]:
    async with desk.sessions.begin() as session:
        rows = [enqueue(session, desk.clock.now(), target, text, kind=kind, visibility=Visibility.PUBLIC,
                        ticket=ticket) for text in texts]
        await session.flush()
        return [row.id for row in rows]


async def row(desk, row_id: int) -> OutboxMessage:
    (found,) = await desk.rows(OutboxMessage, OutboxMessage.id == row_id)
    return found


def sent_texts(desk) -> list[str]:
    return [m.text for m in desk.adapter.sent]


def fail_when(predicate, exc: DeliveryError):
    def fail(message):
        return exc if predicate(message) else None

    return fail


async def test_a_sent_row_records_the_platform_reference(desk) -> None:
    (row_id,) = await put(desk, channel("#a"), "hello")
    assert await desk.bot.outbox.drain() == 1
    (message,) = desk.adapter.sent
    assert (message.id, message.text, message.target.channel_id) == (row_id, "hello", "#a")
    sent = await row(desk, row_id)
    assert (sent.status, sent.attempts, sent.platform_ref, sent.sent_at) == ("sent", 1, f"fake-{row_id}",
                                                                            desk.clock.now())
    assert await desk.bot.outbox.drain() == 0  # nothing is sent twice


async def test_buttons_and_ticket_survive_the_round_trip(desk) -> None:
    async with desk.sessions.begin() as session:
        enqueue(session, desk.clock.now(), Target(kind="ticket", platform=Platform.SIM, ticket="HW-7"), "x",
                kind="notice", visibility=Visibility.PRIVATE, buttons=[Button(action="take", label="Take",
                                                                              value="HW-7")])
    await desk.bot.outbox.drain()
    (message,) = desk.adapter.sent
    assert (message.target.kind, message.target.ticket, message.ticket) == ("ticket", "HW-7", "HW-7")
    assert message.buttons == (Button(action="take", label="Take", value="HW-7"),)


async def test_retry_after_is_honoured_and_order_per_target_is_kept(desk) -> None:
    first, second = await put(desk, channel("#a"), "a1", "a2")
    await put(desk, channel("#b"), "b1")
    calls = Counter()

    def rate_limited_once(message):
        calls[message.id] += 1
        if message.id == first and calls[first] == 1:
            return DeliveryError("ratelimited", retry_after=30)
        return None

    desk.adapter.fail = rate_limited_once
    start = desk.clock.now()
    assert await desk.bot.outbox.drain() == 1
    assert sent_texts(desk) == ["b1"]  # a2 waits behind a1; #b is not held up
    held = await row(desk, first)
    assert (held.status, held.attempts, held.last_error) == ("pending", 1, "ratelimited")
    assert held.next_attempt_at == start + timedelta(seconds=30)
    assert (await row(desk, second)).attempts == 0

    assert await desk.bot.outbox.drain() == 0  # not before its time
    desk.advance(seconds=29)
    assert await desk.bot.outbox.drain() == 0
    assert calls[first] == 1
    desk.advance(seconds=1)
    assert await desk.bot.outbox.drain() == 2
    assert sent_texts(desk) == ["b1", "a1", "a2"]
    assert desk.adapter.attempts.count(first) == 2 and desk.adapter.attempts.count(second) == 1


async def test_a_failing_target_holds_back_only_its_own_rows(desk) -> None:
    await put(desk, channel("#a"), "a1", "a2", "a3")
    await put(desk, channel("#b"), "b1", "b2")
    desk.adapter.fail = fail_when(lambda m: m.target.channel_id == "#a", DeliveryError("down", retry_after=5))
    await desk.bot.outbox.drain()
    assert sent_texts(desk) == ["b1", "b2"]
    attempted = Counter(desk.adapter.attempts)
    a_rows = await desk.rows(OutboxMessage, OutboxMessage.channel_id == "#a", order=OutboxMessage.id)
    assert [attempted[r.id] for r in a_rows] == [1, 0, 0]  # only the head of #a's line was tried
    desk.adapter.fail = None
    desk.advance(seconds=5)
    await desk.bot.outbox.drain()
    assert sent_texts(desk) == ["b1", "b2", "a1", "a2", "a3"]


async def test_backoff_grows_without_retry_after(desk) -> None:
    (row_id,) = await put(desk, channel("#a"), "x")
    desk.adapter.fail = fail_when(lambda m: True, DeliveryError("timeout"))
    waits = []
    for _ in range(4):
        before = desk.clock.now()
        await desk.bot.outbox.drain()
        waits.append((await row(desk, row_id)).next_attempt_at - before)
        desk.clock.set((await row(desk, row_id)).next_attempt_at)
    for attempt, wait in enumerate(waits, 1):
        base = 2 ** (attempt - 1)
        assert timedelta(seconds=base) <= wait <= timedelta(seconds=base * 1.25)


def test_backoff_function() -> None:
    assert backoff(3, 7.5) == timedelta(seconds=7.5)
    assert backoff(1, -3) == timedelta(0)
    assert backoff(40, None) <= MAX_BACKOFF * 1.25
    assert backoff(40, None) >= MAX_BACKOFF


async def test_a_permanently_failing_row_goes_dead_and_the_duty_channel_is_told(desk) -> None:
    dm = Target(kind="dm", platform=Platform.SIM, user_id="dora")
    doomed, _after = await put(desk, dm, "your salary slip: 4711 EUR", "second message", ticket="HW-3")
    desk.adapter.fail = fail_when(lambda m: m.id == doomed, DeliveryError("user_not_found"))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        await desk.bot.outbox.drain()
        state = await row(desk, doomed)
        assert state.attempts == attempt
        assert state.status == ("dead" if attempt == MAX_ATTEMPTS else "pending")
        if attempt < MAX_ATTEMPTS:
            assert "second message" not in sent_texts(desk)  # order: nothing overtakes the head of the line
        desk.clock.advance(LONGER_THAN_ANY_BACKOFF)
    await desk.bot.outbox.drain()
    assert desk.adapter.attempts.count(doomed) == MAX_ATTEMPTS  # never tried again
    assert (await row(desk, doomed)).last_error == "user_not_found"
    assert "second message" in sent_texts(desk)  # the line moves on once the head is given up
    (report,) = [m for m in desk.adapter.sent if m.kind == "error"]
    assert (report.target.kind, report.target.channel_id, report.visibility) == (
        "channel", "#support-duty", Visibility.PRIVATE)
    assert str(doomed) in report.text and "user_not_found" in report.text
    assert "4711" not in report.text and "salary" not in report.text
    assert report.ticket == "HW-3"


async def test_a_permanent_error_is_not_retried(desk) -> None:
    (row_id,) = await put(desk, channel("#gone"), "x")
    desk.adapter.fail = fail_when(lambda m: m.id == row_id, DeliveryError("channel_not_found", permanent=True))
    await desk.bot.outbox.drain()
    assert ((await row(desk, row_id)).status, (await row(desk, row_id)).attempts) == ("dead", 1)
    assert [m.kind for m in desk.adapter.sent] == ["error"]


async def test_a_dead_duty_report_is_not_reported_again(desk) -> None:
    """When the duty channel itself cannot be reached, giving up does not start a loop."""
    desk.adapter.fail = fail_when(lambda m: m.target.channel_id == "#support-duty",
                                  DeliveryError("not_in_channel", permanent=True))
    await put(desk, channel("#support-duty"), "duty notice")
    await desk.bot.outbox.drain()
    for _ in range(3):
        desk.clock.advance(LONGER_THAN_ANY_BACKOFF)
        await desk.bot.outbox.drain()
    rows = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    assert [(r.kind, r.status) for r in rows] == [("notice", "dead"), ("error", "dead")]


async def test_an_adapter_bug_does_not_stop_other_deliveries(desk) -> None:
    (broken,) = await put(desk, channel("#a"), "boom")
    await put(desk, channel("#b"), "fine")

    def raise_bug(message):
        return KeyError("adapter bug") if message.id == broken else None

    desk.adapter.fail = raise_bug
    assert await desk.bot.outbox.drain() == 1
    assert sent_texts(desk) == ["fine"]
    failed = await row(desk, broken)
    assert (failed.status, failed.attempts, failed.last_error) == ("pending", 1, "KeyError")


async def test_concurrent_drains_send_each_row_once(desk) -> None:
    await put(desk, channel("#a"), *[f"m{i}" for i in range(20)])
    await asyncio.gather(*(desk.bot.outbox.drain() for _ in range(4)))
    assert sent_texts(desk) == [f"m{i}" for i in range(20)]


@pytest.mark.parametrize("batch", [1, 3])
async def test_small_batches_still_deliver_everything_in_order(desk, batch: int) -> None:
    desk.bot.outbox.batch = batch
    await put(desk, channel("#a"), *[f"m{i}" for i in range(7)])
    assert await desk.bot.outbox.drain() == 7
    assert sent_texts(desk) == [f"m{i}" for i in range(7)]


# --------------------------------------------------------------------------- removal: an operation, not a kind


async def test_a_removal_goes_to_the_remover_in_its_channels_order(desk) -> None:
    async with desk.sessions.begin() as session:
        now = desk.clock.now()
        enqueue(session, now, channel("#general"), "moved into a ticket", kind=MessageKind.NOTICE,
                visibility=Visibility.PUBLIC, ticket="HW-1")
        enqueue_removal(session, now, channel("#general"), "m1", ticket="HW-1")
    await desk.bot.outbox.drain()
    assert [m.text for m in desk.adapter.sent] == ["moved into a ticket"]  # the removal is no message
    (removal,) = desk.adapter.removed
    assert (removal.message_id, removal.target.channel_id, removal.ticket) == ("m1", "#general", "HW-1")
    stored = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    assert [(r.operation, r.kind, r.status) for r in stored] == [("send", "notice", "sent"),
                                                                  ("remove", "remove", "sent")]
    assert stored[1].platform_ref == "m1" and stored[0].id < stored[1].id


async def test_a_removal_written_by_a_replica_of_the_previous_release_is_still_a_removal(desk) -> None:
    """During a rolling upgrade the previous release runs on the new schema: it writes a removal as kind
    'remove' alone (the operation column takes its default, send), and it finds removals by that kind."""
    async with desk.sessions.begin() as session:
        old = OutboxMessage(created_at=desk.clock.now(), platform="sim", target_kind="channel", channel_id="#general",
                            ticket_key="HW-1", kind="remove", visibility="public", text="", buttons=[],
                            meta={"message_id": "m7"}, status="pending", attempts=0,
                            next_attempt_at=desk.clock.now())
        session.add(old)
        enqueue_removal(session, desk.clock.now(), channel("#general"), "m8", ticket="HW-1")
    await desk.bot.outbox.drain()
    assert desk.adapter.sent == []
    assert [r.message_id for r in desk.adapter.removed] == ["m7", "m8"]
    stored = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    # what this release writes is what the previous one reads as a removal
    assert [(r.operation, r.kind, r.status) for r in stored] == [("send", "remove", "sent"),
                                                                  ("remove", "remove", "sent")]


async def test_a_platform_that_cannot_remove_gives_the_removal_up_and_the_ticket_hears_of_it(make_harness) -> None:
    desk = await make_harness(capabilities=PROFILES["slack"] - {Capability.DELETE})
    async with desk.sessions.begin() as session:
        enqueue_removal(session, desk.clock.now(), channel("#general"), "m1", ticket="HW-9")
    await desk.bot.outbox.drain()
    (stored,) = await desk.rows(OutboxMessage, OutboxMessage.operation == Operation.REMOVE)
    assert (stored.status, stored.attempts, stored.last_error) == ("dead", 1, "sim cannot remove messages")
    assert desk.adapter.removed == [] and desk.adapter.sent == []  # no ticket HW-9: nobody to tell


def test_message_kinds_are_the_transcripts_strings() -> None:
    assert MessageKind.SLA_WARNING == "sla_warning" and json.dumps({"kind": MessageKind.DIGEST}) == '{"kind": "digest"}'
    assert "remove" not in {kind.value for kind in MessageKind}
    with pytest.raises(ValueError):
        OutboundMessage(id=1, target=channel("#a"), text="", kind="remove", visibility=Visibility.PUBLIC)


async def test_a_page_is_not_held_back_by_deliveries_under_way(desk) -> None:
    # one delivery at a time (the simulator's concurrency), and every other channel's send hangs: a flood
    await put(desk, channel("#flood-1"), "a")
    await put(desk, channel("#flood-2"), "b")
    (page,) = await put(desk, Target(kind="dm", platform=Platform.SIM, user_id="jonas"), "Prio-1 HW-9", kind="ping")
    outbox = desk.bot.outbox
    send = outbox.senders[Platform.SIM]
    stuck = asyncio.Event()

    async def slow(message):
        if message.kind != "ping":
            await stuck.wait()
        return await send(message)

    outbox.senders[Platform.SIM] = slow
    draining = asyncio.create_task(outbox.drain())
    for _ in range(200):
        if desk.adapter.sent:
            break
        await asyncio.sleep(0.01)
    assert [m.id for m in desk.adapter.sent] == [page]   # out while the flood's deliveries hang
    stuck.set()
    assert await draining == 3


# --------------------------------------------------------------------------- what people wait for goes first


def dm(user: str) -> Target:
    return Target(kind="dm", platform=Platform.SIM, user_id=user)


async def test_pages_and_receipts_beyond_the_batch_go_before_ordinary_traffic(desk) -> None:
    # a backlog of ordinary messages to many channels, larger than a pass's batch, then a receipt and a page
    desk.bot.outbox.batch = 5
    for n in range(12):
        await put(desk, channel(f"#busy-{n}"), f"notice {n}")
    (receipt,) = await put(desk, dm("requester"), "Ticket HW-7 is open", kind="receipt")
    (page,) = await put(desk, dm("standby"), "Prio-1 HW-8", kind="ping")
    assert await desk.bot.outbox.drain() == 14
    sent = [m.id for m in desk.adapter.sent]
    # the receipt and the page are picked up with the first batch, not after the seven notices beyond it; which
    # of that batch's notices reach the platform before them depends on the delivery slots and the database
    # connections at hand (the lines run side by side), so only that is asserted
    first_pass = desk.bot.outbox.batch + 2
    assert {receipt, page} <= set(sent[:first_pass])
    assert sorted(m.text for m in desk.adapter.sent[first_pass:]) == sorted(f"notice {n}" for n in range(5, 12))


async def test_a_receipt_never_overtakes_an_older_message_to_its_own_target(desk) -> None:
    desk.bot.outbox.batch = 5
    for n in range(6):
        await put(desk, channel(f"#busy-{n}"), f"notice {n}")
    (older,) = await put(desk, dm("requester"), "your earlier ticket HW-6 was answered")
    (receipt,) = await put(desk, dm("requester"), "Ticket HW-7 is open", kind="receipt")
    (other,) = await put(desk, dm("someone-else"), "Ticket HW-8 is open", kind="receipt")
    assert await desk.bot.outbox.drain() == 9
    sent = [m.id for m in desk.adapter.sent]
    assert sent[0] == other                            # a receipt with nothing older to its target: first
    assert sent.index(older) < sent.index(receipt)     # the other one waits for the older row of its target


async def test_a_free_slot_goes_to_a_waiting_receipt_before_ordinary_lines() -> None:
    from bot.infra.outbox import Slots

    slots = Slots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def line(name: str, rank: int) -> None:
        async with slots.slot(rank):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(line("first", 1))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(line(f"ordinary {n}", 1)) for n in range(3)]
    await asyncio.sleep(0)
    late = asyncio.create_task(line("receipt", 0))   # asks last
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, late, *waiting)
    assert order == ["first", "receipt", "ordinary 0", "ordinary 1", "ordinary 2"]


async def test_a_cancelled_waiter_does_not_lose_the_slot() -> None:
    from bot.infra.outbox import Slots

    slots = Slots(1)
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with slots.slot(1):
            held.set()
            await release.wait()

    async def waiter() -> str:
        async with slots.slot(0):
            return "got it"

    task = asyncio.create_task(holder())
    await held.wait()
    cancelled = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await task
    assert await asyncio.wait_for(waiter(), 1) == "got it"
