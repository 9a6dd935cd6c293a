"""The /duty commands end to end through the simulator (tests/scenarios/duty_*.yaml, desk duty_desk.toml).

Transcript lines are asserted by recipient, kind and text; the scheduler's own lines (digest, handover,
pings) that the virtual clock produces along the way are not this module's business.
"""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import yaml

from bot.simulate import simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


async def transcript(name: str) -> list[dict]:
    out = io.StringIO()
    await simulate(SCENARIOS / f"duty_{name}.yaml", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def to(lines: list[dict], who: str, kind: str | None = None) -> list[dict]:
    """Lines for ``who``: a DM (``@jonas``), an ephemeral answer (``for``), or a channel (``#x``)."""
    found = []
    for line in lines:
        if (kind is not None and line["kind"] != kind) or "updated" in line:  # a change in place is no new message
            continue
        channel = who.startswith("#") and line["to"] == who and "for" not in line
        person = who.startswith("@") and who in (line["to"], line.get("for"))
        if channel or person:
            found.append(line)
    return found


def texts(lines: list[dict]) -> list[str]:
    return [line["text"] for line in lines]


def one(lines: list[dict], needle: str) -> dict:
    hits = [line for line in lines if needle in line["text"]]
    assert len(hits) == 1, f"{needle!r} in {len(hits)} lines: {texts(lines)}"
    return hits[0]


async def test_duty_shows_now_today_and_the_week_in_the_askers_zone() -> None:
    lines = await transcript("show")
    jonas, mira, lea = (texts(to(lines, who, "reply")) for who in ("@jonas", "@mira", "@lea"))
    assert jonas[0].splitlines() == [
        "No duty right now. Next: Mon 21 Dec 16:00–18:00: phone duty Jonas · emergency standby Lea",
        "This week, from Mon 21 Dec (times in Central European Time):",
        "Mon 21 Dec 16:00–18:00: phone duty Jonas · emergency standby Lea  ← today",
        "Tue 22 Dec 16:00–18:00: phone duty Lea · emergency standby Jonas",
        "Wed 23 Dec 16:00–18:00: phone duty Jonas · emergency standby Lea",
        "Thu 24 Dec: no duty (day off)",  # closed
        "Fri 25 Dec: no duty (day off)",  # Christmas, DE-BE
    ]
    # Mira works from New York: the same shifts in her time
    assert "(times in Eastern Time)" in mira[0]
    assert "Tue 22 Dec 10:00–12:00: phone duty Lea · emergency standby Jonas" in mira[0]
    assert lea[0].startswith("On duty now (until 18:00): phone duty Jonas · emergency standby Lea")
    refused = to(lines, "@kim")
    assert refused[0]["kind"] == "error" and "Only the support team" in refused[0]["text"]
    # everything was an answer to the asker alone
    assert {line["visibility"] for line in lines if line["kind"] in ("reply", "error")} == {"ephemeral"}


async def test_swaps_exchange_stale_decline_and_open_requests() -> None:
    lines = await transcript("swap")
    # 1: Jonas asks Mira, who accepts with the button in her DM; the coordinator is told, not asked
    ask = one(to(lines, "@mira", "swap_request"), "request #1")
    assert ask["buttons"] == ["duty-accept"] and ask["visibility"] == "private"
    # Mira works from New York: the Berlin shift 16:00-18:00 in her own time
    assert "Jonas asks you to take their phone duty on Wed 25 Nov 10:00–12:00" in ask["text"]
    assert "Mira is asked to take your phone duty on Wed 25 Nov" in one(to(lines, "@jonas", "reply"), "#1")["text"]
    assert one(to(lines, "@mira", "reply"), "#1")["text"].startswith(
        "Done: you have the phone duty on Wed 25 Nov 10:00–12:00 (for Jonas")
    assert "Mira takes your phone duty" in one(to(lines, "@jonas", "notice"), "request #1")["text"]
    fyi = texts(to(lines, "@sarah"))
    assert "For your information: Mira takes Jonas's phone duty on Wed 25 Nov (request #1)." in fyi
    assert not to(lines, "@sarah", "swap_request")  # never asked for approval
    # 2: Lea asks Jonas, who has the other role that day: they exchange roles
    assert "Lea takes your emergency standby (request #2)" in one(to(lines, "@jonas", "reply"), "#2")["text"]
    assert "you take their emergency standby" in one(to(lines, "@lea", "notice"), "request #2")["text"]
    assert any("exchange roles on Thu 26 Nov" in text for text in fyi)
    # 3 and 4: two requests for one shift; Paul takes #4, so #3 is stale when Mira accepts it
    stale = one(to(lines, "@mira", "error"), "#3")["text"]
    assert stale == "Request #3 is stale: the phone duty on Fri 27 Nov is now Paul's, so nothing was changed."
    assert "Your request #3 went stale" in one(to(lines, "@jonas", "notice"), "#3")["text"]
    # 5: Paul declines; Lea is told
    assert "Paul cannot take your phone duty on Mon 30 Nov (request #5)" in one(to(lines, "@lea"), "#5)")["text"]
    # 6: an open request goes to the duty channel with a button; Paul takes it there
    posted = one(to(lines, "#support-duty", "swap_request"), "#6")
    assert posted["buttons"] == ["duty-accept"] and posted["visibility"] == "private"
    assert "Paul takes Lea's emergency standby on Tue 1 Dec (request #6)." in texts(to(lines, "#support-duty"))
    # refusals
    errors = texts(to(lines, "@jonas", "error")) + texts(to(lines, "@mira", "error"))
    assert "There is no duty on Sat 28 Nov." in errors
    assert "Request #1 is accepted already." in errors
    # and /duty shows the result
    week = texts(to(lines, "@jonas", "reply"))[-1].splitlines()
    assert "Wed 25 Nov 16:00–18:00: phone duty Mira (for Jonas) · emergency standby Lea" in week
    assert "Thu 26 Nov 16:00–18:00: phone duty Jonas (for Lea) · emergency standby Lea (for Jonas)" in week
    assert "Fri 27 Nov 16:00–18:00: phone duty Paul (for Jonas) · emergency standby Lea" in week


async def test_vacation_reminders_substitutes_and_the_coordinator() -> None:
    lines = await transcript("away")
    lea = to(lines, "@lea")
    first = one(lea, "but nobody stands in for you yet")
    assert "Mon 7 Dec emergency standby, Tue 8 Dec phone duty" in first["text"]
    assert "Reminders: Mon 30 Nov, 09:00 and Fri 4 Dec, 09:00." in first["text"]
    # the coordinator is named with when they will be told, as the timer is set
    assert first["text"].endswith(
        "If nobody stands in for you by Sat 5 Dec, 09:00, Sarah, the coordinator, is told.")
    reminders = to(lines, "@lea", "reminder")
    assert [r["at"] for r in reminders] == ["2026-11-30T08:00:00Z"]  # the later ones found it arranged
    # the substitute arranged later: Mira and the coordinator are told, the coordinator reminder stays quiet
    assert "you stand in for them on these shifts (5)" in one(to(lines, "@mira"), "Lea is on vacation")["text"]
    assert one(to(lines, "@sarah", "notice"), "Lea is on vacation")["at"] == "2026-11-30T11:00:00Z"
    assert not [r for r in to(lines, "@sarah", "reminder") if "Lea" in r["text"]]
    passed_on = one(to(lines, "@paul", "swap_request"), "#1")["text"]
    assert "Mira asks you to take their phone duty on Tue 8 Dec" in passed_on
    assert one(to(lines, "@paul", "reply"), "#1")["text"].startswith("Done: you have the phone duty on Tue 8 Dec")
    assert "You have no duty in that time." in one(to(lines, "@paul"), "Vacation noted")["text"]
    assert "ends before it starts" in one(to(lines, "@jonas", "error"), "vacation")["text"]
    # a vacation two days ahead without a substitute: the coordinator is told at once
    coordinator = one(to(lines, "@sarah", "reminder"), "Jonas's vacation starts Tue 8 Dec")
    assert coordinator["at"] == "2026-12-06T11:00:00Z" and coordinator["visibility"] == "private"
    assert "Tue 8 Dec emergency standby" in coordinator["text"]
    soon = one(to(lines, "@jonas", "reply"), "Tue 8 Dec to Tue 8 Dec")["text"]
    assert "Reminders" not in soon
    assert soon.endswith("As your vacation starts soon, Sarah, the coordinator, is told now.")
    arranged = one(to(lines, "@lea", "reply"), "Mira stands in for you")["text"]
    assert arranged.endswith("Mira is told. Sarah, the coordinator, is told.")
    substitute = one(to(lines, "@paul"), "Jonas is on")["text"]
    assert "Thu 17 Dec phone duty, Fri 18 Dec emergency standby" in substitute


async def test_sick_report_asks_the_team_urgently_and_the_first_taker_covers() -> None:
    lines = await transcript("sick")
    asks = [line for line in lines if line["kind"] == "cover_request" and "updated" not in line]
    assert sorted(line["to"] for line in asks) == ["#support-duty", "@lea", "@sarah"]
    assert all(line["buttons"] == ["duty-accept"] for line in asks)
    assert "URGENT: Jonas is sick and needs cover for the emergency standby today" in asks[0]["text"]
    answer = one(to(lines, "@jonas", "reply"), "Get well soon")["text"]
    assert "You are marked absent today (Tue 24 Nov)" in answer
    assert "Until someone takes it: emergency standby Lea." in answer  # the team fallback
    # Mira presses the button in the duty channel
    assert one(to(lines, "@mira", "reply"), "#1")["text"].startswith("Done: you have the emergency standby")
    assert "Mira covers Jonas's emergency standby today" in one(to(lines, "#support-duty", "notice"), "#1")["text"]
    assert "Mira covers your emergency standby" in one(to(lines, "@jonas", "notice"), "#1")["text"]
    assert "Mira covers Jonas's emergency standby" in one(to(lines, "@sarah", "notice"), "#1")["text"]
    assert texts(to(lines, "@lea", "error")) == ["Request #1 is accepted already."]
    assert "already" in texts(to(lines, "@jonas", "error"))[0]
    week = one(to(lines, "@lea", "reply"), "This week")["text"]
    assert "Tue 24 Nov 16:00–18:00: phone duty Lea · emergency standby Mira (for Jonas)" in week
    assert answer.endswith("Sarah, the coordinator, is told.")
    assert "the duty channel and Lea were asked urgently (#1)" in answer  # Sarah is named as the coordinator
    # no duty today: marked absent, the coordinator is told
    paul = one(to(lines, "@paul", "reply"), "Get well soon")["text"]
    assert "you have no duty today" in paul and paul.endswith("Sarah, the coordinator, is told.")
    assert "Paul reported sick for Tue 24 Nov" in one(to(lines, "@sarah"), "Paul")["text"]


async def test_without_a_coordinator_nobody_is_said_to_be_told(tmp_path: Path) -> None:
    """The promise of the sick and away answers: the coordinator is named, and said to be told, only when the
    desk has one and they were told (the answers said "the coordinator is told" on a desk without one)."""
    config = tomllib.loads((SCENARIOS / "duty_desk.toml").read_text())
    del config["duty"]["coordinator"]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"config": config, "platform": "slack", "start": "2026-11-24T13:00:00+01:00",
                                    "steps": [{"user": "jonas", "dm": True, "text": "/duty sick"},
                                              {"user": "paul", "dm": True, "text": "/duty sick"},
                                              {"user": "lea", "dm": True, "text": "/duty away 2026-12-07 2026-12-11"},
                                              {"user": "mira", "dm": True,
                                               "text": "/duty away 2026-11-26 2026-11-27 @paul"}]}))
    out = io.StringIO()
    await simulate(path, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    answers = [line["text"] for line in lines if line["kind"] == "reply"]
    assert len(answers) == 4 and not [text for text in answers if "coordinator" in text]
    assert not [line for line in lines if line["to"] == "@sarah"]
    assert answers[1].endswith("you have no duty today.")
    assert "the duty channel and Lea were asked urgently" in answers[0]


async def test_weekly_plan_is_proposed_fairly_and_confirmed() -> None:
    lines = await transcript("plan")
    sarah = to(lines, "@sarah")
    assert sarah[0]["kind"] == "error" and "no proposed plan" in sarah[0]["text"]
    proposal = one(sarah, "Proposed plan")["text"].splitlines()
    assert proposal[1:6] == [
        "Mon 30 Nov: phone duty Lea · emergency standby Jonas",
        "Tue 1 Dec: phone duty Jonas · emergency standby Lea",
        # Lea is away: Jonas is the only one left and holds both roles
        "Wed 2 Dec: phone duty Jonas · emergency standby Jonas",
        "Thu 3 Dec: phone duty Lea · emergency standby Jonas",
        # Lea has fewer shifts this week so far (3 to Jonas's 5): she gets the phone again
        "Fri 4 Dec: phone duty Lea · emergency standby Jonas",
    ]
    posted = one(to(lines, "#support-duty", "notice"), "Duty plan for the week from Mon 30 Nov")
    assert "confirmed by Jonas" in posted["text"]
    assert "For your information: Jonas confirmed the duty plan" in one(sarah, "confirmed the duty plan")["text"]
    jonas = to(lines, "@jonas")
    assert "is confirmed (10 shifts)" in one(jonas, "is confirmed")["text"]
    assert "no proposed plan" in one(jonas, "no proposed plan")["text"]  # confirming twice
    week = one(jonas, "This week")["text"]
    assert "Wed 2 Dec 16:00–18:00: phone duty Jonas · emergency standby Jonas" in week
    assert "Fri 4 Dec 16:00–18:00: phone duty Lea · emergency standby Jonas" in week
    # Lea's vacation day is covered by the plan, so nobody is reminded about it
    assert not [line for line in lines if line["kind"] == "reminder"]
