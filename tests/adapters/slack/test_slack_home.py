"""The App Home tab (#17), end to end through signed requests into the bolt app and the fake Web API: a "New
ticket" button that opens the ticket form, the person's tickets with their state, refreshed when one of them
changes; nobody sees anybody else's tickets there, and a title cannot ping from it."""

from __future__ import annotations

import json
from typing import Any

from slack_harness import SlackHarness

from storage.models import OutboxMessage, Ticket


def home_of(slack: SlackHarness, user: str) -> list[dict[str, Any]]:
    return [p["view"] for p in slack.fake.to("views.publish") if p["user_id"] == user]


def shown(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")


async def open_home(slack: SlackHarness, user: str) -> None:
    await slack.event({"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"})
    await slack.settle()


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def choice(value: str | None) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value} if value else None}


async def test_the_home_tab_offers_a_new_ticket_and_lists_ones_own_tickets_kept_current(slack: SlackHarness
                                                                                        ) -> None:
    await slack.command("printer on fire")
    await slack.command("<!here> scanner jammed", user="U0BEN", user_name="ben")
    await slack.settle()
    await open_home(slack, "U0REQ")
    [home] = home_of(slack, "U0REQ")
    assert home["type"] == "home"
    [button] = home["blocks"][0]["elements"]
    assert (button["action_id"], button["text"]["text"]) == ("home_new_ticket", "New ticket")
    assert "HW-1" in shown(home) and "new" in shown(home) and "printer on fire" in shown(home)
    assert "HW-2" not in json.dumps(home)   # Ben's ticket is not Rita's business

    # the button opens the ticket form; submitted, the ticket is Rita's, answered in her direct chat
    status, body = await slack.interactive({
        "type": "block_actions", "user": {"id": "U0REQ", "username": "rita", "name": "rita", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "container": {"type": "view", "view_id": home.get("id", "V1")},
        "view": {"id": "V0HOME", "type": "home", "callback_id": "", "blocks": home["blocks"]},
        "actions": [{"action_id": "home_new_ticket", "block_id": "home_actions", "type": "button", "value": "new",
                     "action_ts": "1700000300.000001"}]})
    assert (status, body) == (200, "")
    [opened] = slack.fake.to("views.open")
    view = opened["view"]
    assert view["callback_id"] == "ticket" and "for" not in [b["block_id"] for b in view["blocks"]]
    values = {"description": {"description": text("VPN drops every hour")},
              "steps": {"steps": text("connect")}, "object_id": {"object_id": text("-")},
              "environment": {"environment": text("Windows 11")}, "urgency": {"urgency": choice("NICE TO HAVE")},
              "topic": {"topic": text("")}, "priority": {"priority": choice(None)}}
    status, body = await slack.interactive({
        "type": "view_submission", "team": {"id": "T0TEAM"}, "api_app_id": "A0APP",
        "user": {"id": "U0REQ", "username": "rita", "name": "rita", "team_id": "T0TEAM"},
        "view": {"id": "V0FORM1", "type": "modal", "callback_id": "ticket", "hash": "1.abc",
                 "private_metadata": view["private_metadata"], "blocks": view["blocks"],
                 "state": {"values": {k: v for k, v in values.items()
                                      if k in {b["block_id"] for b in view["blocks"]}}}}})
    assert (status, body) == (200, "")
    await slack.settle()
    tickets = {t.key: t for t in await slack.rows(Ticket)}
    assert tickets["HW-3"].title == "VPN drops every hour" and tickets["HW-3"].origin_channel == "U0REQ"
    [receipt] = [p for p in slack.fake.to("chat.postMessage") if p["channel"] == "D0REQ"]
    assert receipt["text"].startswith("Ticket HW-3 is open")
    # her tab was refreshed with the new ticket
    latest = home_of(slack, "U0REQ")[-1]
    assert "HW-3" in shown(latest) and "HW-1" in shown(latest)

    # Anna takes HW-1: Rita's tab shows it in progress; Ben never opened his tab, so nothing is published for him
    before = len(home_of(slack, "U0REQ"))
    await slack.command("take HW-1", user="U0ANNA", user_name="anna", channel="C0DUTY", channel_name="support-duty")
    await slack.settle()
    assert len(home_of(slack, "U0REQ")) == before + 1
    assert "HW-1" in shown(home_of(slack, "U0REQ")[-1]) and "in progress" in shown(home_of(slack, "U0REQ")[-1])
    assert home_of(slack, "U0BEN") == [] and home_of(slack, "U0ANNA") == []
    # a note changes neither state, priority nor assignee: no refresh
    await slack.command("note HW-1 checked", user="U0ANNA", user_name="anna", channel="C0DUTY",
                        channel_name="support-duty")
    await slack.settle()
    assert len(home_of(slack, "U0REQ")) == before + 1

    # Ben's tab: his ticket, its title's <!here> shown as text
    await open_home(slack, "U0BEN")
    ben = json.dumps(home_of(slack, "U0BEN")[-1])
    assert "HW-2" in ben and "HW-1" not in ben and "<!here>" not in ben and "@here" not in ben


async def test_the_teams_tab_shows_what_is_assigned_to_them_and_follows_assignments(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.settle()
    await open_home(slack, "U0CARLA")
    assert "HW-1" not in shown(home_of(slack, "U0CARLA")[-1])
    assert home_of(slack, "U0CARLA")[-1]["blocks"][0]["elements"][0]["text"]["text"] == "Neues Ticket"  # German
    await slack.command("assign HW-1 @carla", user="U0ANNA", user_name="anna", channel="C0DUTY",
                        channel_name="support-duty")
    await slack.settle()
    assert "HW-1" in shown(home_of(slack, "U0CARLA")[-1])


async def test_a_failing_publish_holds_no_delivery(slack: SlackHarness) -> None:
    await open_home(slack, "U0REQ")
    slack.fake.fail("views.publish", "internal_error", times=0)
    await slack.command("printer on fire")
    await slack.settle()
    assert await slack.rows(OutboxMessage, OutboxMessage.status != "sent") == []
    assert slack.fake.to("conversations.setTopic")   # the topic was set; only the tab could not be refreshed
