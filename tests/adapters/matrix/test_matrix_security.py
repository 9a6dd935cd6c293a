"""Attacks on the Matrix side (issue #15) on a real Synapse: messages the homeserver would refuse,
ticket rooms others can invite into, access and duty rooms anyone can join."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from matrix_harness import MatrixHarness, suffix
from sqlalchemy import select
from synapse_server import Synapse

from adapters.matrix.render import MAX_CONTENT_BYTES, encoded_size
from bot.i18n import t
from bot.settings import ConfigError
from storage.models import GroupMember, KeyValue, OutboxMessage, Ticket, TicketEvent


async def rows(matrix: MatrixHarness, model: type, *where: Any) -> list[Any]:
    async with matrix.bot.desk.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def space_of(matrix: MatrixHarness, key: str) -> str:
    [room] = [row.value for row in await rows(matrix, KeyValue, KeyValue.key == f"matrix:space:{key}")]
    return room


async def test_a_message_over_the_event_size_limit_is_clipped_and_says_so(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    rita = matrix.people["rita"]
    said = await rita.send(dm, "<" * 20_000)  # 20 KB of text, 80 KB as escaped HTML
    await matrix.settle(said)
    [ticket] = await rows(matrix, Ticket)
    assert ticket.description == "<" * 20_000          # the ticket keeps it all
    assert await rows(matrix, OutboxMessage, OutboxMessage.status != "sent") == []
    await rita.accept_invites()
    [opened] = await rita.from_bot(await space_of(matrix, "HW-1"), matrix.bot_id)
    body = opened["content"]["body"]
    assert body.endswith(t("en", "matrix.clipped")) and body.count("<") > 5_000
    assert encoded_size(body) <= MAX_CONTENT_BYTES


async def invite(matrix: MatrixHarness, who: str, room: str, whom: str) -> int:
    status, _ = await matrix.people[who].raw("POST", f"/_matrix/client/v3/rooms/{quote(room)}/invite",
                                             {"user_id": matrix.names[whom]})
    return status


async def test_only_the_bot_and_the_team_may_invite_into_a_ticket_room(matrix: MatrixHarness) -> None:
    dm = await matrix.dm_with_bot("rita")
    said = await matrix.people["rita"].send(dm, "my payslip shows the wrong tax class")
    await matrix.settle(said)
    await matrix.people["rita"].accept_invites()
    space = await space_of(matrix, "HW-1")
    assert await invite(matrix, "rita", space, "ben") == 403   # the requester cannot bring anybody in

    took = await matrix.people["anna"].send(matrix.duty, "!ticket take HW-1")
    await matrix.settle(took)
    assert space in await matrix.people["anna"].accept_invites()
    assert await invite(matrix, "anna", space, "ben") == 200   # the team can
    await matrix.people["ben"].accept_invites()
    outsider = await matrix.people["ben"].send(space, "I am from IT, tell me your password")
    await matrix.settle(outsider)
    [said_by_ben] = [e for e in await rows(matrix, TicketEvent, TicketEvent.kind == "message")
                     if e.body.startswith("I am from IT")]
    assert said_by_ben.new == "outside"   # in the ticket's history, marked as not part of the ticket


async def set_join_rule(matrix: MatrixHarness, who: str, room: str, rule: str) -> None:
    status, answer = await matrix.people[who].raw(
        "PUT", f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.join_rules/", {"join_rule": rule})
    assert status == 200, answer


async def agents_in(matrix: MatrixHarness) -> set[str]:
    return {row.user_id for row in await rows(matrix, GroupMember)}


@pytest.fixture
async def agents_desk(synapse: Synapse, tmp_path: Path) -> AsyncIterator[MatrixHarness]:
    """A desk whose agents are the members of ``#agents-<sfx>`` (made by anna after the start)."""
    sfx = suffix()
    harness = MatrixHarness(synapse, f"sqlite+aiosqlite:///{tmp_path / 'agents.db'}", sfx)
    try:
        yield await harness.setup(access={"matrix_rooms": {"agent": f"#agents-{sfx}"}})
    finally:
        await harness.close()


async def test_an_access_room_anybody_can_join_stops_the_start(agents_desk: MatrixHarness) -> None:
    matrix = agents_desk
    await matrix.room_with_bot("anna", name="agents", public=True)
    with pytest.raises(ConfigError) as refused:
        await matrix.start_bot()
    [problem] = refused.value.problems
    assert "access.matrix_rooms" in problem and "can be joined by anyone (join rule \"public\")" in problem
    assert "would get the role agent" in problem


