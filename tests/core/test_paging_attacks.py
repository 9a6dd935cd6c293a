"""Nobody can page the team at will (issue #15): attacks on the Prio-1 escalation by a requester who
toggles the priority, by a team member who raises a ticket twice in one instant, and by a requester who
opens Prio-1 tickets on a desk that wants them confirmed first. The whole bot runs the agency's example
desk through the simulator, on SQLite and on PostgreSQL.

On Tuesday 2026-11-24 Lea has the phone duty and Jonas the emergency standby; Sarah coordinates."""

from __future__ import annotations

import tomllib

from workflow_sim import EXAMPLES, run

from bot.i18n import t
from storage.models import Timer

TUESDAY = "2026-11-24T16:00:00+01:00"
UNTIL = {"until": "2026-11-24T17:55:00+01:00"}


def pings(result, ticket: str = "HW-1") -> list[tuple[str, str]]:
    return [(line["at"], line["to"]) for line in result.about(kind="ping", ticket=ticket)]


def agency(**duty: object) -> dict:
    config = tomllib.loads((EXAMPLES / "agency" / "dutydesk.toml").read_text(encoding="utf-8"))
    config["duty"].update(duty)
    config["storage"] = {}
    return config


async def test_the_teams_priority_wins_over_the_requesters_urgency(tmp_path, db_url) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket the wiki is slow"},
        {"after": "1m", "user": "jonas", "dm": True, "text": "/ticket priority HW-1 3"},
        {"after": "1m", "user": "kim", "dm": True, "text": "/ticket doc HW-1 urgency SHOW-STOPPER"},
        UNTIL,
    ], start=TUESDAY, db_url=db_url)
    assert result.errors() == []
    assert pings(result) == []
    assert (await result.ticket("HW-1")).priority == 3


async def test_toggling_the_urgency_pages_once_and_the_escalation_goes_on_from_the_last_rise(tmp_path,
                                                                                             db_url) -> None:
    steps: list[dict] = [{"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True,
                          "text": "/ticket the wiki is down"}]
    up = {"after": "1m", "user": "kim", "dm": True, "text": "/ticket doc HW-1 urgency SHOW-STOPPER"}
    down = {**up, "text": "/ticket doc HW-1 urgency NICE TO HAVE"}
    steps += [up, down] * 6 + [up]  # thirteen changes in thirteen minutes, the last one up at 16:33
    result = await run(tmp_path, "agency", [*steps, UNTIL], start=TUESDAY, db_url=db_url)
    assert result.errors() == []
    assert pings(result) == [
        ("2026-11-24T15:21:00Z", "@jonas"),   # the first rise pages the standby
        ("2026-11-24T15:48:00Z", "@jonas"),   # unacknowledged: repeated 15 minutes after the last rise
        ("2026-11-24T16:03:00Z", "@sarah"),   # and the coordinator after 30
    ]


async def test_lowering_a_prio_1_withdraws_its_repeats_and_the_coordinator_ping(tmp_path, db_url) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"after": "5m", "user": "lea", "dm": True, "text": "/ticket priority HW-1 2"},
        UNTIL,
    ], start=TUESDAY, db_url=db_url)
    assert result.errors() == []
    assert pings(result) == [("2026-11-24T15:20:00Z", "@jonas")]


async def test_raising_a_ticket_to_prio_1_twice_in_one_instant(tmp_path, db_url) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket the wiki is slow"},
        {"user": "jonas", "dm": True, "text": "/ticket priority HW-1 1"},
        {"user": "jonas", "dm": True, "text": "/ticket priority HW-1 3"},
        {"user": "jonas", "dm": True, "text": "/ticket priority HW-1 1"},
        UNTIL,
    ], start=TUESDAY, db_url=db_url)
    assert result.errors() == []
    assert (await result.ticket("HW-1")).priority == 1
    assert pings(result) == [("2026-11-24T15:20:00Z", "@jonas"), ("2026-11-24T15:35:00Z", "@jonas"),
                             ("2026-11-24T15:50:00Z", "@sarah")]
    assert len(await result.rows(Timer, Timer.kind == "ping:repeat")) == 1


async def test_a_requesters_prio_1_is_confirmed_by_the_phone_duty_before_the_standby_is_paged(tmp_path,
                                                                                              db_url) -> None:
    result = await run(tmp_path, None, [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"after": "3m", "user": "lea", "action": "confirm", "ticket": "HW-1"},
        {"after": "1m", "user": "kim", "dm": True, "text": "/ticket -p1 my mouse is slow"},
        {"after": "1m", "user": "lea", "dm": True, "text": "/ticket priority HW-2 3"},
        {"after": "1m", "user": "paul", "dm": True, "text": "/ticket -p1 the build server is down"},
        UNTIL,
    ], start=TUESDAY, config=agency(requester_p1="confirm"), db_url=db_url)
    assert result.errors() == []
    receipt = result.about(kind="receipt", ticket="HW-1")[0]["text"]
    assert receipt.endswith(t("en", "ticket.next_p1_confirm", key="HW-1"))
    asked, paged = result.about(kind="ping", ticket="HW-1")[:2]
    assert (asked["to"], asked["buttons"], paged["to"], paged["at"]) == ("@lea", ["confirm"], "@jonas",
                                                                        "2026-11-24T15:23:00Z")
    assert pings(result, "HW-2") == [("2026-11-24T15:24:00Z", "@lea")]   # lowered: nobody else is bothered
    assert pings(result, "HW-3")[0] == ("2026-11-24T15:26:00Z", "@jonas")  # the team's own Prio-1 pages at once


async def test_an_unconfirmed_prio_1_is_asked_again_then_goes_to_the_coordinator(tmp_path, db_url) -> None:
    result = await run(tmp_path, None, [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        UNTIL,
    ], start=TUESDAY, config=agency(requester_p1="confirm"), db_url=db_url)
    assert pings(result) == [("2026-11-24T15:20:00Z", "@lea"), ("2026-11-24T15:35:00Z", "@lea"),
                             ("2026-11-24T15:50:00Z", "@sarah")]
    told = result.texts(kind="ping", to="@sarah", ticket="HW-1")
    # the coordinator gets Lea's number to call her
    assert told == [t("en", "escalation.confirm_coordinator", key="HW-1", who="Lea (+49 30 5550 2102)", prefix="/")]
