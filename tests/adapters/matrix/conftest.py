"""Fixtures for the Matrix adapter: one real Synapse per test session (installed into its own cached
virtual environment on first use, see synapse_server.py) and the whole bot on it, on a fresh SQLite
database per test, with people who have their own matrix-nio clients.

With ``CI=true`` these tests must run: a Synapse that cannot be installed or started fails them.
Elsewhere they are skipped with the reason when Synapse cannot be installed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from matrix_harness import MatrixHarness, suffix
from synapse_server import Synapse, SynapseUnavailable, start_synapse


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    try:
        server = start_synapse(tmp_path_factory.mktemp("synapse"))
    except SynapseUnavailable as exc:
        if _in_ci():
            pytest.fail(f"{exc} (CI=true: the Synapse tests must run)", pytrace=False)
        pytest.skip(f"no Synapse homeserver for the Matrix tests: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def make_matrix(synapse: Synapse, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_matrix(**config_sections)``: a harness with fresh users (a new suffix per harness)."""
    made: list[MatrixHarness] = []

    async def factory(**sections: Any) -> MatrixHarness:
        harness = MatrixHarness(synapse, f"sqlite+aiosqlite:///{tmp_path / f'dutydesk{len(made)}.db'}", suffix())
        made.append(harness)
        return await harness.setup(**sections)

    yield factory
    for harness in made:
        await harness.close()


@pytest.fixture
async def matrix(make_matrix: Callable[..., Any]) -> MatrixHarness:
    return await make_matrix()
