"""The agency's phone duty in its example (#18): a caller's ticket opened with ``/ticket --for``, handed over
"for the next day" with ``--due tomorrow``, an answer for the caller as a call-back reminder, and the morning
reminders of what is due."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bot.simulate import simulate

SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "agency" / "scenario.yaml"


async def test_the_phone_duty_flow() -> None:
    out = io.StringIO()
    await simulate(SCENARIO, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    hw3 = [line for line in lines if line.get("ticket") == "HW-3"]
    opened = next(line for line in hw3 if line.get("kind") == "receipt")
    assert opened["for"] == "@lea" and "Tom Becker +49 30 55507788" in opened["text"]
    # the caller's ticket says nothing to Lea as if she were its requester: no satisfaction question, no receipt
    # in the ticket's space; Paul, who has it, is reminded to call back with his answer
    assert not [line for line in hw3 if line.get("kind") in ("feedback", "receipt") and line["to"] != "#support-duty"]
    (call_back,) = [line for line in hw3 if line.get("kind") == "reminder" and "call Tom Becker" in line["text"]]
    assert call_back["to"] == "@paul" and "send us one of the failing documents" in call_back["text"]
    shown = next(line for line in hw3 if line["text"].startswith("HW-3: The PDF export"))
    assert "+49 30 55507788" in shown["text"] and "Due: Wed 25 Nov, 18:00" in shown["text"]
    # the next morning, when the office opens, Paul is reminded of both tickets due that day
    morning = [(line["at"], line["to"], line["ticket"]) for line in lines if line.get("kind") == "reminder"
               and line["text"].startswith(f"{line['ticket']} is due")]
    assert morning == [("2026-11-25T07:00:00Z", "@paul", "HW-2"), ("2026-11-25T07:00:00Z", "@paul", "HW-3")]
