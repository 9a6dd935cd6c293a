"""Attacks on the Matrix side (issue #15) on a real Synapse: messages the homeserver would refuse,
ticket rooms others can invite into, access and duty rooms anyone can join."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from matrix_harness import MatrixHarness
from sqlalchemy import select

from adapters.matrix.render import MAX_CONTENT_BYTES, encoded_size
from bot.i18n import t
from storage.models import KeyValue, OutboxMessage, Ticket, TicketEvent


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
