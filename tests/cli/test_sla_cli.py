"""``dutydesk sla deadline`` through a real process: every example row, --pause, --json, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[calendars.vendor]
timezone = "Europe/Berlin"
hours = ["mon-fri 08:00-16:00"]
holidays = "DE-BE"

[calendars.desk]
timezone = "Europe/Moscow"
hours = ["mon-fri 10:00-18:00"]
holidays = "RU"

[sla.vendor]
calendar = "vendor"
working_day = "hours"
targets.P1 = { within = "4h", cutoff = "12:00" }
targets.P2 = { within = "2d" }
targets.P3 = { within = "5d" }

[sla.vendor-closing]
calendar = "vendor"
working_day = "closing"
targets.P1 = { within = "4h", cutoff = "12:00" }
targets.P2 = { within = "2d" }
targets.P3 = { within = "5d" }

[sla.desk]
calendar = "desk"
working_day = "hours"
targets.fast = { within = "2h" }
targets.slow = { within = "12h" }
targets.merge = { within = "30d" }
"""

# The table of sla-examples.md; the pause row is written as --pause START/END.
ROWS = [
    ("vendor", "P1", "2026-11-24T09:15:00+01:00", [], "2026-11-24T13:15:00+01:00"),
    ("vendor", "P1", "2026-11-24T12:00:00+01:00", [], "2026-11-24T16:00:00+01:00"),
    ("vendor", "P1", "2026-11-24T12:01:00+01:00", [], "2026-11-25T12:00:00+01:00"),
    ("vendor", "P1", "2026-11-24T07:10:00+01:00", [], "2026-11-24T12:00:00+01:00"),
    ("vendor", "P1", "2026-11-27T15:30:00+01:00", [], "2026-11-30T12:00:00+01:00"),
    ("vendor", "P1", "2026-11-28T10:00:00+01:00", [], "2026-11-30T12:00:00+01:00"),
    ("vendor", "P2", "2026-03-27T10:00:00+01:00", [], "2026-03-31T10:00:00+02:00"),
    ("vendor-closing", "P2", "2026-03-27T10:00:00+01:00", [], "2026-03-31T16:00:00+02:00"),
    (
        "vendor",
        "P2",
        "2026-11-23T09:00:00+01:00",
        ["2026-11-23T14:00+01:00/2026-11-24T11:00+01:00"],
        "2026-11-25T14:00:00+01:00",
    ),
    ("vendor", "P3", "2026-04-29T16:00:00+02:00", [], "2026-05-07T16:00:00+02:00"),
    ("desk", "fast", "2026-11-24T17:30:00+03:00", [], "2026-11-25T11:30:00+03:00"),
    ("desk", "fast", "2026-11-28T11:00:00+03:00", [], "2026-11-30T12:00:00+03:00"),
    ("desk", "slow", "2026-03-06T14:00:00+03:00", [], "2026-03-10T18:00:00+03:00"),
    ("desk", "merge", "2026-11-02T10:00:00+03:00", [], "2026-12-14T18:00:00+03:00"),
]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sla") / "dutydesk.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def sla(*args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment apart from what Python needs, so no DUTYDESK_ variable leaks in.
    env = {"PATH": "/usr/bin:/bin", "TZ": "America/Los_Angeles"}
    return subprocess.run(
        [sys.executable, "-m", "bot.sla.cli", "sla", "deadline", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def deadline(config: Path, policy: str, *args: str) -> subprocess.CompletedProcess[str]:
    return sla("--config", str(config), "--policy", policy, *args)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r[0]}/{r[1]}@{r[2]}" + ("+pause" if r[3] else "") for r in ROWS])
def test_example_row(config: Path, row: tuple[str, str, str, list[str], str]) -> None:
    policy, target, reported, pauses, due = row
    pause_args = [arg for pause in pauses for arg in ("--pause", pause)]
    result = deadline(config, policy, "--target", target, "--at", reported, *pause_args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == due + "\n"
    assert result.stderr == ""


def test_wall_time_without_offset_is_calendar_time(config: Path) -> None:
    # 09:15 in Berlin, although the process runs in Los Angeles.
    result = deadline(config, "vendor", "--target", "P1", "--at", "2026-11-24T09:15")
    assert result.stdout == "2026-11-24T13:15:00+01:00\n"


def test_json_output(config: Path) -> None:
    result = deadline(
        config,
        "vendor",
        "--target",
        "P2",
        "--at",
        "2026-11-23T09:00",
        "--pause",
        "2026-11-23T14:00/2026-11-24T11:00",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "start": "2026-11-23T09:00:00+01:00",
        "due": "2026-11-25T14:00:00+01:00",
        "due_utc": "2026-11-25T13:00:00Z",
    }


def test_json_start_after_cutoff(config: Path) -> None:
    result = deadline(config, "vendor", "--target", "P1", "--at", "2026-11-27T15:30", "--json")
    assert json.loads(result.stdout)["start"] == "2026-11-30T08:00:00+01:00"


def test_within_instead_of_target(config: Path) -> None:
    # 1 h on Tuesday until 18:00, the other 30 min on Wednesday from 10:00.
    result = deadline(config, "desk", "--within", "1h30m", "--at", "2026-11-24T17:00+03:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2026-11-25T10:30:00+03:00\n"


def test_several_pauses(config: Path) -> None:
    result = deadline(
        config,
        "desk",
        "--target",
        "fast",
        "--at",
        "2026-11-24T10:00",
        "--pause",
        "2026-11-24T10:30/2026-11-24T11:00",
        "--pause",
        "2026-11-24T11:30/2026-11-24T12:00",
    )
    assert result.stdout == "2026-11-24T13:00:00+03:00\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--policy", "vendor", "--target", "P1", "--at", "2026-10-25T02:30"], "ambiguous"),
        (["--policy", "vendor", "--target", "P1", "--at", "2026-03-29T02:30"], "does not exist"),
        (["--policy", "nope", "--target", "P1", "--at", "2026-11-24T09:15"], "unknown SLA policy 'nope'"),
        (["--policy", "vendor", "--target", "P9", "--at", "2026-11-24T09:15"], "no target 'P9'"),
        (["--policy", "vendor", "--within", "4x", "--at", "2026-11-24T09:15"], "bad duration '4x'"),
        (["--policy", "vendor", "--within", "2d4h", "--at", "2026-11-24T09:15"], "do not mix"),
        (["--policy", "vendor", "--target", "P1", "--at", "yesterday"], "bad instant 'yesterday'"),
        (["--policy", "vendor", "--target", "P1", "--at", "2026-11-24T09:15", "--pause", "x"], "START/END"),
        (
            ["--policy", "vendor", "--target", "P1", "--at", "2026-11-24T09:15", "--pause", "2026-10-25T02:30/"],
            "START/END",
        ),
        (
            [
                "--policy",
                "vendor",
                "--target",
                "P1",
                "--at",
                "2026-11-24T09:15",
                "--pause",
                "2026-11-24T10:00/2026-11-24T09:00",
            ],
            "ends before it starts",
        ),
        (
            [
                "--policy",
                "vendor",
                "--target",
                "P1",
                "--at",
                "2026-11-24T09:15",
                "--pause",
                "2026-10-25T02:30/2026-11-24T09:00",
            ],
            "ambiguous",
        ),
        (["--policy", "vendor", "--at", "2026-11-24T09:15"], "--target"),
        (["--policy", "vendor", "--target", "P1", "--within", "4h", "--at", "2026-11-24T09:15"], "not allowed"),
        (["--policy", "vendor", "--target", "P1"], "--at"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(config: Path, args: list[str], needle: str) -> None:
    result = sla("--config", str(config), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    result = sla("--config", missing, "--policy", "vendor", "--target", "P1", "--at", "2026-11-24")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "missing.toml" in result.stderr


def test_invalid_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[calendars.x]\ntimezone = "Mars/Olympus"\nhours = ["mon-fry 08:00-16:00"]\n'
        '[sla.p]\ncalendar = "x"\ntargets.A = { within = "4h" }\n',
        encoding="utf-8",
    )
    result = sla("--config", str(path), "--policy", "p", "--target", "A", "--at", "2026-11-24T09:00")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "Mars/Olympus" in lines[0]
    assert "fry" in lines[0]


def test_missing_subcommand_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.sla.cli", "sla"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
