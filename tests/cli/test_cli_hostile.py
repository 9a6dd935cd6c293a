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


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_check_config_on_hostile_files(tmp_path: Path) -> None:
    nested = tmp_path / "nested.toml"
    nested.write_text("a = " + "[" * 100_000 + "1" + "]" * 100_000 + "\n")
    assert "nested too deeply" in one_line(dutydesk("check-config", "--config", str(nested)))
    utf16 = tmp_path / "utf16.toml"
    utf16.write_bytes('[desk]\nname = "HW"\n'.encode("utf-16"))
    assert "not UTF-8 text" in one_line(dutydesk("check-config", "--config", str(utf16)))
    assert "not a regular file" in one_line(dutydesk("check-config", "--config", "/dev/zero", timeout=30))
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * 2_000_000 + "\n")
    assert "larger than 1 MB" in one_line(dutydesk("check-config", "--config", str(huge)))


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    config = tmp_path / "dutydesk.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n')
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({"config": {"desk": {"ticket_prefix": "HW"}}, "platform": "slack",
                                        "start": "2026-11-24T15:50:00+01:00",
                                        "steps": [{"user": "rita", "dm": True, "text": "hello"}]}))
    for args in (("db", "upgrade", "--db", url), ("run", "--config", str(config)),
                 ("simulate", str(scenario), "--db", url)):
        assert "cannot reach the database" in one_line(dutydesk(*args), code=1)


def test_an_sla_deadline_in_year_9999_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "dutydesk.toml"
    config.write_text('[calendars.office]\ntimezone = "Europe/Berlin"\nhours = ["mon-fri 08:00-16:00"]\n'
                      '[sla.p]\ncalendar = "office"\ntargets.D = { within = "30d" }\n')
    for at in ("9999-12-31T23:59", "0001-01-01T00:00"):
        line = one_line(dutydesk("sla", "deadline", "--config", str(config), "--policy", "p", "--target", "D",
                                 "--at", at))
        assert f"--at: {at} is outside the years 1970 to 2199" in line
