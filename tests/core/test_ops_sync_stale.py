"""``/healthz`` names the platforms whose sync loop has not completed a sync for a while (``sync_stale``):
a homeserver that is away, or a loop that hangs. It stays a 200: restarting the bot brings no
homeserver back, and the sync catches up from its stored token (tests/adapters/matrix/test_matrix_restart.py
on a real Synapse)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.infra import ops


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_sync_older_than_the_limit_is_reported_stale(make_harness) -> None:
    desk = await make_harness()
    platform = next(iter(desk.bot.adapters)).value
    desk.bot.health.synced(platform, desk.clock.now())
    # a platform this bot does not run is none of its business
    desk.bot.health.synced("elsewhere", desk.clock.now() - timedelta(days=1))

    status, body = await ops.health(desk.bot)
    assert (status, body["status"], body["sync_stale"]) == (200, "ok", [])
    assert body["last_sync"][platform] == desk.clock.now().isoformat()

    desk.clock.advance(ops.SYNC_STALE_AFTER)
    assert (await ops.health(desk.bot))[1]["sync_stale"] == []   # at the limit: not yet
    desk.clock.advance(timedelta(seconds=1))
    status, body = await ops.health(desk.bot)
    assert (status, body["status"], body["sync_stale"]) == (200, "ok", [platform])

    desk.bot.health.synced(platform, desk.clock.now())  # the loop is back
    assert (await ops.health(desk.bot))[1]["sync_stale"] == []
