"""The Matrix adapter end to end on a real Synapse: people with their own matrix-nio clients write
to the bot; the bot syncs, handles, checkpoints and answers through the outbox."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import pytest
from matrix_harness import MatrixHarness
from sqlalchemy import select

from adapters.matrix.sync import MatrixIngress
from bot.core.types import Button, OutboundMessage, Platform, Target, Visibility
from bot.i18n import t as t_
from bot.infra.outbox import enqueue
from storage.models import KeyValue, OutboxMessage, ProcessedEvent, Ticket


async def rows(matrix: MatrixHarness, model: type, *where: Any) -> list[Any]:
    async with matrix.bot.desk.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


def bodies(events: list[dict[str, Any]]) -> list[str]:
    return [e["content"].get("body", "") for e in events]


async def test_ticket_in_a_room_gives_a_receipt_and_a_private_ticket_room(matrix: MatrixHarness) -> None:
    room = await matrix.room_with_bot("anna", name="random", members=("rita",))
    rita = matrix.people["rita"]
    asked = await rita.send(room, "!ticket printer <b>on</b> fire")
    await matrix.settle(asked)

    [ticket] = await rows(matrix, Ticket)
    assert (ticket.key, ticket.title, ticket.origin_platform) == ("HW-1", "printer <b>on</b> fire", "matrix")
    mapping = {row.key: row.value for row in await rows(matrix, KeyValue)}
    space = mapping["matrix:space:HW-1"]
    assert mapping[f"matrix:room:{space}"] == "HW-1"

    # the receipt: no ephemeral messages on Matrix, so a direct room, as an m.notice with escaped HTML
    joined = await rita.accept_invites()
    dm = mapping[f"matrix:dm:{matrix.names['rita']}"]
    assert set(joined) == {dm, space}
    [receipt] = await rita.from_bot(dm, matrix.bot_id)
    assert receipt["content"]["msgtype"] == "m.notice" and "HW-1" in receipt["content"]["body"]
    assert receipt["content"]["format"] == "org.matrix.custom.html" and receipt["content"]["m.mentions"] == {}
    invite = next(e for e in await rita.timeline(dm) if e["type"] == "m.room.member"
                  and e["state_key"] == matrix.names["rita"] and e["content"]["membership"] == "invite")
    assert invite["content"].get("is_direct") is True

    # the private ticket room: invite-only, not in the directory, the description inside (escaped in HTML)
    state = {e["type"]: e["content"] for e in await rita.timeline(space) if "state_key" in e}
    assert state["m.room.join_rules"]["join_rule"] == "invite"
    status, listed = await rita.raw("GET", f"/_matrix/client/v3/directory/list/room/{space}")
    assert (status, listed) == (200, {"visibility": "private"})
    [opened] = await rita.from_bot(space, matrix.bot_id)
    assert "printer <b>on</b> fire" in opened["content"]["body"]
    assert "printer &lt;b&gt;on&lt;/b&gt; fire" in opened["content"]["formatted_body"]
    # the duty room hears of it; nothing was said in the public room
    duty = bodies(await matrix.people["anna"].from_bot(matrix.duty, matrix.bot_id))
    assert any("HW-1" in body for body in duty)
    assert await matrix.people["anna"].from_bot(room, matrix.bot_id) == []

    # a message in the ticket's room is a message about the ticket
    said = await rita.send(space, "it smells of smoke now")
    await matrix.settle(said)
    [row] = await rows(matrix, ProcessedEvent, ProcessedEvent.key == f"matrix:{said}")
    assert (row.payload["kind"], row.payload["ticket"], row.status) == ("message", "HW-1", "done")


async def test_a_direct_message_opens_a_ticket_answered_in_the_same_room(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    said = await matrix.people["rita"].send(dm, "my laptop does not boot since this morning")
    await matrix.settle(said)

    [ticket] = await rows(matrix, Ticket)
    assert ticket.title.startswith("my laptop does not boot")
    [row] = await rows(matrix, ProcessedEvent)
    assert row.payload["kind"] == "dm" and row.payload["channel"]["is_direct"] is True
    [receipt] = await matrix.people["rita"].from_bot(dm, matrix.bot_id)
    assert "HW-1" in receipt["content"]["body"]
    assert (await matrix.adapter.rooms.dm_room(matrix.names["rita"])) == dm   # no second direct room


async def test_a_person_who_leaves_their_direct_room_gets_a_new_one(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    await matrix.settle(await matrix.people["rita"].send(dm, "my laptop does not boot since this morning"))
    await matrix.people["rita"].client.room_leave(dm)

    async def forgotten() -> bool:
        return await matrix.adapter.rooms.dm_user(dm) is None

    await matrix.settle(until=forgotten)
    joined = await matrix.adapter.client.joined_rooms()
    assert dm not in joined.rooms   # the bot left the room nobody reads any more
    fresh = await matrix.dm_room_of("rita")   # the next direct message opens a new room, which rita joins
    assert fresh != dm
    await matrix.people["rita"].accept_invites()
    said = await matrix.people["rita"].send(fresh, "!ticket list")
    await matrix.settle(said)
    assert await matrix.people["rita"].from_bot(fresh, matrix.bot_id)


async def test_queue_and_help_for_an_agent(matrix: MatrixHarness) -> None:
    room = await matrix.room_with_bot("anna", name="team", members=("rita",))
    first = await matrix.people["rita"].send(room, "!ticket the wifi in room 3 drops every minute")
    await matrix.settle(first)
    asked = await matrix.people["anna"].send(room, "!queue")
    helped = await matrix.people["anna"].send(room, "!help")
    in_duty = await matrix.people["anna"].send(matrix.duty, "!queue")
    await matrix.settle(asked, helped, in_duty)
    dm = await matrix.dm_room_of("anna")
    texts = bodies(await matrix.people["anna"].from_bot(dm, matrix.bot_id))
    queues = [text for text in texts if text.startswith("Queue: 1 open")]
    assert len(queues) == 2
    # titles only where the duty room asked (recognised by its configured name)
    assert all("HW-1" in text for text in queues)
    assert sorted("wifi" in text for text in queues) == [False, True]
    assert any("!ticket" in text for text in texts)                    # help speaks in Matrix's prefix


async def test_ticket_reaction_moves_the_public_thread(matrix: MatrixHarness) -> None:
    general = await matrix.room_with_bot("anna", name="general", members=("rita", "ben"))
    rita, ben, anna = (matrix.people[p] for p in ("rita", "ben", "anna"))
    root = await rita.send(general, "the shop is down for everyone, error 500 on checkout")
    reply = await ben.send(general, "same here since 10:00", thread=root)
    await matrix.settle(root, reply)
    reaction = await anna.react(general, root, "🎫")
    await matrix.settle(reaction)

    [ticket] = await rows(matrix, Ticket)
    [row] = await rows(matrix, ProcessedEvent, ProcessedEvent.key == f"matrix:{reaction}")
    assert row.payload["kind"] == "reaction" and row.payload["name"] == "🎫"
    assert [m["message_id"] for m in row.payload["thread"]] == [root, reply]
    space = (await rows(matrix, KeyValue, KeyValue.key == "matrix:space:HW-1"))[0].value
    await rita.accept_invites()
    copied = "\n".join(bodies(await rita.from_bot(space, matrix.bot_id)))
    assert "error 500 on checkout" in copied and "same here since 10:00" in copied
    # the public messages are redacted; one notice with the ticket id and no content stays
    for event_id in (root, reply):
        event = await anna.event(general, event_id)
        assert event["content"] == {} and "redacted_because" in event["unsigned"]
    public = bodies(await anna.from_bot(general, matrix.bot_id))
    assert len(public) == 1 and ticket.key in public[0] and "500" not in public[0]
    removes = await rows(matrix, OutboxMessage, OutboxMessage.operation == "remove")
    assert {r.status for r in removes} == {"sent"} and len(removes) == 2


async def test_without_redact_power_the_ticket_says_so(matrix: MatrixHarness) -> None:
    general = await matrix.room_with_bot("anna", name="general", members=("rita",), bot_power=None)
    rita = matrix.people["rita"]
    root = await rita.send(general, "I cannot log in to the portal, password reset mail never arrives")
    await matrix.settle(root)
    reaction = await rita.react(general, root, "🎫")      # the author may move her own thread
    await matrix.settle(reaction)

    [remove] = await rows(matrix, OutboxMessage, OutboxMessage.operation == "remove")
    assert remove.status == "dead" and "power level of at least 50" in (remove.last_error or "")
    await matrix.bot.outbox.drain()
    space = (await rows(matrix, KeyValue, KeyValue.key == "matrix:space:HW-1"))[0].value
    await rita.accept_invites()
    said = "\n".join(bodies(await rita.from_bot(space, matrix.bot_id)))
    assert "could not remove a public message" in said and "power level" in said
    assert (await rita.event(general, root))["content"]["body"].startswith("I cannot log in")


async def test_restart_in_the_middle_of_a_batch_handles_each_event_once(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    rita = matrix.people["rita"]
    # commands: plain DMs this close together would be one conversation (follow-ups of the first ticket)
    said = [await rita.send(dm, f"!ticket problem number {n}: the scanner on floor {n} is offline") for n in (1, 2, 3)]
    token_before = matrix.runtime.ingress.token

    class Crash(BaseException):
        pass

    ingress = matrix.runtime.ingress
    calls = {"n": 0}
    work = matrix.bot.dispatcher._work

    async def crashing(session: Any, event: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash  # the process dies in the second event's work, before its commit and the token
        await work(session, event)

    matrix.bot.dispatcher._work = crashing  # type: ignore[method-assign]
    with pytest.raises(Crash):
        for _ in range(20):
            await ingress.sync_once(timeout_ms=500)
    assert (await rows(matrix, KeyValue, KeyValue.key == ingress.token_key))[0].value == token_before

    await matrix.stop_bot()
    await matrix.start_bot()          # the same database and device: recover, then replay from the old token
    await matrix.settle(*said)
    tickets = await rows(matrix, Ticket)
    assert len(tickets) == 3
    assert sorted(t.title.split(":")[0] for t in tickets) == ["problem number 1", "problem number 2",
                                                             "problem number 3"]
    assert {r.status for r in await rows(matrix, ProcessedEvent)} == {"done"}
    receipts = [b for b in bodies(await rita.from_bot(dm, matrix.bot_id)) if "is open" in b]
    assert sorted(receipts) == sorted({*receipts}) and len(receipts) == 3


async def test_a_429_is_waited_out_and_each_message_arrives_once(matrix: MatrixHarness) -> None:
    admin = "admin" + matrix.sfx
    matrix.synapse.register(admin, "admin-password", admin=True)
    matrix.synapse.override_ratelimit(matrix.synapse.tokens[f"@{admin}:localhost"], matrix.bot_id, 1, 1)
    limited: list[Any] = []
    client = matrix.adapter.client
    client.add_response_callback(lambda response: limited.append(response),
                                 __import__("nio").ErrorResponse)
    async with matrix.bot.desk.sessions.begin() as session:
        for n in range(3):
            enqueue(session, matrix.clock.now(), Target(kind="channel", platform=Platform.MATRIX,
                                                        channel_id=f"#duty-{matrix.sfx}"),
                    f"burst message {n}", kind="notice", visibility=Visibility.PRIVATE)
    assert await matrix.bot.outbox.drain() == 3
    assert any(getattr(r, "status_code", None) == "M_LIMIT_EXCEEDED" and r.retry_after_ms for r in limited)
    texts = bodies(await matrix.people["anna"].from_bot(matrix.duty, matrix.bot_id))
    assert [t for t in texts if t.startswith("burst message")] == [f"burst message {n}" for n in range(3)]


async def test_a_resent_row_is_shown_once(matrix: MatrixHarness) -> None:
    message = OutboundMessage(id=987654, target=Target(kind="channel", platform=Platform.MATRIX,
                                                       channel_id=matrix.duty),
                              text="sent twice after a crash", kind="notice", visibility=Visibility.PRIVATE)
    first = await matrix.adapter.send(message)
    again = await matrix.adapter.send(message)
    assert first == again
    texts = bodies(await matrix.people["anna"].from_bot(matrix.duty, matrix.bot_id))
    assert texts.count("sent twice after a crash") == 1


async def test_numbered_reply_presses_a_button(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    opened = await matrix.people["rita"].send(dm, "the beamer in room 5 shows no picture")
    await matrix.settle(opened)
    async with matrix.bot.desk.sessions.begin() as session:
        enqueue(session, matrix.clock.now(), Target(kind="dm", platform=Platform.MATRIX, user_id=matrix.names["anna"]),
                "HW-1 is new. Take it?", kind="notice", visibility=Visibility.PRIVATE,
                buttons=(Button(action="take", label="Take HW-1", value="HW-1"),
                         Button(action="close", label="Close HW-1", value="HW-1")))
    await matrix.bot.outbox.drain()
    dm_anna = await matrix.dm_room_of("anna")
    [offer] = [e for e in await matrix.people["anna"].from_bot(dm_anna, matrix.bot_id)
               if "Take it?" in e["content"]["body"]]
    assert "1️⃣ Take HW-1" in offer["content"]["body"] and "2️⃣ Close HW-1" in offer["content"]["body"]
    pressed = await matrix.people["anna"].send(dm_anna, "1", reply_to=offer["event_id"])
    await matrix.settle(pressed)
    [row] = await rows(matrix, ProcessedEvent, ProcessedEvent.key == f"matrix:{pressed}")
    assert (row.payload["kind"], row.payload["name"], row.payload["value"]) == ("action", "take", "HW-1")
    [ticket] = await rows(matrix, Ticket)
    assert ticket.assignee_id is not None


async def test_the_ticket_form_step_by_step(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    rita = matrix.people["rita"]
    answers = ["!ticket", "short", "The export to PDF fails with a timeout after 30 seconds",
               "open a report, click export", "-", "Firefox 128 on Windows 11", "1", "-", "-"]
    for text in answers:
        said = await rita.send(dm, text)
        await matrix.settle(until=functools.partial(_after, matrix, rita, dm, said))
    [ticket] = await rows(matrix, Ticket)
    assert ticket.title.startswith("The export to PDF fails") and ticket.priority == 1
    assert ticket.data["doc"]["urgency"] == "SHOW-STOPPER" and ticket.data["doc"]["environment"].startswith("Firefox")
    texts = bodies(await rita.from_bot(dm, matrix.bot_id))
    # a requester's form: seven questions, no "for (caller / e-mail)" (the team's field)
    assert any("(1/7)" in t for t in texts) and any("at least 10 characters" in t for t in texts)
    assert not any(t_("en", "form.ticket.contact") in t for t in texts)
    assert "HW-1" in texts[-1]
    # the team's form asks it too, last
    anna = matrix.people["anna"]
    staff_dm = await matrix.dm_with_bot("anna")
    said = await anna.send(staff_dm, "!ticket")
    await matrix.settle(until=functools.partial(_after, matrix, anna, staff_dm, said))
    assert any("(1/8)" in t for t in bodies(await anna.from_bot(staff_dm, matrix.bot_id)))


async def _after(matrix: MatrixHarness, person: Any, room: str, event_id: str) -> bool:
    """The bot has said something in ``room`` after ``event_id``."""
    timeline = await person.timeline(room)
    ids = [e["event_id"] for e in timeline]
    if event_id not in ids:
        return False
    return any(e.get("sender") == matrix.bot_id for e in timeline[ids.index(event_id) + 1:])


async def test_an_encrypted_room_is_told_once_that_the_bot_cannot_read_it(matrix: MatrixHarness) -> None:
    room = await matrix.room_with_bot("anna", encrypted=True)
    await matrix.settle(until=lambda: _bot_said(matrix, room))
    await matrix.runtime.ingress.sync_once(timeout_ms=200)
    said = await matrix.people["anna"].from_bot(room, matrix.bot_id)
    assert len(said) == 1 and "cannot read encrypted rooms" in said[0]["content"]["body"]


async def _bot_said(matrix: MatrixHarness, room: str) -> bool:
    return bool(await matrix.people["anna"].from_bot(room, matrix.bot_id))


def test_ingress_is_importable_without_a_homeserver() -> None:
    assert MatrixIngress.__name__ == "MatrixIngress"


async def test_suggest_mode_nudge_answered_with_its_number_moves_the_thread(matrix: MatrixHarness) -> None:
    general = await matrix.room_with_bot("anna", name="general", members=("rita",))
    rita = matrix.people["rita"]
    root = await rita.send(general, "the shop is down for everyone, error 500 on checkout")
    await matrix.settle(root)
    dm = await matrix.dm_room_of("rita")
    [nudge] = await rita.from_bot(dm, matrix.bot_id)
    assert "1️⃣" in nudge["content"]["body"] and "!ticket" in nudge["content"]["body"]
    pressed = await rita.send(dm, "1")
    await matrix.settle(pressed)
    [row] = await rows(matrix, ProcessedEvent, ProcessedEvent.key == f"matrix:{pressed}")
    assert row.payload["kind"] == "action" and row.payload["channel"]["channel_id"] == f"#general-{matrix.sfx}"
    [ticket] = await rows(matrix, Ticket)
    assert ticket.origin_channel == f"#general-{matrix.sfx}"
    assert (await rita.event(general, root))["content"] == {}


async def test_a_later_dm_is_asked_about_and_answered_with_a_number(matrix: MatrixHarness) -> None:
    """#17 on a real homeserver: a follow-up within [desk] follow_up joins the open ticket; a later DM is asked
    about with numbered options naming the `!` commands; "2" makes it a ticket of its own."""
    dm = await matrix.dm_with_bot("rita")
    rita = matrix.people["rita"]
    await matrix.settle(await rita.send(dm, "the beamer in room 5 shows no picture"))
    await matrix.settle(await rita.send(dm, "it is the Epson one"))
    matrix.clock.advance(timedelta(minutes=45))
    later = await rita.send(dm, "and my keyboard lost the letter q")
    await matrix.settle(until=functools.partial(_after, matrix, rita, dm, later))
    said = await rita.from_bot(dm, matrix.bot_id)
    assert sum("Added to your ticket HW-1" in e["content"]["body"] for e in said) == 1
    [question] = [e for e in said if "Does this belong" in e["content"]["body"]]
    body = question["content"]["body"]
    assert "1️⃣ Add to HW-1 (or type !ticket append HW-1)" in body
    assert "2️⃣ New ticket (or type !ticket separate HW-1)" in body
    answered = await rita.send(dm, "2", reply_to=question["event_id"])
    await matrix.settle(answered)
    tickets = sorted(await rows(matrix, Ticket), key=lambda ticket: ticket.id)
    assert [ticket.title for ticket in tickets] == ["the beamer in room 5 shows no picture",
                                                    "and my keyboard lost the letter q"]


async def test_the_tickets_card_is_answered_by_number_and_edited_in_place(matrix: MatrixHarness) -> None:
    """#17 on a real homeserver: the duty room gets one card per ticket with numbered options; "1" in reply takes
    the ticket, and the card is edited (m.replace) to show it, without the Take option."""
    dm = await matrix.dm_with_bot("rita")
    await matrix.settle(await matrix.people["rita"].send(dm, "the beamer in room 5 shows no picture"))
    anna = matrix.people["anna"]
    [card] = [e for e in await anna.from_bot(matrix.duty, matrix.bot_id) if "HW-1" in e["content"]["body"]]
    body = card["content"]["body"]
    assert "1️⃣ Take (or type !ticket take HW-1)" in body and "!ticket priority HW-1 1" in body
    pressed = await anna.send(matrix.duty, "1", reply_to=card["event_id"])
    await matrix.settle(pressed)
    [ticket] = await rows(matrix, Ticket)
    assert ticket.state == "in_progress" and ticket.assignee_id is not None
    await matrix.bot.outbox.drain()
    [edit] = [e for e in await anna.from_bot(matrix.duty, matrix.bot_id)
              if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"]
    assert edit["content"]["m.relates_to"]["event_id"] == card["event_id"]
    new = edit["content"]["m.new_content"]["body"]
    assert "in progress · P2 · Anna (last change: Anna)" in new and "Take" not in new
    assert new.startswith("New ticket HW-1") and edit["content"]["body"].startswith("* New ticket HW-1")


async def test_closing_says_goodbye_and_the_requester_leaves_the_room_reopening_invites_again(
        matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    rita = matrix.people["rita"]
    await matrix.settle(await rita.send(dm, "the beamer in room 5 shows no picture"))
    room = (await rows(matrix, KeyValue, KeyValue.key == "matrix:space:HW-1"))[0].value
    await rita.accept_invites()
    closed = await matrix.people["anna"].send(matrix.duty, "!ticket close HW-1")
    await matrix.settle(closed)
    await matrix.bot.outbox.drain()
    client = matrix.adapter.client
    members = await client.joined_members(room)
    joined = {m.user_id for m in members.members}
    assert matrix.names["rita"] not in joined and matrix.bot_id in joined
    [ticket] = await rows(matrix, Ticket)
    assert ticket.data["space_archived"] is True
    state = await client.room_get_state_event(room, "m.room.member", matrix.names["rita"])
    assert state.content["membership"] == "leave"
    # reopening invites her again
    reopened = await rita.send(dm, "!ticket reopen HW-1")
    await matrix.settle(reopened)
    await matrix.bot.outbox.drain()
    state = await client.room_get_state_event(room, "m.room.member", matrix.names["rita"])
    assert state.content["membership"] == "invite"
