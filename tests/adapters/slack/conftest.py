"""Fixtures for the Slack adapter: a fake Slack on loopback and the whole bot behind the real
slack-bolt app, served by aiohttp on 127.0.0.1 (port 0), on a fresh SQLite database per test.

Requests are signed like Slack signs them and sent over real HTTP; the bot's Web API calls go to
the fake over real HTTP too. Nothing runs in the background: ``settle()`` waits for the events
in processing and delivers the outbox, so tests never wait on timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_fake import FakeSlack
from slack_harness import PATH, START, Factory, SlackHarness, slack_settings

from adapters.slack.adapter import SlackAdapter
from adapters.slack.ratelimit import ChannelRateLimiter
from adapters.slack.runtime import SlackRuntime
from bot.app import Bot, build
from bot.core.clock import VirtualClock


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_slack(fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Factory]:
    """``await make_slack(user_token=False, limiter=None, rate_limit_retries=0, **config_sections)``."""
    made: list[tuple[SlackRuntime, SlackAdapter, Bot, aiohttp.ClientSession]] = []

    async def factory(*, user_token: bool = False, limiter: ChannelRateLimiter | None = None,
                      rate_limit_retries: int = 0, **sections: Any) -> SlackHarness:
        settings = slack_settings(fake_slack.api_url, user_token=user_token, **sections)
        clock = VirtualClock(START)
        adapter = SlackAdapter(settings, clock, limiter=limiter or ChannelRateLimiter(rate=1000, burst=1000),
                               rate_limit_retries=rate_limit_retries)
        await adapter.start()
        runtime = SlackRuntime(adapter)
        bot = await build(settings, clock, [runtime], db_url=f"sqlite+aiosqlite:///{tmp_path / 'dutydesk.db'}")
        runtime.bind(bot.ports)  # the recovery loop is the bot's background's, which does not run here
        port = await runtime.start_http("127.0.0.1", 0, PATH)
        http = aiohttp.ClientSession()
        made.append((runtime, adapter, bot, http))
        return SlackHarness(fake_slack, bot, adapter, runtime, clock, f"http://127.0.0.1:{port}{PATH}", http)

    yield factory
    for runtime, adapter, bot, http in made:
        await http.close()
        await runtime.stop()
        await adapter.close()
        await bot.close()


@pytest.fixture
async def slack(make_slack: Factory) -> SlackHarness:
    return await make_slack()
