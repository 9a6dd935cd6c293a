"""``bot.infra.supervise.stop``: a loop's task ends even when a cancellation is lost inside it, as Python 3.11's
``asyncio.wait_for`` loses one that arrives together with the result it waits for (the mail intake then went on into
a new IMAP IDLE, and the bot's stop waited half an hour)."""

from __future__ import annotations

import asyncio

import pytest

from bot.infra.supervise import stop


async def test_a_task_that_loses_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    lost = 0

    async def loop() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(3600)   # its wait for the next pass
            except asyncio.CancelledError:
                if lost == 0:  # the first cancellation vanishes, as it does in wait_for
                    lost += 1
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    continue
                raise

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop(task, again_after=0.01), 5)
    assert task.cancelled() and lost == 1


async def test_a_task_that_ends_with_an_error_raises_it() -> None:
    started = asyncio.Event()

    async def failing() -> None:
        try:
            started.set()
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("broken on the way out")

    task = asyncio.create_task(failing())
    await started.wait()
    with pytest.raises(RuntimeError, match="broken on the way out"):
        await stop(task)


async def test_a_finished_task_is_left_as_it_is() -> None:
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await stop(task)
    assert task.done() and not task.cancelled()
