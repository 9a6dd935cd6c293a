"""Chat-native tickets (#17): commands in a ticket's space without an id, conversations in a DM.

Each test runs the whole bot through `dutydesk simulate` (in-process, a virtual clock, SQLite)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import yaml

from bot.i18n import t
from bot.simulate import simulate

DESK = {
    "desk": {"name": "HW desk", "language": "en", "ticket_prefix": "HW"},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]}, "lea": {"name": "Lea", "roles": ["agent"]}},
    "channels": {"duty": ["#support-duty"]},
}


async def run(tmp_path: Path, steps: list[dict[str, Any]], *, platform: str = "slack",
              config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"config": config or DESK, "platform": platform,
                                    "start": "2026-11-24T09:00:00+01:00", "steps": steps}), encoding="utf-8")
    out = io.StringIO()
    await simulate(path, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def texts(lines: list[dict[str, Any]], **match: object) -> list[str]:
    return [line["text"] for line in lines if "text" in line and all(line.get(k) == v for k, v in match.items())]


async def test_commands_in_a_ticket_space_need_no_id(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "/ticket the vpn drops every hour"},
        {"user": "rita", "channel": "#general", "text": "/ticket my printer is jammed"},
        {"after": "1m", "user": "anna", "ticket": "HW-1", "text": "/ticket take"},
        {"user": "anna", "ticket": "HW-1", "text": "/ticket note HW-2 looks like the same switch"},
        {"user": "anna", "ticket": "HW-1", "text": "/ticket priority 1"},
        {"after": "1m", "user": "anna", "ticket": "HW-1", "text": "/ticket close"},
    ])
    space = texts(lines, to="ticket:HW-1", ticket="HW-1")
    assert "You have taken HW-1; it is in progress." in space
    assert "HW-1 now has priority 1." in space
    assert "HW-1 is closed." in space
    # the explicit id of another ticket wins over the space's
    assert texts(lines, to="ticket:HW-1", ticket="HW-2") == ["Internal note added to HW-2 (only the team sees it)."]
    assert not [line for line in lines if line.get("kind") == "error"]


async def test_a_requester_in_a_space_cannot_take_without_id_either(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "/ticket the vpn drops every hour"},
        {"after": "1m", "user": "rita", "ticket": "HW-1", "text": "/ticket take"},
    ])
    (error,) = [line for line in lines if line.get("kind") == "error"]
    assert error["text"] == t("en", "access.staff_only", prefix="/", roles="requester")
    assert not texts(lines, to="ticket:HW-1", kind="notice")[1:]  # nothing changed on the ticket


async def test_matrix_bang_close_in_the_room(tmp_path: Path) -> None:
    lines = await run(tmp_path, [
        {"user": "rita", "channel": "#general", "text": "!ticket the vpn drops every hour"},
        {"after": "1m", "user": "rita", "ticket": "HW-1", "text": "!ticket close"},
        {"user": "rita", "ticket": "HW-1", "text": "!ticket show"},
    ], platform="matrix")
    assert not [line for line in lines if line.get("kind") == "error"], lines
    assert any("closed" in text.lower() for text in texts(lines, ticket="HW-1"))
