"""The duty channel shows ticket titles: a public duty room stops the start with a clear reason."""

from __future__ import annotations

import pytest

from adapters.matrix.runtime import refuse_public_duty_rooms
from bot.settings import ConfigError


async def test_private_duty_room_is_accepted_and_public_one_refused(matrix) -> None:
    await refuse_public_duty_rooms(matrix.settings, matrix.adapter)  # the harness's duty room is invite-only
    await matrix.room_with_bot("anna", name="opendesk", public=True)
    channels = matrix.settings.channels.model_copy(update={"duty": [f"#opendesk-{matrix.sfx}"]})
    settings = matrix.settings.model_copy(update={"channels": channels})
    with pytest.raises(ConfigError) as refused:
        await refuse_public_duty_rooms(settings, matrix.adapter)
    (problem,) = refused.value.problems
    assert f"#opendesk-{matrix.sfx} is public" in problem and "invite-only" in problem
