"""The command line against hostile input and a careless operator (issue #15), each through a real process:
one line and exit 2 for what is wrong, never a traceback or a hang; nothing of a message in the logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-correct-horse"


def dutydesk(*args: str, cwd: Path = ROOT, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    # a clean environment apart from what Python needs, so no DUTYDESK_ variable leaks in
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "HOME": str(cwd), **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=timeout)


def test_debug_logging_carries_no_message_content(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({
        "config": {"desk": {"ticket_prefix": "HW"}, "people": {"anna": {"name": "Anna"}},
                   "channels": {"duty": ["#support-duty"]}},
        "platform": "slack", "start": "2026-11-24T15:50:00+01:00",
        "steps": [{"user": "rita", "dm": True, "text": f"/ticket my password {SECRET} does not work"},
                  {"after": "1m", "user": "anna", "dm": True, "text": f"/ticket note HW-1 she said {SECRET}"}],
    }))
    result = dutydesk("simulate", str(scenario), DUTYDESK_LOG_LEVEL="DEBUG")
    assert result.returncode == 0, result.stderr[-2000:]
    assert SECRET in result.stdout            # the transcript shows it; the log must not
    assert SECRET not in result.stderr
