"""Guards found in the audit of issue #9, on the PR vendor's example desk ([resolution] require_solution,
ask_feedback) through the simulator, on both backends:

- the team closes a ticket only through its solution (handbook 000 steps 8–9); the requester may withdraw;
- a solved ticket that goes back to work needs a new solution before it is resolved again;
- a requester whose duplicate was merged follows the kept ticket: state and solution, not the other
  requester's report, and no changes to it;
- a duplicate merged into a ticket that is solved already gets the solution at once.
"""

from __future__ import annotations

import tomllib

from workflow_sim import EXAMPLES, run

from bot.i18n import t

ORG = "pr-vendor"
WEDNESDAY = "2026-11-25T09:05:00+01:00"
INTERN = "#kundenservice-intern"


def de(name: str, /, **values: object) -> str:
    return t("de", name, **{"prefix": "/", **values})


def staff(user: str, text: str, after: str = "1m") -> dict:
    return {"after": after, "user": user, "channel": INTERN, "text": text}


def customer(user: str, text: str) -> dict:
    return {"after": "1m", "user": user, "dm": True, "text": text}


async def test_the_team_closes_only_through_the_solution(tmp_path, db_url) -> None:
    steps = [
        customer("tom", "Bitte kündigen Sie mein Abo zum Monatsende."),          # KS-1 → Linda (rechnung)
        customer("ute", "Ist meine Rechnung doppelt abgebucht worden?"),         # KS-2 → Linda
        staff("linda", "/ticket take KS-1"),
        staff("linda", "/ticket close KS-1"),                                    # refused: no solution
        customer("ute", "/ticket close KS-2"),                                   # the requester withdraws
        staff("linda", "/ticket solve KS-1 Abo zum 30.11. gekündigt."),
        staff("linda", "/ticket close KS-1"),                                    # from feedback: allowed
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == [de("closing.close_needs_solution", key="KS-1")]
    assert [(await result.ticket(key)).state for key in ("KS-1", "KS-2")] == ["closed", "closed"]
    assert result.has(de("closing.question", key="KS-1", text="Abo zum 30.11. gekündigt.", prefix="/"),
                      to="ticket:KS-1")


async def test_a_reopened_ticket_needs_a_new_solution(tmp_path, db_url) -> None:
    steps = [
        customer("tom", "Bitte erstellen Sie eine Gutschrift für die doppelte Abbuchung."),
        staff("linda", "/ticket take KS-1"),
        staff("linda", "/ticket solve KS-1 Gutschrift erstellt."),
        {"after": "1m", "user": "tom", "action": "satisfied", "ticket": "KS-1"},
        customer("tom", "/ticket reopen KS-1"),                                  # it was booked twice again
        staff("linda", "/ticket status KS-1 resolved"),                          # refused: the old one is spent
        staff("linda", "/ticket solve KS-1 Zweite Gutschrift erstellt, Lastschrift gesperrt."),
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == [de("closing.needs_solution", key="KS-1")]
    ticket = await result.ticket("KS-1")
    assert ticket.state == "feedback"  # asked again
    assert ticket.data["solution"]["text"] == "Zweite Gutschrift erstellt, Lastschrift gesperrt."
    assert [s["text"] for s in ticket.data["earlier_solutions"]] == ["Gutschrift erstellt."]
    questions = [text for text in result.texts(to="ticket:KS-1", kind="feedback")]
    assert len(questions) == 2


async def test_a_follower_sees_state_and_solution_only_and_changes_nothing(tmp_path, db_url) -> None:
    steps = [
        customer("tom", "Bitte kündigen Sie mein Abo, Kundennummer 4711."),      # KS-1
        customer("ute", "Bitte kündigen Sie mein Abo."),                         # KS-2, the same request
        staff("linda", "/ticket merge KS-1 KS-2"),
        customer("ute", "/ticket show KS-1"),
        customer("ute", "/ticket close KS-1"),
        customer("ute", "/ticket doc KS-1 steps Ich will kündigen"),
        customer("ute", "/ticket reopen KS-1"),
        customer("ute", "/ticket sla KS-1"),
        staff("linda", "/ticket take KS-1"),
        staff("linda", "/ticket solve KS-1 Beide Abos zum 30.11. gekündigt."),
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    seen = result.texts(to="@ute")
    shown = de("ticket.show_followed", key="KS-1", state=de("state.new"), priority=2, merged="KS-2")
    assert shown in seen
    assert not any("4711" in text or "Tom" in text for text in seen)
    refusal = de("ticket.follower_only", key="KS-1")
    assert result.errors() == [refusal, refusal, refusal]
    assert (await result.ticket("KS-1")).state == "feedback"
    assert "doc" not in (await result.ticket("KS-1")).data
    assert result.has(de("closing.solution_of_merged", key="KS-2", into="KS-1",
                         text="Beide Abos zum 30.11. gekündigt."), to="ticket:KS-2")


async def test_a_duplicate_of_a_solved_ticket_gets_the_solution_at_once(tmp_path, db_url) -> None:
    steps = [
        customer("tom", "Die Abbuchung vom November ist doppelt."),
        staff("linda", "/ticket take KS-1"),
        staff("linda", "/ticket solve KS-1 Doppelte Lastschrift storniert."),
        customer("ute", "Die Abbuchung vom November ist doppelt!"),
        staff("linda", "/ticket merge KS-1 KS-2"),
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == []
    assert result.has(de("merge.duplicate_requester", key="KS-2", into="KS-1"), to="ticket:KS-2")
    assert result.has(de("closing.solution_of_merged", key="KS-2", into="KS-1",
                         text="Doppelte Lastschrift storniert."), to="ticket:KS-2")


async def test_taking_a_solved_ticket_back_needs_a_new_solution(tmp_path, db_url) -> None:
    steps = [
        customer("tom", "Die Gutschrift fehlt auf meiner Rechnung."),
        staff("linda", "/ticket take KS-1"),
        staff("linda", "/ticket solve KS-1 Gutschrift nachgebucht."),
        staff("khadija", "/ticket take KS-1"),                                  # back to work from feedback
        staff("khadija", "/ticket status KS-1 resolved"),
        staff("khadija", "/ticket close KS-1"),
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == [de("closing.needs_solution", key="KS-1"),
                               de("closing.close_needs_solution", key="KS-1")]
    ticket = await result.ticket("KS-1")
    assert ticket.state == "in_progress" and "solution" not in ticket.data
    assert result.has(de("ticket.state_changed", key="KS-1", state=de("state.in_progress"), who="Khadija"),
                      to="ticket:KS-1")


async def test_resolved_without_a_write_up_is_still_asked_about_and_closed_by_the_timer(tmp_path, db_url) -> None:
    """Where a desk lets the team resolve without a solution (require_solution off) but asks for feedback,
    the requester is asked all the same, and no answer closes the ticket (it used to stay resolved)."""
    config = tomllib.loads((EXAMPLES / ORG / "dutydesk.toml").read_text(encoding="utf-8"))
    config["resolution"]["require_solution"] = False
    steps = [
        customer("tom", "Bitte erstellen Sie eine Gutschrift für die doppelte Abbuchung."),
        staff("linda", "/ticket take KS-1"),
        staff("linda", "/ticket status KS-1 resolved"),
        {"after": "3d", "user": "tom", "dm": True, "text": "/ticket show KS-1"},
    ]
    result = await run(tmp_path, None, steps, start=WEDNESDAY, config=config, db_url=db_url)
    assert result.errors() == []
    assert result.has(de("closing.resolved_asked", key="KS-1"))
    assert result.has(de("closing.question_plain", key="KS-1", prefix="/"), to="ticket:KS-1")
    assert result.has(de("closing.closed_no_answer", key="KS-1", prefix="/"))
    assert (await result.ticket("KS-1")).state == "closed"
