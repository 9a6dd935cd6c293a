"""Fixtures for the replica tests: real `dutydesk run` processes on one PostgreSQL database.

The fake Slack Web API and the real Synapse come from the adapter tests' helpers
(tests/adapters/slack/slack_fake.py, tests/adapters/matrix/synapse_server.py). The database is
the session's PostgreSQL test database with emptied tables (tests/conftest.py, ``db_url``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for helpers in ("slack", "matrix"):
    path = str(HERE.parent / "adapters" / helpers)
    if path not in sys.path:
        sys.path.insert(0, path)

from slack_fake import FakeSlack  # noqa: E402
from synapse_server import Synapse, SynapseUnavailable, start_synapse  # noqa: E402


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    try:
        server = start_synapse(tmp_path_factory.mktemp("synapse-ha"))
    except SynapseUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (CI=true: the Synapse tests must run)", pytrace=False)
        pytest.skip(f"no Synapse homeserver for the failover test: {exc}")
    try:
        yield server
    finally:
        server.stop()
