"""One way to run a forever-loop: a pass, a wait, again; a failed pass is logged and tried again later.

The loops of a running bot (outbox sender, timers, inbox recovery, database maintenance, the Matrix
sync) differ only in what one pass does and how long they wait after it. A failure is logged as the
event "<name> failed" (the name says the component: "outbox: delivery pass") with the fields ``error``
(the exception's type name), ``failures`` (in a row) and ``retry_in`` (seconds), never with the
exception's text, which may quote a message; the traceback goes to DEBUG.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import structlog

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class Backoff:
    """After a failed pass wait ``first`` seconds, doubling with each failure in a row up to ``most``."""

    first: float
    most: float

    def after(self, failures: int) -> float:
        return min(self.first * 2 ** max(failures - 1, 0), self.most)


async def supervise(
    name: str,
    one_pass: Callable[[], Awaitable[float | None]],
    *,
    every: float,
    backoff: Backoff | None = None,
    first_wait: float = 0.0,
    wake: asyncio.Event | None = None,
    retry_after: Callable[[Exception], float | None] = lambda _exc: None,
) -> NoReturn:
    """Runs ``one_pass`` until cancelled.

    After a pass it waits what the pass returned (seconds), or ``every`` when it returned None. After a
    failed pass it waits ``backoff`` (``every`` without one), or longer when ``retry_after`` reads a longer
    wait from the exception (a platform's rate limit). ``wake``, when set, cuts any wait short. The first
    pass runs after ``first_wait``.
    """
    failures = 0
    wait = first_wait
    while True:
        await _pause(wait, wake)
        try:
            outcome = await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            wait = backoff.after(failures) if backoff is not None else every
            wait = max(wait, retry_after(exc) or 0.0)
            log.warning(f"{name} failed", error=type(exc).__name__, failures=failures, retry_in=round(wait, 3))
            log.debug(f"{name} failed", exc_info=True)
            continue
        if failures:
            log.info(f"{name} works again", failures=failures)
        failures = 0
        wait = every if outcome is None else outcome


async def _pause(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        return
    if seconds > 0 and not wake.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=seconds)
    wake.clear()


async def stop(task: asyncio.Task[Any], *, again_after: float = 1.0) -> None:
    """Cancels a loop's ``task`` and waits until it has ended; an exception other than the cancellation is raised.

    It cancels again every ``again_after`` seconds while the task runs on: on Python 3.11 ``asyncio.wait_for`` drops
    a cancellation that arrives together with the result it waits for, and the loop then went on into its next
    wait (the mail intake into an IMAP IDLE of half an hour, and the stop waited for it)."""
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=again_after)
        if not task.done():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
