"""The Slack ticket modal asks each topic's ``[[intake]]`` fields (the pr-vendor example's rules):
choosing the topic updates the open modal (views.update), the topic's fields are required in the
modal (``response_action: errors``), and the answers go to the ticket's documentation, so the bot
does not ask for them again."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from slack_harness import Factory, SlackHarness

from storage.models import Ticket

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = tomllib.loads((ROOT / "examples" / "pr-vendor" / "dutydesk.toml").read_text(encoding="utf-8"))
# the example's intake rules verbatim; its routing topics, assigned to the test desk's people
SECTIONS = {"intake": EXAMPLE["intake"],
            "routing": [{"topic": rule["topic"], "keywords": rule.get("keywords", []), "assignees": ["anna"]}
                        for rule in EXAMPLE["routing"]]}
SUPPORT = "prg-support"
SUPPORT_FIELDS = next(rule["required"] for rule in EXAMPLE["intake"] if rule["topic"] == SUPPORT)


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b["block_id"] for b in view["blocks"]]


def state(view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The ``state.values`` Slack sends for ``view`` with ``values`` filled in (selects by value)."""
    result: dict[str, Any] = {}
    for block in view["blocks"]:
        name, element = block["block_id"], block["element"]
        value = values.get(name)
        if element["type"] == "static_select":
            result[name] = {name: {"type": "static_select",
                                   "selected_option": {"value": value} if value else None}}
        else:
            result[name] = {name: {"type": "plain_text_input", "value": value}}
    return result


def view_payload(kind: str, view: dict[str, Any], values: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"type": kind, "team": {"id": "T0TEAM"}, "api_app_id": "A0APP",
            "user": {"id": "U0REQ", "username": "rita", "name": "rita", "team_id": "T0TEAM"},
            "view": {"id": "V0FORM1", "hash": "1.abc", **view, "state": {"values": state(view, values)}}, **extra}


async def open_form(slack: SlackHarness) -> dict[str, Any]:
    await slack.command("", channel="C0RANDOM", channel_name="random")
    [opened] = slack.fake.to("views.open")
    return opened["view"]


async def test_choosing_a_topic_shows_its_fields_which_the_modal_requires(make_slack: Factory) -> None:
    slack = await make_slack(**SECTIONS)
    view = await open_form(slack)
    assert block_ids(view)[0] == "topic"  # the topic decides what is asked: first
    topic = view["blocks"][0]
    assert topic["dispatch_action"] is True
    assert [o["value"] for o in topic["element"]["options"]] == [r["topic"] for r in EXAMPLE["routing"]]
    assert "connection" not in block_ids(view)  # no topic chosen: only the base fields

    # choosing the topic: a block_actions request from the open modal → views.update with its fields
    typed = {"description": "Press release stuck in the queue since Monday"}
    status, _ = await slack.interactive(view_payload("block_actions", view, {**typed, "topic": SUPPORT}, actions=[{
        "type": "static_select", "action_id": "topic", "block_id": "topic",
        "selected_option": {"text": {"type": "plain_text", "text": SUPPORT}, "value": SUPPORT},
        "action_ts": "1700000600.000100"}], container={"type": "view", "view_id": "V0FORM1"}))
    assert status == 200
    await slack.settle()
    [update] = slack.fake.to("views.update")
    assert (update["view_id"], update["hash"]) == ("V0FORM1", "1.abc")
    updated = update["view"]
    shown = block_ids(updated)
    assert set(SUPPORT_FIELDS) - {"os", "browser"} <= set(shown) and {"os", "browser"} <= set(shown)
    assert "environment" not in shown  # asked as operating system and browser one by one
    required = {b["block_id"] for b in updated["blocks"] if not b["optional"]}
    assert required == {"description", *SUPPORT_FIELDS}
    assert updated["blocks"][0]["element"]["initial_option"]["value"] == SUPPORT
    assert json.loads(updated["private_metadata"]) == json.loads(view["private_metadata"])
    assert not await slack.rows(Ticket)  # choosing a topic is no core event

    # submitted with the topic's fields empty: errors in the modal, on exactly those fields
    partly = {**typed, "topic": SUPPORT, "urgency": "SHOW-STOPPER", "steps": "1. upload\n2. send"}
    status, body = await slack.interactive(view_payload("view_submission", updated, partly))
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"os", "browser", "connection", "reachability", "frequency"}
    await slack.settle()
    assert await slack.count(Ticket) == 0

    full = {**partly, "os": "Windows 11", "browser": "Firefox 133", "connection": "LAN",
            "reachability": "mornings, +49 30 1234567", "frequency": "every release since Monday"}
    status, body = await slack.interactive(view_payload("view_submission", updated, full))
    assert (status, body) == (200, "")
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.topic == SUPPORT and ticket.priority == 1
    assert ticket.data["doc"] == {"steps": "1. upload\n2. send", "urgency": "SHOW-STOPPER", "os": "Windows 11",
                                  "browser": "Firefox 133", "connection": "LAN",
                                  "reachability": "mornings, +49 30 1234567",
                                  "frequency": "every release since Monday"}
    said = [p["text"] for p in slack.fake.to("chat.postMessage") + slack.fake.to("chat.postEphemeral")]
    assert not [text for text in said if "we need" in text]  # nothing left to ask


async def test_a_submission_before_the_update_arrived_is_shown_the_topics_fields(make_slack: Factory) -> None:
    slack = await make_slack(**SECTIONS)
    view = await open_form(slack)
    status, body = await slack.interactive(view_payload("view_submission", view, {
        "description": "Press release stuck in the queue since Monday", "topic": SUPPORT,
        "urgency": "NICE TO HAVE"}))
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "update"
    assert {"connection", "reachability", "frequency"} <= set(block_ids(answer["view"]))
    await slack.settle()
    assert await slack.count(Ticket) == 0


async def test_a_topic_without_rules_keeps_the_base_form(make_slack: Factory) -> None:
    slack = await make_slack(**SECTIONS)
    view = await open_form(slack)
    await slack.interactive(view_payload("view_submission", view, {
        "description": "Please send me an offer for the premium package", "topic": "prg-vertrieb",
        "urgency": "NICE TO HAVE"}))
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.topic == "prg-vertrieb" and ticket.data["doc"] == {"urgency": "NICE TO HAVE"}
