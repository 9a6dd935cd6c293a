"""`dutydesk simulate` with the support mailbox: `mail:` steps in, `mail:` lines out (DESIGN.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from test_simulate import about, check_shape, run_in_process

from bot.simulate import ScenarioError, simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


async def test_a_mail_desk_rehearsed() -> None:
    lines = await run_in_process(SCENARIOS / "mail_desk.yaml")
    check_shape(lines)
    mails = about(lines, to="mail:maria@example.com")
    # the receipt and the agent's reply by mail, threaded; the out-of-office reply got no answer
    assert [m["kind"] for m in mails] == ["receipt", "reply"]
    assert all(m["subject"] == "[HW-1] The printer is on fire" for m in mails)
    assert [m["id"] for m in mails] == ["mail-1", "mail-2"]
    assert "Please switch it off." in mails[1]["text"]
    # the requester's answer went into HW-1 (the duty channel hears of it), not into a new ticket
    assert about(lines, to="#support-duty", kind="notice", ticket="HW-1")
    assert not [line for line in lines if line.get("ticket") == "HW-2"]


async def test_a_mail_step_that_answers_an_unknown_mail_is_a_scenario_error(tmp_path: Path) -> None:
    scenario = yaml.safe_load((SCENARIOS / "mail_desk.yaml").read_text())
    scenario["steps"][1]["mail"]["in_reply_to"] = "nothing"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(scenario))
    with pytest.raises(ScenarioError, match="step 2: in_reply_to names no earlier mail"):
        await simulate(path, io.StringIO())
    scenario["steps"][1]["mail"]["in_reply_to"] = "mail-9"
    path.write_text(yaml.safe_dump(scenario))
    with pytest.raises(ScenarioError, match="step 2: in_reply_to names no earlier mail"):
        await simulate(path, io.StringIO())
