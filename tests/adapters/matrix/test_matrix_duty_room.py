"""The duty channel shows ticket titles: a duty room anybody can join stops the start with a clear reason."""

from __future__ import annotations

import dataclasses

import pytest

from adapters.matrix.groups import MatrixGroups
from adapters.matrix.guard import RoomGuard
from bot.settings import ConfigError


def guard_for(matrix, settings) -> RoomGuard:
    ports = dataclasses.replace(matrix.bot.ports, settings=settings)
    groups = MatrixGroups(matrix.adapter.client, matrix.adapter.rooms, ports, matrix.bot_id)

    async def say(_room: str, _text: str, _txn: str) -> None:
        return None

    return RoomGuard(matrix.adapter.client, matrix.adapter.rooms, groups, settings, say, lambda _user: "en")


async def test_private_duty_room_is_accepted_and_public_one_refused(matrix) -> None:
    await guard_for(matrix, matrix.settings).refuse_joinable()  # the harness's duty room is invite-only
    await matrix.room_with_bot("anna", name="opendesk", public=True)
    channels = matrix.settings.channels.model_copy(update={"duty": [f"#opendesk-{matrix.sfx}"]})
    settings = matrix.settings.model_copy(update={"channels": channels})
    with pytest.raises(ConfigError) as refused:
        await guard_for(matrix, settings).refuse_joinable()
    (problem,) = refused.value.problems
    assert f"#opendesk-{matrix.sfx} can be joined by anyone (join rule \"public\")" in problem
    assert "invite-only" in problem
