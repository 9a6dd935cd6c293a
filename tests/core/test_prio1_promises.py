"""The Prio-1 flow does what it says (issue #16): the receipt promises only what will happen, a Prio-1 outside
the duty window reaches a person, and re-pings and the coordinator follow the duty window. The whole bot runs
the agency's example desk through the simulator.

On Tuesday 2026-11-24 Lea has the phone duty and Jonas the emergency standby, on Wednesday the other way
round; duty runs 16:00-18:00 Berlin time; Sarah coordinates."""

from __future__ import annotations

import tomllib

from workflow_sim import EXAMPLES, run

TUESDAY = "2026-11-24T15:50:00+01:00"
LEA, JONAS = "+49 30 5550 2102", "+49 30 5550 2101"


def pings(result, ticket: str = "HW-1") -> list[tuple[str, str]]:
    return [(line["at"], line["to"]) for line in result.about(kind="ping", ticket=ticket)]


def agency(**duty: object) -> dict:
    config = tomllib.loads((EXAMPLES / "agency" / "dutydesk.toml").read_text(encoding="utf-8"))
    for key, value in duty.items():
        if value is None:
            config["duty"].pop(key, None)
        else:
            config["duty"][key] = value
    config["storage"] = {}
    return config


def to_kim(result) -> list[str]:
    return [line["text"] for line in result.lines if "text" in line and line.get("to") in ("@kim", "ticket:HW-1")]


async def test_during_duty_the_receipt_promises_the_standby_at_once(tmp_path) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
    ], start=TUESDAY)
    receipt = result.texts(kind="receipt")[0]
    assert "the person on emergency standby is told at once" in receipt
    assert pings(result) == [("2026-11-24T15:20:00Z", "@jonas")]


async def test_outside_duty_the_coordinator_is_told_at_once_and_the_next_standby_at_the_start(tmp_path) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T19:30:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-25T16:10:00+01:00"},
    ], start=TUESDAY)
    assert result.errors() == []
    receipt = result.texts(kind="receipt")[0]
    assert "nobody is on duty right now" in receipt and "duty coordinator is told at once" in receipt
    assert "the person on emergency standby when duty starts, Wed 25 Nov, 16:00" in receipt
    assert "told at once" not in receipt.replace("coordinator is told at once", "")
    # never "if it is an emergency, open a ticket with priority 1" to somebody who just did
    assert not [text for text in to_kim(result) if "emergency, open" in text or "-p1" in text]
    # the coordinator at once, with the button to acknowledge; Wednesday's standby (Lea) at 16:00
    assert pings(result) == [("2026-11-24T18:30:00Z", "@sarah"), ("2026-11-24T18:30:00Z", "#support-duty"),
                             ("2026-11-25T15:00:00Z", "@lea")]
    coordinator = result.about(kind="ping", to="@sarah", ticket="HW-1")[0]
    assert coordinator["buttons"] == ["ack"] and "Wed 25 Nov, 16:00" in coordinator["text"]
    assert result.has("Sarah (coordinator) is told", to="#support-duty")


async def test_the_coordinators_acknowledgement_ends_it(tmp_path) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T19:30:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"after": "5m", "user": "sarah", "action": "ack", "ticket": "HW-1"},
        {"until": "2026-11-25T17:30:00+01:00"},
    ], start=TUESDAY)
    assert pings(result) == [("2026-11-24T18:30:00Z", "@sarah"), ("2026-11-24T18:30:00Z", "#support-duty")]


async def test_without_a_coordinator_the_next_windows_standby_is_paged_at_its_start(tmp_path) -> None:
    result = await run(tmp_path, None, [
        {"at": "2026-11-24T10:00:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-24T16:10:00+01:00"},
    ], start="2026-11-24T09:00:00+01:00", config=agency(coordinator=None))
    assert result.errors() == []
    receipt = result.texts(kind="receipt")[0]
    assert "duty channel is told now, and the person on emergency standby when duty starts, Tue 24 Nov, 16:00" \
        in receipt and "coordinator" not in receipt
    assert pings(result) == [("2026-11-24T09:00:00Z", "#support-duty"), ("2026-11-24T15:00:00Z", "@jonas")]


