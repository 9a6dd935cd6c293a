"""`dutydesk run` serves any set of runtimes one way (bot.app.serve, the Runtime protocol of
bot/core/ports.py), shown with the console: start, the background, one signal handling, stop, close."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from pathlib import Path

from sqlalchemy import select

from adapters.console import ConsoleAdapter
from bot.app import serve
from bot.core.clock import VirtualClock
from bot.core.ports import Ports
from storage.db import make_engine, make_sessionmaker
from storage.models import Ticket
from tests.conftest import START, desk_settings


class Recorded(ConsoleAdapter):
    """The console, noting the calls of the protocol and what ran meanwhile."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []
        self.running: set[str] = set()
        self.ports: Ports | None = None

    async def start(self, ports: Ports) -> None:
        self.calls.append("start")
        self.ports = ports
        await super().start(ports)

    async def stop(self) -> None:
        self.calls.append("stop")
        # the bot's background is still running while the intake stops
        self.running = {task.get_name() for task in asyncio.all_tasks()}
        await super().stop()

    async def close(self) -> None:
        self.calls.append("close")
        await super().close()


def settings_for(tmp_path: Path, **ha: str):
    return desk_settings(storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"},
                         **({"ha": ha} if ha else {}))


async def tickets(tmp_path: Path) -> list[str]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'run.db'}")
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.scalars(select(Ticket.title).order_by(Ticket.id))).all())
    finally:
        await engine.dispose()


async def test_the_console_runs_as_a_runtime_until_its_input_ends(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Recorded(VirtualClock(START), "rita", "en", out=out,
                       stdin=io.StringIO("/ticket printer on fire\n/ticket scanner jammed\n"))
    assert await serve(settings_for(tmp_path), console.clock, [console]) == 0
    assert console.calls == ["start", "stop", "close"]
    assert "HW-1" in out.getvalue() and "HW-2" in out.getvalue()   # each answered before the next prompt
    assert await tickets(tmp_path) == ["printer on fire", "scanner jammed"]


async def test_sigterm_stops_every_runtime_once_through_one_handler(tmp_path: Path) -> None:
    read, write = os.pipe()
    stdin = os.fdopen(read, "r")   # a terminal nobody types into: only the signal ends the run
    console = Recorded(VirtualClock(START), "rita", "en", out=io.StringIO(), stdin=stdin)
    settings = settings_for(tmp_path, recover_every="7s", recover_after="3m")
    served = asyncio.create_task(serve(settings, console.clock, [console]))
    try:
        while console.ports is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)   # the background is up
        handler = asyncio.get_running_loop()._signal_handlers.get(signal.SIGTERM)  # type: ignore[attr-defined]
        assert handler is not None   # the one handler, installed by serve
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(served, 60) == 0
    finally:
        os.close(write)
        stdin.close()
    assert console.calls == ["start", "stop", "close"]
    # while the intake stopped, the core's loops ran: one recovery loop (the inbox's, as [ha] times it)
    assert {"outbox", "timers", "recover", "maintenance"} <= console.running
    assert sorted(name for name in console.running if "recover" in name) == ["recover"]
    assert signal.SIGTERM not in asyncio.get_running_loop()._signal_handlers  # type: ignore[attr-defined]


async def test_a_runtime_that_fails_to_start_leaves_nothing_running(tmp_path: Path) -> None:
    class Refused(Recorded):
        async def start(self, ports: Ports) -> None:
            self.calls.append("start")
            raise RuntimeError("the platform refused the token")

    first = Recorded(VirtualClock(START), "rita", "en", out=io.StringIO(), stdin=io.StringIO(""))
    second = Refused(VirtualClock(START), "ben", "en", out=io.StringIO(), stdin=io.StringIO(""))
    try:
        await serve(settings_for(tmp_path), first.clock, [first, second])
    except RuntimeError as exc:
        assert "refused" in str(exc)
    else:
        raise AssertionError("serve should fail")
    assert first.calls == ["start", "stop", "close"]
    assert second.calls == ["start", "close"]
