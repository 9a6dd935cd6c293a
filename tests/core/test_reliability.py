"""Ticket numbering, idempotency, restarts and failures, through the dispatcher on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from pydantic import BaseModel

from bot.core.dispatcher import reference
from bot.core.registry import Arg, Command
from bot.i18n import t
from bot.tickets import card, service
from storage.errors import StorageUnavailable
from storage.models import DeskCounter, OutboxMessage, Person, ProcessedEvent, Ticket, TicketEvent


async def numbers(desk) -> list[int]:
    return sorted(ticket.number for ticket in await desk.rows(Ticket))


# --------------------------------------------------------------------------- numbering


async def test_fifty_concurrent_creations_are_numbered_one_to_fifty(desk) -> None:
    events = [desk.event(f"user{i:02}", f"/ticket printer {i} is on fire") for i in range(50)]
    accepted = await asyncio.gather(*(desk.bot.dispatcher.handle(e) for e in events))
    assert all(accepted)
    tickets = await desk.rows(Ticket)
    assert sorted(t.number for t in tickets) == list(range(1, 51))
    assert {t.key for t in tickets} == {f"HW-{n}" for n in range(1, 51)}
    assert all(t.key == f"{t.prefix}-{t.number}" for t in tickets)
    # each requester got the ticket made from their own text
    people = {p.id: p.key for p in await desk.rows(Person)}
    assert {people[t.requester_id]: t.description for t in tickets} == {
        f"user{i:02}": f"printer {i} is on fire" for i in range(50)
    }
    (counter,) = await desk.rows(DeskCounter)
    assert (counter.prefix, counter.last_number) == ("HW", 50)
    assert {row.status for row in await desk.rows(ProcessedEvent)} == {"done"}
    await desk.bot.outbox.drain()
    receipts = [m for m in desk.adapter.sent if m.kind == "receipt"]
    assert sorted(m.ticket for m in receipts) == sorted(t.key for t in tickets)


async def test_concurrent_first_messages_of_one_new_requester(desk) -> None:
    """A new requester who sends several requests at once becomes one person with several tickets."""
    events = [desk.event("dora", f"/ticket problem {i}") for i in range(5)]
    await asyncio.gather(*(desk.bot.dispatcher.handle(e) for e in events))
    assert {row.status for row in await desk.rows(ProcessedEvent)} == {"done"}
    assert await numbers(desk) == [1, 2, 3, 4, 5]
    dora = await desk.rows(Person, Person.key == "dora")
    assert len(dora) == 1
    assert {t.requester_id for t in await desk.rows(Ticket)} == {dora[0].id}


async def test_a_rolled_back_creation_gives_its_number_back(desk, monkeypatch) -> None:
    await desk.send("ben", "/ticket first")

    def boom(*_args, **_kwargs):
        raise RuntimeError("the duty channel is on fire")

    monkeypatch.setattr(card, "open_card", boom)  # the last step of opening a ticket
    await desk.send("ben", "/ticket second, fails")
    monkeypatch.undo()
    await desk.send("ben", "/ticket third")
    tickets = await desk.rows(Ticket, order=Ticket.number)
    assert [(t.key, t.title) for t in tickets] == [("HW-1", "first"), ("HW-2", "third")]
    (counter,) = await desk.rows(DeskCounter)
    assert counter.last_number == 2


async def test_numbers_stay_gap_free_when_some_concurrent_creations_fail(desk, monkeypatch) -> None:
    real = card.open_card

    async def sometimes(session, desk_, ticket, text):
        if "fail" in ticket.description:
            raise RuntimeError("boom")
        return await real(session, desk_, ticket, text)

    monkeypatch.setattr(card, "open_card", sometimes)
    texts = [f"/ticket {'fail' if i % 3 == 0 else 'ok'} {i}" for i in range(30)]
    events = [desk.event(f"user{i:02}", text) for i, text in enumerate(texts)]
    await asyncio.gather(*(desk.bot.dispatcher.handle(e) for e in events))
    statuses = Counter(row.status for row in await desk.rows(ProcessedEvent))
    assert statuses == {"done": 20, "failed": 10}
    assert await numbers(desk) == list(range(1, 21))
    assert all("ok" in t.description for t in await desk.rows(Ticket))


# --------------------------------------------------------------------------- idempotency


async def test_the_same_event_delivered_twice_makes_one_ticket(desk) -> None:
    event = desk.event("ben", "/ticket the VPN drops every hour", event_id="Ev-42")
    assert await desk.bot.handle(event) is True
    assert await desk.bot.handle(event) is False
    assert await numbers(desk) == [1]
    assert len([m for m in desk.adapter.sent if m.kind == "receipt"]) == 1
    (row,) = await desk.rows(ProcessedEvent)
    assert (row.key, row.status) == ("sim:Ev-42", "done")


async def test_the_same_event_delivered_concurrently_makes_one_ticket(desk) -> None:
    event = desk.event("ben", "/ticket the VPN drops every hour", event_id="Ev-43")
    results = await asyncio.gather(*(desk.bot.dispatcher.handle(event) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await numbers(desk) == [1]
    assert await desk.count(TicketEvent) == 1
    await desk.bot.outbox.drain()
    assert len([m for m in desk.adapter.sent if m.kind == "receipt"]) == 1


async def test_accept_many_tells_new_from_seen(desk) -> None:
    """A group commit of concurrent requests: a key seen before, or earlier in the batch, is not new."""
    seen = desk.event("ben", "/ticket one", event_id="g-1")
    assert await desk.bot.dispatcher.accept(seen) is True
    batch = [desk.event("ben", "/ticket two", event_id="g-2"), seen,
             desk.event("ben", "/ticket three", event_id="g-3"), desk.event("ben", "/ticket two", event_id="g-2")]
    assert await desk.bot.dispatcher.accept_many(batch) == [True, False, True, False]
    assert await desk.bot.dispatcher.accept_many([]) == []
    assert sorted(row.key for row in await desk.rows(ProcessedEvent)) == ["sim:g-1", "sim:g-2", "sim:g-3"]
    assert await desk.bot.dispatcher.recover() == 3
    assert sorted(t.title for t in await desk.rows(Ticket)) == ["one", "three", "two"]


async def test_equal_text_in_different_events_is_two_tickets(desk) -> None:
    await desk.send("ben", "/ticket printer on fire")
    await desk.send("ben", "/ticket printer on fire")
    assert await numbers(desk) == [1, 2]


async def test_concurrent_handling_delivers_every_message_once(desk) -> None:
    """Several events handled at once (as a Slack app does) each drain the outbox: no message twice."""
    events = [desk.event(f"user{i}", f"/ticket thing {i}") for i in range(10)]
    await asyncio.gather(*(desk.bot.handle(e) for e in events))
    await desk.bot.outbox.drain()
    ids = [m.id for m in desk.adapter.sent]
    assert len(ids) == len(set(ids)) == await desk.count(OutboxMessage)
    assert await desk.count(OutboxMessage, OutboxMessage.status != "sent") == 0


# --------------------------------------------------------------------------- restarts


async def test_a_restart_loses_nothing_and_numbering_continues(make_harness) -> None:
    first = await make_harness()
    await first.send("ben", "/ticket -p1 mail server down")
    await first.send("anna", "/ticket take HW-1")
    await first.send("ben", "/ticket second problem")
    await first.bot.close()

    second = await make_harness(clock=first.clock)
    tickets = await second.rows(Ticket, order=Ticket.number)
    assert [(t.key, t.state, t.priority) for t in tickets] == [("HW-1", "in_progress", 1), ("HW-2", "new", 2)]
    await second.send("ben", "/ticket third problem")
    assert await numbers(second) == [1, 2, 3]
    answer = await second.reply("ben", "/ticket show HW-1")
    assert "mail server down" in answer.text and "Anna" in answer.text


async def test_a_restart_with_a_changed_team_updates_staff(make_harness, desk_settings_factory) -> None:
    first = await make_harness()
    assert (await first.reply("ben", "/queue")).text == t("en", "queue.empty")
    await first.bot.close()
    without_ben = {"anna": {"name": "Anna", "roles": ["agent", "lead"]}}  # ben left the team
    second = await make_harness(desk_settings_factory(people=without_ben), clock=first.clock)
    assert (await second.reply("ben", "/queue")).text == t("en", "access.staff_only", prefix="/")
    (ben,) = await second.rows(Person, Person.key == "ben")
    assert ben.is_staff is False


async def test_an_accepted_event_is_finished_after_a_crash(make_harness) -> None:
    first = await make_harness()
    await first.send("ben", "/ticket before the crash")
    event = first.event("carl", "/ticket -p1 accepted, then the process died", event_id="crash-1")
    assert await first.bot.dispatcher.accept(event) is True
    await first.bot.close()  # "crash": processing never ran

    second = await make_harness(clock=first.clock)
    (pending,) = await second.rows(ProcessedEvent, ProcessedEvent.status == "received")
    assert pending.key == "sim:crash-1"
    assert await second.bot.dispatcher.recover() == 1
    assert await second.bot.dispatcher.recover() == 0
    tickets = await second.rows(Ticket, order=Ticket.number)
    assert [(t.key, t.title, t.priority) for t in tickets] == [
        ("HW-1", "before the crash", 2), ("HW-2", "accepted, then the process died", 1)
    ]
    assert {row.status for row in await second.rows(ProcessedEvent)} == {"done"}
    await second.bot.outbox.drain()
    (receipt,) = [m for m in second.adapter.sent if m.kind == "receipt"]
    assert (receipt.ticket, receipt.target.user_id) == ("HW-2", "carl")
    # the platform redelivers it after the restart: still one ticket
    assert await second.bot.handle(event) is False
    assert await numbers(second) == [1, 2]


async def test_undelivered_messages_survive_a_restart(make_harness) -> None:
    first = await make_harness()
    await first.bot.dispatcher.handle(first.event("ben", "/ticket written but not yet sent"))
    assert first.adapter.sent == []
    await first.bot.close()
    second = await make_harness(clock=first.clock)
    await second.bot.outbox.drain()
    assert sorted(m.kind for m in second.adapter.sent) == ["notice", "notice", "receipt"]


# --------------------------------------------------------------------------- failures


def explode_after_insert(registry) -> None:
    """A test command that creates a ticket (insert, flush, log, outbox rows) and then fails."""

    class Args(BaseModel):
        text: str

    async def handler(ctx, args):
        await service.create(ctx.session, ctx.desk, ctx.actor.person, text=args.text, priority=1, topic=None,
                             origin=ctx.event.channel, language="en")
        raise RuntimeError("failed after the insert")

    registry.add(Command(("explode",), Args, handler, "help.ticket_new", (Arg("text", "rest"),)))


@pytest.mark.parametrize("how", ["service", "command"])
async def test_an_event_that_fails_halfway_leaves_no_half_written_ticket(desk, monkeypatch, how) -> None:
    if how == "service":
        def boom(*_args, **_kwargs):
            raise RuntimeError("failed after the insert")

        # used by service.create after the ticket row is flushed and its event row added
        monkeypatch.setattr(card, "open_card", boom)
        text = "/ticket my password is hunter2"
    else:
        explode_after_insert(desk.bot.desk.registry)
        text = "/explode my password is hunter2"
    sent = await desk.send("dora", text, event_id="half-1")

    assert await desk.count(Ticket) == 0
    assert await desk.count(TicketEvent) == 0
    assert await desk.count(DeskCounter) == 0
    assert await desk.count(Person, Person.key == "dora") == 0
    (inbox,) = await desk.rows(ProcessedEvent)
    assert (inbox.key, inbox.status, inbox.error) == ("sim:half-1", "failed", "RuntimeError")
    assert inbox.handled_at is not None
    rows = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    assert [(r.kind, r.target_kind, r.visibility) for r in rows] == [
        ("error", "ephemeral", "ephemeral"), ("error", "channel", "private")
    ]
    ref = reference("sim:half-1")
    to_user, to_duty = sent
    assert (to_user.target.user_id, to_user.target.channel_id) == ("dora", "#general")
    assert to_user.text == t("en", "error.internal", ref=ref)
    assert to_duty.target.channel_id == "#support-duty"
    assert to_duty.text == t("en", "error.internal_duty", ref=ref, kind="command")
    assert all("hunter2" not in m.text for m in sent)
    # a redelivery is a duplicate: the user was told not to send it again
    assert await desk.bot.handle(desk.event("dora", text, event_id="half-1")) is False
    assert await desk.count(Ticket) == 0


async def test_a_failure_in_a_dm_is_answered_in_the_dm(desk, monkeypatch) -> None:
    monkeypatch.setattr(card, "open_card", lambda *a, **k: 1 / 0)
    sent = await desk.send("dora", "laptop broken", dm=True)
    (to_user,) = [m for m in sent if m.target.kind == "dm"]
    assert to_user.target.user_id == "dora" and to_user.kind == "error"
    assert await desk.count(Ticket) == 0


# --------------------------------------------------------------------------- one commit for redelivering sources


async def test_a_redelivered_source_stores_and_handles_an_event_in_one_commit(desk) -> None:
    """Matrix's path: the inbox row and the work commit together; the replayed event is a duplicate."""
    event = desk.event("ben", "/ticket printer on fire", event_id="m-1")
    assert await desk.bot.dispatcher.handle_redelivered(event) is True
    assert await desk.bot.dispatcher.handle_redelivered(event) is False  # the batch replayed after a crash
    assert await numbers(desk) == [1]
    [row] = await desk.rows(ProcessedEvent)
    assert (row.key, row.status, row.handled_at is not None) == (event.idempotency_key, "done", True)


