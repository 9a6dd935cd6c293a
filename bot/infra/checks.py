"""``dutydesk check --online``: everything a start needs, checked at once against the real services, each finding
with what to fix (docs/admin.md, "Checking a desk").

Each part of the desk contributes its checks through one small interface, :class:`Probe`: the database here,
the platforms in their adapters (``adapters/slack/check.py``, ``adapters/matrix/check.py`` …), put together by the
CLI. A probe only reads: it never posts, joins, creates, migrates or logs in on the bot's own device.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.settings import Settings
from storage import migrate
from storage.db import make_engine

PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Finding:
    """One thing checked: ``ok``, or what is wrong and what to do about it."""

    area: str       # "database", "slack", "matrix", "mail"
    subject: str    # what was checked: "token", "scopes", "#support-duty" …
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.area}: {self.subject}: {self.text}"


def passed(area: str, subject: str, text: str) -> Finding:
    return Finding(area, subject, True, text)


def failed(area: str, subject: str, text: str) -> Finding:
    return Finding(area, subject, False, text)


class Probe(Protocol):
    """The checks of one part of the desk."""

    area: str

    def applies(self, settings: Settings) -> bool:
        """Whether this desk uses that part (a platform without its token is not checked)."""
        ...

    async def run(self, settings: Settings) -> list[Finding]:
        """Checks everything, returns a finding per thing checked; raises nothing an operator can fix."""
        ...


async def run_probes(settings: Settings, probes: Sequence[Probe], *, timeout: float = PROBE_TIMEOUT
                     ) -> list[Finding]:
    """Runs the probes that apply, side by side; a probe that hangs or breaks is a failing finding of its own."""
    chosen = [probe for probe in probes if probe.applies(settings)]

    async def guarded(probe: Probe) -> list[Finding]:
        try:
            return await asyncio.wait_for(probe.run(settings), timeout)
        except TimeoutError:
            return [failed(probe.area, "answer", f"no answer within {timeout:.0f} s; check the network between this "
                                                 "host and the service")]
        except Exception as exc:   # a bug in a check must not hide the other checks' findings
            return [failed(probe.area, "check", f"the check itself failed ({type(exc).__name__}: {exc})")]

    results = await asyncio.gather(*(guarded(probe) for probe in chosen))
    return [finding for findings in results for finding in findings]


def report(findings: Sequence[Finding]) -> int:
    """Prints one line per finding and the outcome; the exit status: 0 when all passed, else 1."""
    for finding in findings:
        print(finding.line())
    failures = sum(not f.ok for f in findings)
    if failures:
        print(f"{failures} check{'s' if failures != 1 else ''} failed", file=sys.stderr)
        return 1
    print(f"all {len(findings)} checks passed" if len(findings) != 1 else "the check passed")
    return 0


class DatabaseProbe:
    """The database answers, and its schema is the one this release needs (or SQLite, which ``run`` upgrades)."""

    area = "database"

    def applies(self, settings: Settings) -> bool:
        return True

    async def run(self, settings: Settings) -> list[Finding]:
        url = make_url(settings.storage.url)
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            file = Path(url.database)
            if not file.exists():  # connecting would create it: a check changes nothing
                where = file.parent if file.parent.exists() else None
                if where is None or not _writable(where):
                    return [failed(self.area, "file", f"{file} does not exist and {file.parent} is not a writable "
                                                      "directory; create it for the bot's user")]
                return [passed(self.area, "file", f"{file} does not exist yet; `dutydesk run` creates and migrates it")]
        engine = make_engine(settings.storage.url)
        try:
            async with engine.connect() as conn:
                server = await _server_version(conn)
            current = await migrate.current_revision(engine)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            return [failed(self.area, "connection", f"cannot reach {shown}: {describe(exc)}; check [storage] url "
                                                    "(or DUTYDESK_STORAGE__URL) and that the server runs")]
        finally:
            await engine.dispose()
        findings = [passed(self.area, "connection", f"{shown} answers ({server})")]
        findings.append(self._schema(current, sqlite=url.get_backend_name() == "sqlite"))
        return findings

    def _schema(self, current: str | None, *, sqlite: bool) -> Finding:
        head = migrate.head_revision()
        try:
            steps = migrate.pending(current)
        except migrate.SchemaAhead as exc:
            return failed(self.area, "schema", str(exc))
        if not steps:
            return passed(self.area, "schema", f"at revision {head}, the one this release needs")
        if sqlite:
            return passed(self.area, "schema", f"at revision {current or 'none'}; `dutydesk run` upgrades it to "
                                               f"{head} at start (back it up first)")
        return failed(self.area, "schema", f"at revision {current or 'none (empty)'}, this release needs {head}: run "
                                           "`dutydesk db upgrade --config FILE` before starting")


async def _server_version(conn) -> str:
    if conn.dialect.name == "postgresql":
        return "PostgreSQL " + str(await conn.scalar(text("SHOW server_version"))).split()[0]
    return "SQLite " + str(await conn.scalar(text("SELECT sqlite_version()")))


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def describe(exc: BaseException) -> str:
    """The first line of what a database driver said, without SQLAlchemy's background links."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
