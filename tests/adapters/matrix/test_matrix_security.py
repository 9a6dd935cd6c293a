"""Attacks on the Matrix side (issue #15) on a real Synapse: messages the homeserver would refuse,
ticket rooms others can invite into, access and duty rooms anyone can join."""

from __future__ import annotations

from typing import Any

from matrix_harness import MatrixHarness
from sqlalchemy import select

from adapters.matrix.render import MAX_CONTENT_BYTES, encoded_size
from bot.i18n import t
from storage.models import KeyValue, OutboxMessage, Ticket


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
