"""`dutydesk run` replicas as real processes for the HA tests, and a duty window that is on now."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parents[2]
WAIT = 90.0  # an upper bound for a replica's start-up or a state to be reached, never a measurement


def duty_now(now: datetime) -> tuple[str, str]:
    """(desk time zone, duty window) such that duty runs now and for two hours: the window started at
    this minute, on the wall clock of a fixed-offset zone where it is about noon (so the window never
    crosses midnight, whenever the test runs). The handover slot (the window's start) is within its
    catch-up grace, the digest slots follow every ``duty.digest.every`` from the start."""
    offset = 12 - now.astimezone(UTC).hour
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    local = (now + timedelta(hours=offset)).replace(second=0, microsecond=0)
    end = local + timedelta(hours=2)
    return zone, f"mon-sun {local:%H:%M}-{end:%H:%M}"


class Replica:
    """One `dutydesk run` process; its stderr is collected line by line (so the pipe never fills)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, config: Path, env: dict[str, str]) -> Replica:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(config), cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT), "DUTYDESK_LOG_LEVEL": "INFO", **env},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        return cls(name, process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def holder(self) -> str:
        """Its name in ``leases.holder`` and ``job_runs.claimed_by`` (bot/infra/leader.py, ``replica_name``)."""
        return f"{socket.gethostname()}-{self.pid}"[:64]

    @property
    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    async def wait_for_line(self, needle: str) -> str:
        async def found() -> str:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                assert self.process.returncode is None, f"replica {self.name} ended:\n{self.log}"
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(found(), WAIT)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no lease release, whatever was in flight is cut off."""
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._reader

    async def stop(self) -> int:
        """SIGTERM and wait for the clean shutdown; the exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), WAIT)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await self._reader
        return int(self.process.returncode or 0)


class Database:
    """Reads the replicas' shared database (the tests assert on what is stored there)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)

    async def rows(self, model: type, *where: Any, order: Any = None) -> list[Any]:
        async with self.sessions() as session:
            stmt = select(model).where(*where)
            if order is not None:
                stmt = stmt.order_by(order)
            return list((await session.scalars(stmt)).all())

    async def until(self, what: str, check: Any, *, every: float = 0.2) -> Any:
        """Polls ``await check()`` until it is truthy (its value is returned); fails after ``WAIT``."""
        async def poll() -> Any:
            while not (value := await check()):
                await asyncio.sleep(every)
            return value

        try:
            return await asyncio.wait_for(poll(), WAIT)
        except TimeoutError:
            raise AssertionError(f"not reached: {what}") from None

    async def close(self) -> None:
        await self.engine.dispose()
