"""`dutydesk run` with chat platforms: one bot, every configured adapter (Slack, Matrix or both),
the bot's background, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from bot.infra.leader import replica_name
from bot.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Runs Matrix (and Slack when its token is set too) on one bot; returns when told to stop."""
    from adapters.matrix.runtime import MatrixRuntime, connect
    from bot.app import build
    from bot.core.clock import SystemClock

    clock = SystemClock()
    matrix = await connect(settings, clock)
    slack = None
    try:
        if settings.slack_enabled:
            from adapters.slack.runtime import connect as connect_slack

            slack = await connect_slack(settings, clock)
        bot = await build(settings, clock, [a for a in (matrix, slack) if a is not None])
    except BaseException:
        await matrix.client.close()
        if slack is not None:
            await slack.close()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runtime = MatrixRuntime(bot, matrix)
    slack_runtime = None
    try:
        await runtime.prepare()
        async with bot.background():
            if slack is not None:
                from adapters.slack.runtime import SlackRuntime

                slack_runtime = SlackRuntime(bot, slack)
                if settings.slack.mode == "http":
                    await slack_runtime.start_http(settings.slack.host, settings.slack.port, settings.slack.path)
                else:
                    assert settings.slack.app_token is not None  # the config check demands it in socket mode
                    await slack_runtime.start_socket(settings.slack.app_token.get_secret_value())
            runtime.start()
            # the sync runs here only while this replica holds the device's lease (bot/infra/leader.py)
            print(f"dutydesk: running on Matrix as {matrix.user_id}{' and on Slack' if slack is not None else ''} "
                  f"(replica {replica_name()}); stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
            try:
                await stop.wait()
            finally:
                await runtime.stop()
                if slack_runtime is not None:
                    await slack_runtime.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await runtime.close()
        if slack is not None:
            await slack.close()
        await bot.close()
    return 0
