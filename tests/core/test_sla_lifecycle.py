"""SLA clocks through the simulator: what stops, pauses and breaches them (issue: SLA clocks)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import yaml

from bot.simulate import simulate

CONFIG: dict[str, Any] = {
    "desk": {"name": "Desk", "ticket_prefix": "HW", "sla": "support", "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"], "holidays": "DE-BE"}},
    "sla": {"support": {"calendar": "office", "targets": {
        "response-P1": {"within": "30m"}, "response": {"within": "4h"},
        "resolve-P1": {"within": "4h"}, "resolve": {"within": "2d"}, "reply": {"within": "2h"},
    }}},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"], "timezone": "Europe/Berlin"}},
    "channels": {"duty": ["#support-duty"]},
}


async def run(tmp_path: Path, steps: list[dict[str, Any]], start: str = "2026-11-24T09:00:00+01:00") -> list[dict]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"config": CONFIG, "platform": "slack", "start": start, "steps": steps}))
    out = io.StringIO()
    await simulate(path, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def sla_report(lines: list[dict]) -> list[str]:
    return [line["text"] for line in lines if line["text"].startswith("SLA of ")]


def warnings(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["kind"] == "sla_warning"]


NEW = {"user": "ben", "channel": "#general", "text": "/ticket printer on fire"}


def ask(after: str) -> dict[str, Any]:
    return {"after": after, "user": "anna", "channel": "#support-duty", "text": "/ticket sla HW-1"}


async def test_receipt_does_not_stop_first_response(tmp_path: Path) -> None:
    lines = await run(tmp_path, [NEW, ask("1h"), {"until": "2026-11-24T13:30:00+01:00"}])
    assert any(line["kind"] == "receipt" for line in lines)
    report = sla_report(lines)[0]
    assert "first response (response): running" in report
    assert "due Tue 24 Nov, 13:00" in report
    breaches = [w for w in warnings(lines) if "missed its first response" in w["text"]]
    assert len(breaches) == 1 and breaches[0]["at"] == "2026-11-24T12:00:00Z"
    assert breaches[0]["to"] == "#support-duty" and breaches[0]["visibility"] == "private"


async def test_agent_answer_stops_first_response_and_warnings(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        NEW,
        {"after": "1h", "user": "anna", "channel": "#support-duty", "text": "/ticket reply HW-1 on my way"},
        ask("1m"),
        {"until": "2026-11-24T14:00:00+01:00"},
    ])
    assert "first response (response): met" in sla_report(lines)[0]
    assert not [w for w in warnings(lines) if "first response" in w["text"]]


async def test_warning_at_75_percent_goes_to_the_assignee_and_the_duty_channel_once(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        NEW,
        {"after": "5m", "user": "anna", "channel": "#support-duty", "text": "/ticket assign HW-1 anna"},
        {"until": "2026-11-26T18:00:00+01:00"},
    ])
    resolve = [w for w in warnings(lines) if "resolution" in w["text"]]
    # 2 working days of 10 h from Tue 09:00: 75% after 15 h → Wed 14:00; breach Thu 09:00; each to the
    # assignee and to the duty channel (DESIGN: "warnings … go to the assignee and the duty channel")
    assert [(w["at"], "75%" in w["text"], w["to"]) for w in resolve] == [
        ("2026-11-25T13:00:00Z", True, "@anna"), ("2026-11-25T13:00:00Z", True, "#support-duty"),
        ("2026-11-26T08:00:00Z", False, "@anna"), ("2026-11-26T08:00:00Z", False, "#support-duty")]
    assert all(w["visibility"] == "private" for w in resolve)


async def test_pause_overnight_costs_nothing(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        NEW,
        {"after": "5m", "user": "anna", "channel": "#support-duty", "text": "/ticket take HW-1"},
        ask("1m"),
        {"at": "2026-11-24T18:30:00+01:00", "user": "anna", "channel": "#support-duty",
         "text": "/ticket status HW-1 waiting_requester"},
        {"at": "2026-11-25T07:30:00+01:00", "user": "ben", "ticket": "HW-1", "text": "here are the logs"},
        ask("1m"),
    ])
    before, after = sla_report(lines)
    assert "resolution (resolve): running — due Thu 26 Nov, 09:00" in before
    assert "resolution (resolve): running — due Thu 26 Nov, 09:00" in after


async def test_pause_in_business_hours_moves_the_deadline(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        NEW,
        {"after": "5m", "user": "anna", "channel": "#support-duty", "text": "/ticket take HW-1"},
        {"at": "2026-11-24T10:00:00+01:00", "user": "anna", "channel": "#support-duty",
         "text": "/ticket status HW-1 waiting_requester"},
        ask("1m"),
        {"at": "2026-11-24T13:00:00+01:00", "user": "ben", "ticket": "HW-1", "text": "done, see attachment"},
        ask("1m"),
    ])
    during, after = sla_report(lines)
    assert "resolution (resolve): paused" in during
    assert "due Thu 26 Nov, 12:00" in after  # 3 business hours of waiting added


async def test_reprioritising_to_p1_late_breaches_at_once(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        NEW,
        {"at": "2026-11-24T12:10:00+01:00", "user": "anna", "channel": "#support-duty",
         "text": "/ticket priority HW-1 1"},
    ])
    at_once = [w for w in warnings(lines) if w["at"] == "2026-11-24T11:10:00Z"]
    assert any("missed its first response" in w["text"] and "09:30" in w["text"] for w in at_once)


async def test_next_reply_clock_runs_from_requester_follow_up(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        NEW,
        {"after": "10m", "user": "anna", "channel": "#support-duty", "text": "/ticket reply HW-1 which printer?"},
        {"after": "20m", "user": "ben", "ticket": "HW-1", "text": "the one on floor 2"},
        ask("1m"),
        {"until": "2026-11-24T12:00:00+01:00"},
    ])
    assert "next reply (reply): running — due Tue 24 Nov, 11:30" in sla_report(lines)[0]
    assert any("missed its next reply" in w["text"] for w in warnings(lines))
