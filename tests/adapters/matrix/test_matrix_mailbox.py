"""The Head of Mailbox on a real Synapse (#18): the mailbox holder's message has numbered options, "3" in reply
marks the mail answered, and the message is edited in place without its options."""

from __future__ import annotations

from typing import Any

from matrix_harness import MatrixHarness
from sqlalchemy import select

from bot.core.types import ChannelRef, InboundEvent, Platform, UserRef
from storage.models import HeldMail, Ticket

# Anna alone on the rota holds the mailbox all day; Carla is the colleague the mail is for
DUTY = {"window": "mon-sun 00:00-24:00", "roles": ["phone", "mailbox"], "members": ["anna"], "anchor": "2026-11-23"}


async def rows(matrix: MatrixHarness, model: type, *where: Any) -> list[Any]:
    async with matrix.bot.desk.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def test_the_holder_answers_the_numbered_options_and_the_message_is_edited(make_matrix: Any) -> None:
    matrix: MatrixHarness = await make_matrix(duty=DUTY)
    sender = UserRef(platform=Platform.MAIL, user_id="maria@example.com", display_name="Maria")
    # a mail as the mail runtime hands it in (tests/adapters/mail proves that part on Dovecot)
    await matrix.bot.handle(InboundEvent(
        kind="dm", event_id="<m1@example.com>", actor=sender, text="Offer\n\nHallo Carla,\nthe offer, please.",
        channel=ChannelRef(platform=Platform.MAIL, channel_id="maria@example.com", thread_id="<m1@example.com>",
                           is_direct=True),
        received_at=matrix.clock.now(), recipients=("support@example.org",)))
    await matrix.bot.outbox.drain()
    anna = matrix.people["anna"]
    dm = await matrix.dm_room_of("anna")
    [card] = [e for e in await anna.from_bot(dm, matrix.bot_id) if "Mail M1" in e["content"]["body"]]
    body = card["content"]["body"]
    assert "1️⃣ Ticket for Carla" in body and "2️⃣ Add to a ticket" in body
    assert "3️⃣ Answered (or type !mailbox answered M1)" in body and "4️⃣ Forward to Carla" in body
    pressed = await anna.send(dm, "3", reply_to=card["event_id"])
    await matrix.settle(pressed)
    [held] = await rows(matrix, HeldMail)
    assert held.state == "answered" and await rows(matrix, Ticket) == []
    await matrix.bot.outbox.drain()
    [edit] = [e for e in await anna.from_bot(dm, matrix.bot_id)
              if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"]
    assert edit["content"]["m.relates_to"]["event_id"] == card["event_id"]
    new = edit["content"]["m.new_content"]["body"]
    assert "M1: marked as answered, no ticket (Anna," in new and "1️⃣" not in new
