"""Fixtures for the mail adapter: a real Dovecot (IMAP) and a real SMTP server (aiosmtpd) on loopback, and the
whole bot reading and sending through them on a fresh SQLite database.

With ``CI=true`` these tests must run (scripts/test installs dovecot-imapd); elsewhere they are skipped with the
reason when Dovecot is missing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mail_harness import MailHarness
from mail_servers import Dovecot, MailServersUnavailable, SmtpSink


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _start(server: Dovecot) -> Dovecot:
    try:
        return server.start()
    except MailServersUnavailable as exc:
        server.remove()
        if _in_ci():
            pytest.fail(f"{exc} (CI=true: the mail tests must run)", pytrace=False)
        pytest.skip(f"no Dovecot for the mail tests: {exc}")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = _start(Dovecot())
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def dovecot_no_idle() -> Iterator[Dovecot]:
    server = _start(Dovecot(idle=False))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def mail(dovecot: Dovecot, smtp: SmtpSink, tmp_path: Path) -> AsyncIterator[MailHarness]:
    harness = MailHarness(dovecot, smtp, f"sqlite+aiosqlite:///{tmp_path / 'dutydesk.db'}")
    try:
        yield harness
    finally:
        await harness.close()
