"""``dutydesk report`` on the hand-counted week (tests/core/report_week.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.core.report_week import week

CONFIG = """
[desk]
name = "HW desk"
ticket_prefix = "HW"
language = "{language}"
calendar = "office"
sla = "support"
timezone = "Europe/Berlin"

[calendars.office]
timezone = "Europe/Berlin"
hours = ["mon-fri 08:00-18:00"]

[sla.support]
calendar = "office"
targets."response-P1" = {{ within = "30m" }}
targets.response = {{ within = "4h" }}
targets.resolve = {{ within = "2d" }}

[resolution]
feedback_wait = "3d"

[people.anna]
name = "Anna"
roles = ["agent", "lead"]
[people.ben]
name = "Ben"
[people.carla]
name = "Carla"
roles = ["agent", "coordinator"]
[people.root]
name = "Root"
roles = ["admin"]

[channels]
duty = ["#support-duty"]
"""


def config(tmp_path: Path, language: str = "en") -> str:
    path = tmp_path / f"dutydesk-{language}.toml"
    path.write_text(CONFIG.format(language=language), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    # the CLI runs its own event loop, as it does from a shell
    return await asyncio.to_thread(run, capsys, *args)


async def test_json_csv_and_text(make_harness, db_url: str, tmp_path: Path, capsys) -> None:
    await week(make_harness)
    week_args = ["--config", config(tmp_path), "--db", db_url, "--from", "2026-11-30", "--to", "2026-12-06"]
    code, out, err = await report(capsys, *week_args, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert {k: data[k] for k in ("from", "to", "opened", "closed", "open_at_end", "by_priority",
                                 "first_response_minutes", "satisfaction")} == {
        "from": "2026-11-30", "to": "2026-12-06", "opened": 4, "closed": 2, "open_at_end": 3,
        "by_priority": {"1": 1, "2": 2, "3": 1}, "first_response_minutes": {"median": 30.0, "p90": 300.0},
        "satisfaction": {"asked": 2, "satisfied": 1, "not_fixed": 0, "no_answer": 1}}
    assert data["sla"]["response"] == {"met": 1, "breached": 2, "running": 0, "stopped": 0}

    code, out, _ = await report(capsys, *week_args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["id"] for r in rows] == ["HW-2", "HW-3", "HW-4", "HW-5"]
    hw3 = rows[1]
    assert hw3["opened"] == "2026-11-30T17:00:00+01:00" and hw3["priority"] == "2" and hw3["topic"] == "printer"
    assert hw3["state"] == "in_progress" and hw3["assignee"] == "anna"
    assert hw3["first_response"] == "2026-12-01T12:00:00+01:00" and hw3["first_response_minutes"] == "300.0"
    assert (hw3["response_due"], hw3["response"]) == ("2026-12-01T11:00:00+01:00", "breached")
    assert rows[0]["satisfaction"] == "satisfied" and rows[3]["satisfaction"] == "no_answer"
    assert rows[0]["resolved"] == "2026-11-30T09:30:00+01:00"

    code, out, _ = await report(capsys, *week_args)
    assert code == 0
    assert out.startswith("Report 30 Nov 2026 – 6 Dec 2026\n4 opened · 2 closed · 3 open at the end\n")
    assert "SLA response: met 1, breached 2, running 0" in out
    assert "First response (business time): median 30 min, 90 % within 5 h 0 min" in out
    assert ("HW-1 P2 in progress, since Fri 27 Nov, 10:00, Anna\n"
            "HW-3 P2 in progress, since Mon 30 Nov, 17:00, Anna") in out
    assert out.endswith("Anna: 2 open at the end, 2 closed\nnobody: 1 open at the end, 0 closed\n")


async def test_text_in_german_and_russian(make_harness, db_url: str, tmp_path: Path, capsys) -> None:
    await week(make_harness)
    code, out, _ = await report(capsys, "--config", config(tmp_path, "de"), "--db", db_url, "--from", "2026-11-30",
                          "--to", "2026-12-06")
    assert code == 0 and out.startswith("Bericht 30.11.2026 – 06.12.2026\n4 eröffnet · 2 geschlossen")
    assert "Median 30 Min., 90 % innerhalb von 5 Std. 0 Min." in out
    code, out, _ = await report(capsys, "--config", config(tmp_path, "ru"), "--db", db_url, "--from", "2026-11-30",
                          "--to", "2026-12-06")
    assert code == 0 and "4 открыто · 2 закрыто · 3 открыты на конец периода" in out


async def test_an_empty_range_says_so(make_harness, db_url: str, tmp_path: Path, capsys) -> None:
    await make_harness()
    code, out, _ = await report(capsys, "--config", config(tmp_path), "--db", db_url, "--from", "2026-01-05",
                          "--to", "2026-01-11")
    assert code == 0 and "no tickets" in out


@pytest.mark.parametrize(("args", "says"), [
    (["--from", "2026-13-01", "--to", "2026-12-06"], '--from: "2026-13-01" is not a date'),
    (["--from", "2026-12-06", "--to", "2026-11-30"], "ends (2026-11-30) before it starts"),
    (["--from", "2020-01-01", "--to", "2026-01-01"], "at most 366 days"),
    (["--from", "2026-11-30", "--to", "2026-12-06", "--format", "xml"], '--format: "xml" is none of'),
    (["--from", "9999-01-01", "--to", "9999-01-02"], "outside the years 1970 to 2199"),
    (["--to", "2026-12-06"], "--from"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, args: list[str], says: str) -> None:
    code, out, err = run(capsys, "--config", config(tmp_path), "--db", f"sqlite+aiosqlite:///{tmp_path}/x.db",
                            *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err and "Traceback" not in err
