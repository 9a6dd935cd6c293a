"""What ``dutydesk check-config`` accepts runs (issue 14): day-long durations in ``[duty]`` were accepted and
then broke the start (``digest.every = "1d"``: a traceback) or silently became zero (``escalate.repeat = "1d"``:
the repeat ping at once). A day is 24 hours of wall-clock time in every duration outside ``[sla]``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.simulate import simulate

AGENCY = Path(__file__).resolve().parents[2] / "examples" / "agency" / "dutydesk.toml"


def agency_with(tmp_path: Path, old: str, new: str) -> Path:
    text = AGENCY.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "dutydesk.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


async def run(tmp_path: Path, config: Path, start: str, steps: list[dict[str, Any]]) -> list[dict]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({"config": str(config), "platform": "slack", "start": start, "steps": steps}))
    out = io.StringIO()
    await simulate(scenario, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def check_config(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["check-config", "--config", str(config)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return out


async def test_a_daily_digest_passes_the_check_and_runs_once_a_duty_day(tmp_path, capsys) -> None:
    config = agency_with(tmp_path, 'digest = { every = "1h"', 'digest = { every = "1d"')
    assert check_config(config, capsys).startswith(f"{config}: ok")
    lines = await run(tmp_path, config, "2026-11-24T15:50:00+01:00", [{"until": "2026-11-25T18:30:00+01:00"}])
    digests = [line["at"] for line in lines if line.get("kind") == "digest"]
    assert digests == ["2026-11-24T15:00:00Z", "2026-11-25T15:00:00Z"]  # 16:00 Berlin, once each duty day


async def test_a_ping_repeated_after_a_day_waits_a_day(tmp_path, capsys) -> None:
    config = agency_with(tmp_path, 'escalate = { repeat = "15m", coordinator = "30m" }',
                         'escalate = { repeat = "1d", coordinator = "2d" }')
    check_config(config, capsys)
    lines = await run(tmp_path, config, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-26T17:00:00+01:00"},
    ])
    pings = [(line["at"], line["to"]) for line in lines
             if line.get("kind") == "ping" and line["ticket"] == "HW-1" and line["to"].startswith("@")]
    # "1d" read as zero re-pinged at once; a day's wait never falls inside the 16:00-18:00 duty, and repeats follow
    # the duty window (#16): the coordinator when the duty ends unacknowledged, the next day's standby at its start
    assert pings == [("2026-11-24T15:20:00Z", "@jonas"), ("2026-11-24T17:00:00Z", "@sarah"),
                     ("2026-11-25T15:00:00Z", "@lea"), ("2026-11-25T17:00:00Z", "@sarah"),
                     ("2026-11-26T15:00:00Z", "@jonas")]


@pytest.mark.parametrize(("old", "new", "key"), [
    ('repeat = "15m"', 'repeat = "0m"', "duty.escalate.repeat"),
    ('digest = { every = "1h"', 'digest = { every = "1d4h"', "duty.digest.every"),
    ('handover_ack = "30m"', 'handover_ack = "half an hour"', "duty.handover_ack"),
    ('feedback_wait = "1d"', "feedback_wait = 3", "resolution.feedback_wait"),
    ("priorities = [1]", "priorities = [1, 4]", "duty.digest.priorities.1"),
])
def test_what_cannot_run_is_refused_with_its_key(tmp_path, capsys, old: str, new: str, key: str) -> None:
    config = agency_with(tmp_path, old, new)
    assert main(["check-config", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert out == "" and line.startswith(f"{config}: {key}: "), line
