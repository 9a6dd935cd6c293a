"""The agency's afternoon support (handbooks 001/002) on its example config: a Prio-1 goes to the
standby at once, the standby fixes it and writes the solution up, the customer is asked whether it
works, and the team finds the solution again with /kb."""

from __future__ import annotations

from workflow_sim import run

from bot.i18n import t
from bot.simulate import ScenarioError

ORG = "agency"
TUESDAY = "2026-11-24T15:50:00+01:00"
DUTY = "#support-duty"


async def test_prio_1_from_report_to_satisfied_customer(tmp_path) -> None:
    steps = [
        {"at": "2026-11-24T16:05:00+01:00", "user": "kim", "channel": "#customer-projects",
         "text": "/ticket -p1 Our wiki is down, error 503"},
        {"after": "1m", "user": "jonas", "action": "ack", "ticket": "HW-1"},
        {"after": "1m", "user": "jonas", "action": "take", "ticket": "HW-1"},
        {"after": "20m", "user": "jonas", "channel": DUTY,
         "text": "/ticket solve HW-1 Disk was full; log rotation added."},
        {"after": "5m", "user": "kim", "action": "satisfied", "ticket": "HW-1"},
        {"after": "1m", "user": "lea", "channel": DUTY, "text": "/kb log rotation"},
        {"after": "1m", "user": "kim", "dm": True, "text": "/kb log rotation"},
    ]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == []
    assert [line["to"] for line in result.about(kind="ping", ticket="HW-1")] == ["@jonas"]  # acknowledged at once
    (question,) = result.about(kind="feedback", to="ticket:HW-1")
    assert question["text"].startswith(t("en", "closing.question", key="HW-1", text="Disk was full; "
                                                                                    "log rotation added.",
                                         prefix="/")[:40])
    assert result.has(t("en", "closing.thanks", key="HW-1"), to="ticket:HW-1")
    assert result.has("Disk was full", to=DUTY)  # the team finds it
    assert result.texts(to="@kim")[-1] == t("en", "kb.nothing_faq", query="log rotation", prefix="/")
    assert (await result.ticket("HW-1")).state == "closed"


async def test_attach_needs_text_in_a_scenario(tmp_path) -> None:
    steps = [{"at": "2026-11-24T16:05:00+01:00", "user": "kim", "ticket": "HW-1", "attach": ["a.png"]}]
    try:
        await run(tmp_path, ORG, steps, start=TUESDAY)
    except ScenarioError as exc:
        assert "attach sends files with a message" in str(exc)
    else:
        raise AssertionError("a step with files but no text was accepted")
