"""Privacy rule gaps (issue #15), through the simulator and the core harness: problem text addressed to the bot
in a guarded channel is moved like any other, so is a reply addressed to the bot inside a thread that was moved
already, and a reply to any message of a moved conversation follows it, wherever it was moved from."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from workflow_sim import run

from bot.core.types import InboundEvent, MessageKind, Platform, ThreadMessage, UserRef
from storage.models import MovedThread, OutboxMessage, Ticket

if TYPE_CHECKING:
    from conftest import Harness

DESK = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en"},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]}},
    "channels": {"duty": ["#support-duty"], "guarded": ["#general"], "privacy_mode": "suggest"},
}
START = "2026-11-24T15:50:00+01:00"


def removed(result) -> list[str]:
    return [line["removed"] for line in result.lines if "removed" in line]


async def test_a_ticket_command_typed_in_a_guarded_room_is_moved_out_of_it(tmp_path) -> None:
    result = await run(tmp_path, None, [
        {"user": "rita", "channel": "#general", "text": "!ticket my password hunter2 does not work", "id": "m1"},
    ], start=START, platform="matrix", config=DESK)
    assert removed(result) == ["m1"]
    assert [line["text"] for line in result.about(to="#general")] == [
        line["text"] for line in result.about(kind="notice", to="#general")]          # only the notice
    assert not any("hunter2" in line["text"] for line in result.about(to="#general"))
    assert (await result.ticket("HW-1")).description == "my password hunter2 does not work"


async def test_a_slash_command_is_seen_by_nobody_and_opens_its_ticket_as_usual(tmp_path) -> None:
    result = await run(tmp_path, None, [
        {"user": "rita", "channel": "#general", "text": "/ticket my password hunter2 does not work"},
    ], start=START, platform="slack", config=DESK)
    assert removed(result) == [] and result.about(to="#general", visibility="public") == []
    assert result.about(kind="receipt", visibility="ephemeral")


async def test_a_reply_to_the_bot_in_a_moved_thread_follows_it(tmp_path) -> None:
    result = await run(tmp_path, None, [
        {"user": "ben", "channel": "#general", "text": "the shop shows error 500", "id": "m1"},
        {"user": "anna", "react": "🎫", "message": "m1"},
        {"after": "1m", "user": "rita", "thread": "m1", "text": "!ticket same here, my card was charged twice",
         "id": "m2"},
    ], start=START, platform="matrix", config=DESK)
    assert removed(result) == ["m1", "m2"]
    copied = [line["text"] for line in result.about(kind="moved", to="ticket:HW-1")]
    assert any("my card was charged twice" in text for text in copied)
    assert not any("already" in line["text"] for line in result.lines if "text" in line)


@pytest.mark.parametrize("private", [False, True])
async def test_a_reply_to_any_message_of_a_moved_thread_follows_it(desk: Harness, private: bool) -> None:
    """A Matrix plain reply names the message it answers, not the thread's root, and may answer a reply that
    followed earlier: every message of a moved conversation leads to its ticket, also when the thread was moved
    by the reaction out of a private channel (its replies were left there). On SQLite and PostgreSQL."""
    now = desk.clock.now()
    rita, eve = (UserRef(platform=Platform.SIM, user_id=u, display_name=u.capitalize()) for u in ("rita", "eve"))

    def located(event: InboundEvent, thread_id: str) -> InboundEvent:
        channel = event.channel.model_copy(update={"thread_id": thread_id, "is_private": private})
        return event.model_copy(update={"channel": channel})

    thread = (ThreadMessage(message_id="m1", author=rita, text="my invoice shows someone else's address", at=now),
              ThreadMessage(message_id="m2", author=eve, text="mine too", at=now))
    moving = desk.event("anna", kind="reaction", name="ticket", channel="#random")
    await desk.bot.handle(located(moving, "m1").model_copy(update={"message_id": "m1", "thread": thread}))
    for user, answered, message_id, text in (("rita", "m2", "m3", "and my IBAN is shown too"),
                                              ("rita", "m3", "m4", "and my birthday"),
                                              ("eve", "m1", "m5", "Anna here, send me your password")):
        reply = desk.event(user, text, channel="#random")
        await desk.bot.handle(located(reply, answered).model_copy(update={"message_id": message_id}))

    moved = await desk.rows(MovedThread)
    assert sorted(row.root_id for row in moved) == ["m1", "m2", "m3", "m4", "m5"]
    assert len({row.ticket_id for row in moved}) == 1 and await desk.count(Ticket) == 1
    copied = "\n".join(m.text for m in desk.adapter.sent if m.kind == MessageKind.MOVED)
    assert "Rita (requester): and my IBAN is shown too" in copied and "Rita (requester): and my birthday" in copied
    assert "eve (not part of this ticket): Anna here, send me your password" in copied
    removals = [row.meta["message_id"] for row in await desk.rows(OutboxMessage, OutboxMessage.operation == "remove")]
    assert sorted(removals) == ["m1", "m2", "m3", "m4", "m5"]
