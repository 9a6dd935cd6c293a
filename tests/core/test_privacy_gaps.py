"""Privacy rule gaps (issue #15) through the simulator: problem text addressed to the bot in a guarded channel
is moved like any other, and so is a reply addressed to the bot inside a thread that was moved already."""

from __future__ import annotations

from workflow_sim import run

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