async def test_a_redelivered_event_left_unfinished_by_the_two_step_path_is_finished(desk) -> None:
    event = desk.event("ben", "/ticket printer on fire", event_id="m-2")
    assert await desk.bot.dispatcher.accept(event)  # stored, then the process died before the work
    assert await desk.bot.dispatcher.handle_redelivered(event) is False
    assert await numbers(desk) == [1]
    assert [row.status for row in await desk.rows(ProcessedEvent)] == ["done"]


async def test_a_redelivered_event_whose_work_fails_is_kept_as_failed_and_answered(desk, monkeypatch) -> None:
    async def broken(ctx):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(desk.bot.dispatcher, "_route", broken)
    event = desk.event("ben", "/ticket printer on fire", event_id="m-3")
    assert await desk.bot.dispatcher.handle_redelivered(event) is True
    [row] = await desk.rows(ProcessedEvent)
    assert (row.status, row.error) == ("failed", "RuntimeError")
    assert await numbers(desk) == []  # nothing of the rolled-back work exists
    texts = [m.text for m in await desk.rows(OutboxMessage)]
    assert t("en", "error.internal", ref=reference(event.idempotency_key)) in texts


async def test_a_redelivered_event_with_the_database_away_is_left_to_the_source(desk, monkeypatch) -> None:
    async def away(ctx):
        raise ConnectionError("the database is away")

    monkeypatch.setattr(desk.bot.dispatcher, "_route", away)
    event = desk.event("ben", "/ticket printer on fire", event_id="m-4")
    with pytest.raises(StorageUnavailable) as caught:
        await desk.bot.dispatcher.handle_redelivered(event)
    assert caught.value.accepted is False
    assert await desk.rows(ProcessedEvent) == []  # the homeserver delivers it again
    monkeypatch.undo()
    assert await desk.bot.dispatcher.handle_redelivered(event) is True
    assert await numbers(desk) == [1]