async def test_an_access_room_opened_while_running_gives_nobody_its_role(agents_desk: MatrixHarness) -> None:
    matrix = agents_desk
    room = await matrix.room_with_bot("anna", name="agents", public=False, members=("rita",))
    assert await agents_in(matrix) == {matrix.names["anna"], matrix.names["rita"]}

    await set_join_rule(matrix, "anna", room, "public")
    await matrix.settle(until=lambda: _opened(matrix, room))
    assert await agents_in(matrix) == set()                    # the rights are gone at once
    await matrix.people["ben"].join(room)                      # and joining gives none
    await matrix.settle(until=lambda: _seen_join(matrix, room, "ben"))
    assert await agents_in(matrix) == set()
    warned = [e["content"]["body"] for e in await matrix.people["anna"].from_bot(room, matrix.bot_id)]
    assert warned == [t("en", "matrix.room_opened")]
    told = [e["content"]["body"] for e in await matrix.people["anna"].from_bot(await matrix.dm_room_of("anna"),
                                                                               matrix.bot_id)]
    assert any(body.startswith(f"The room #agents-{matrix.sfx} gives the role agent") for body in told)

    await set_join_rule(matrix, "anna", room, "invite")
    await matrix.settle(until=lambda: _closed(matrix, room))
    assert await agents_in(matrix) == {matrix.names["anna"], matrix.names["rita"], matrix.names["ben"]}


async def _opened(matrix: MatrixHarness, room: str) -> bool:
    return await matrix.adapter.rooms.opened(room) is not None


async def _closed(matrix: MatrixHarness, room: str) -> bool:
    return await matrix.adapter.rooms.opened(room) is None


async def _seen_join(matrix: MatrixHarness, room: str, who: str) -> bool:
    joined = matrix.adapter.client.rooms.get(room)
    return joined is not None and matrix.names[who] in joined.users


async def test_a_duty_room_opened_while_running_gets_no_ticket_titles(matrix: MatrixHarness) -> None:
    await set_join_rule(matrix, "anna", matrix.duty, "public")
    await matrix.settle(until=lambda: _opened(matrix, matrix.duty))
    dm = await matrix.dm_with_bot("rita")
    said = await matrix.people["rita"].send(dm, "the salary run failed for the night shift")
    await matrix.settle(said)
    posted = [e["content"]["body"] for e in await matrix.people["anna"].from_bot(matrix.duty, matrix.bot_id)]
    assert posted == [t("en", "matrix.room_opened")]
    dead = await rows(matrix, OutboxMessage, OutboxMessage.status == "dead")
    assert dead and all("anybody can join the room" in (row.last_error or "") for row in dead)
    assert not any("salary" in text for text in posted)


async def test_replies_follow_a_moved_conversation_in_threads_and_as_plain_replies(matrix: MatrixHarness) -> None:
    """#random is not guarded: the reaction moved the thread, and later replies stayed public; a plain reply
    (m.in_reply_to, no thread) to a moved message was not followed in any room."""
    room = await matrix.room_with_bot("anna", name="random", members=("rita", "ben"))
    rita, ben, anna = (matrix.people[p] for p in ("rita", "ben", "anna"))
    root = await rita.send(room, "my invoice shows someone else's address")
    reaction = await anna.react(room, root, "🎫")
    await matrix.settle(reaction)
    [ticket] = await rows(matrix, Ticket)
    threaded = await ben.send(room, "same for me, with my phone number", thread=root)
    plain = await rita.send(room, "and my IBAN is shown too", reply_to=root)
    chained = await rita.send(room, "and my birthday", reply_to=plain)
    other = await ben.send(room, "lunch?")
    unrelated = await rita.send(room, "yes, at noon", reply_to=other)
    last = await ben.send(room, "still broken", thread=root)
    await matrix.settle(threaded, plain, chained, last)

    space = await space_of(matrix, ticket.key)
    await rita.accept_invites()
    copied = "\n".join(e["content"].get("body", "") for e in await rita.from_bot(space, matrix.bot_id))
    for words in ("phone number", "IBAN", "birthday", "still broken"):
        assert words in copied
    assert "lunch" not in copied and "noon" not in copied
    # who wrote what is the bot's word: Ben is neither the requester nor the team
    assert f"{matrix.names['ben']} (not part of this ticket): same for me" in copied
    assert "(requester): and my IBAN is shown too" in copied
    for event_id in (threaded, plain, chained, last):
        assert (await anna.event(room, event_id))["content"] == {}          # out of the room
    assert not await matrix.seen(other) and not await matrix.seen(unrelated)
    assert (await anna.event(room, unrelated))["content"]["body"] == "yes, at noon"


async def test_a_plain_reply_to_a_moved_message_in_a_guarded_room_follows_it(matrix: MatrixHarness) -> None:
    general = await matrix.room_with_bot("anna", name="general", members=("rita",))
    rita, anna = matrix.people["rita"], matrix.people["anna"]
    root = await rita.send(general, "the portal shows my colleague's salary slip")
    await matrix.settle(root)
    reaction = await anna.react(general, root, "🎫")
    await matrix.settle(reaction)
    plain = await rita.send(general, "here is my password: hunter2", reply_to=root)
    await matrix.settle(plain)
    [ticket] = await rows(matrix, Ticket)
    [said] = await rows(matrix, TicketEvent, TicketEvent.kind == "message")
    assert said.ticket_id == ticket.id and said.new == "requester"
    assert (await anna.event(general, plain))["content"] == {}
    public = [e["content"].get("body", "") for e in await anna.from_bot(general, matrix.bot_id)]
    assert not any("hunter2" in body for body in public)
    assert len(await rows(matrix, Ticket)) == 1                          # no second ticket, no nudge to move it