async def test_a_page_at_1755_follows_the_duty_window(tmp_path) -> None:
    """Jonas is paged at 17:55; his duty ends at 18:00: no repeat to him at 18:10, the coordinator is told at
    18:00 that nobody on duty has it, and Wednesday's standby (Lea) gets it when duty starts."""
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T17:55:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-25T16:20:00+01:00"},
    ], start=TUESDAY)
    assert result.errors() == []
    assert pings(result) == [
        ("2026-11-24T16:55:00Z", "@jonas"),
        ("2026-11-24T17:00:00Z", "@sarah"),          # duty ended unacknowledged: the coordinator at once
        ("2026-11-24T17:00:00Z", "#support-duty"),
        ("2026-11-25T15:00:00Z", "@lea"),            # Wednesday's standby at the start of duty
        ("2026-11-25T15:15:00Z", "@lea"),            # and her repeat, within her duty
    ]
    ended = result.about(kind="ping", to="@sarah", ticket="HW-1")[0]["text"]
    assert "still not acknowledged, and nobody is on duty now" in ended and "Wed 25 Nov, 16:00" in ended


async def test_the_pings_name_the_others_phone_and_the_standbys_notes_reach_the_phone_duty(tmp_path) -> None:
    result = await run(tmp_path, "agency", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"after": "2m", "user": "jonas", "channel": "#support-duty", "text": "/ticket take HW-1"},
        {"after": "3m", "user": "jonas", "channel": "#support-duty",
         "text": "/ticket note HW-1 restarting the wiki server, back in 10 minutes"},
        {"after": "1m", "user": "lea", "channel": "#support-duty",
         "text": "/ticket note HW-1 called the customer back"},
    ], start=TUESDAY)
    ping = result.about(kind="ping", to="@jonas")[0]["text"]
    assert f"Lea ({LEA})" in ping
    assert result.has(f"forwarded to Jonas ({JONAS}) on emergency standby", to="@lea")
    assert result.has("restarting the wiki server, back in 10 minutes", to="@lea")
    # the phone duty's own note is not sent back to them, and no note reaches the requester
    assert not result.has("called the customer back", to="@lea")
    assert not [text for text in to_kim(result) if "restarting" in text]


async def test_a_desk_with_one_duty_role_hands_over_without_a_standby_and_pages_its_phone_duty(tmp_path) -> None:
    """The PR vendor's duty is one role, the phone line, 09:00-17:00: the handover names no "emergency standby:
    nobody" and asks nobody to confirm it (nobody hands over); a Prio-1 reaches the phone duty, and the receipt
    says so."""
    result = await run(tmp_path, "pr-vendor", [
        {"at": "2026-11-25T10:00:00+01:00", "user": "kunde", "dm": True, "text": "/ticket -p1 Versand geht nicht"},
        {"until": "2026-11-25T11:00:00+01:00"},
    ], start="2026-11-25T08:55:00+01:00")
    assert result.errors() == []
    (handover,) = result.about(kind="handover")
    assert handover["text"].startswith("Dienstbeginn Mi., 25. Nov., 09:00: Telefondienst und Ticketeingang ")
    assert "Notfallbereitschaft" not in handover["text"] and "niemand" not in handover["text"]
    assert "buttons" not in handover
    assert not result.about(kind="ping", ticket=None)  # no "nobody confirmed the handover" at 09:30
    ping = result.about(kind="ping", ticket="KS-1")[0]
    assert ping["to"] == "@daniel" and "Du hast Telefondienst" in ping["text"] and ping["buttons"] == ["ack"]
    assert "Prio-1: Der Telefondienst wird sofort informiert." in result.texts(kind="receipt")[0]
    # unacknowledged at 10:30 on a desk without a coordinator: the channel is asked to take it, and not told that
    # "no coordinator could be reached"
    (unanswered,) = result.about(kind="ping", ticket="KS-1", to="#kundenservice-intern")
    assert "Koordination" not in unanswered["text"] and "/ticket take KS-1" in unanswered["text"]


async def test_a_requesters_prio1_to_be_confirmed_outside_duty_goes_to_the_next_phone_duty(tmp_path) -> None:
    """With requester_p1 = "confirm" the phone duty checks a requester's Prio-1 first: outside duty the
    coordinator is told at once and Wednesday's phone duty (Jonas) is asked to confirm it at 16:00."""
    result = await run(tmp_path, None, [
        {"at": "2026-11-24T19:30:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-25T16:05:00+01:00"},
    ], start=TUESDAY, config=agency(requester_p1="confirm"))
    assert result.errors() == []
    receipt = result.texts(kind="receipt")[0]
    assert "duty coordinator is told at once, and the phone duty, who checks it and alerts the emergency " \
        "standby, when duty starts, Wed 25 Nov, 16:00" in receipt
    assert pings(result) == [("2026-11-24T18:30:00Z", "@sarah"), ("2026-11-24T18:30:00Z", "#support-duty"),
                             ("2026-11-25T15:00:00Z", "@jonas")]
    assert result.about(kind="ping", to="@jonas")[0]["buttons"] == ["confirm"]
