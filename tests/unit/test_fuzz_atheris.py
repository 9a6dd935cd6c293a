"""Runs the coverage-guided fuzzer (tests/fuzz/atheris_inputs.py) over the command parser, the scenario
loader and the config loader for a bounded number of inputs each; skipped where atheris is not installed.
``DUTYDESK_FUZZ_RUNS`` raises the count for a longer session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HARNESS = Path(__file__).resolve().parents[1] / "fuzz" / "atheris_inputs.py"
RUNS = int(os.environ.get("DUTYDESK_FUZZ_RUNS", "3000"))


@pytest.mark.parametrize("target", ["parser", "scenario", "config"])
def test_atheris_finds_no_crash(target: str) -> None:
    result = subprocess.run([sys.executable, str(HARNESS), target, f"-runs={RUNS}", "-max_len=600"],
                            capture_output=True, text=True, timeout=120)
    crash = result.stderr[result.stderr.find("=== Uncaught"):][:3000]
    assert result.returncode == 0, f"atheris found a crash in the {target}:\n{crash}"
    assert f"Done {RUNS} runs" in result.stderr
