"""#17: a button once used is replaced by what happened (chat.update of the message that offered it), wherever
that message is: a ticket's private channel, a DM. Signed requests into the real bolt app, the fake Web API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.uow import unit_of_work
from storage.models import KeyValue, OutboxMessage


def press(message: dict[str, Any], channel: str, action: str, value: str, user: str = "U0REQ") -> dict[str, Any]:
    return {
        "type": "block_actions", "user": {"id": user, "username": "rita", "name": "rita", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                                             "is_ephemeral": False},
        "channel": {"id": channel, "name": "hw-1"}, "message": {"type": "message", "ts": message["ts"],
                                                                "text": message["text"]},
        "actions": [{"action_id": action, "block_id": "b1", "type": "button", "value": value,
                     "text": {"type": "plain_text", "text": action}, "action_ts": "1700000300.000001"}],
    }


def actions_of(call: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in call.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def asked(make_slack: Any) -> tuple[Any, str, dict[str, Any]]:
    """A ticket solved by Anna: the bot, its private channel, and the satisfaction question posted there (with the
    ts the bot got back for it)."""
    slack = await make_slack(resolution={"ask_feedback": True})
    await slack.command("printer on fire")
    await slack.settle()
    await slack.command("solve HW-1 new toner", user="U0ANNA", user_name="anna", channel="C0DUTY",
                        channel_name="support-duty")
    await slack.settle()
    space = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    [question] = [p for p in slack.fake.to("chat.postMessage") if p["channel"] == space and actions_of(p)]
    async with unit_of_work(slack.bot.desk) as unit:
        ts = await unit.session.scalar(select(OutboxMessage.platform_ref).where(
            OutboxMessage.ticket_key == "HW-1", OutboxMessage.kind == "feedback"))
    return slack, space, {**question, "ts": ts}


async def test_the_satisfaction_answer_replaces_the_questions_buttons(make_slack: Any) -> None:
    slack, space, question = await asked(make_slack)
    assert actions_of(question) == ["satisfied", "notfixed"]
    status, _ = await slack.interactive(press(question, space, "satisfied", "HW-1"))
    assert status == 200
    await slack.settle()
    [update] = [u for u in slack.fake.to("chat.update") if u["channel"] == space]
    assert update["ts"] == question["ts"] and actions_of(update) == []
    assert update["text"].startswith(question["text"]) and update["text"].endswith("✓ Satisfied (rita)")
    # a second press of the old button (a stale client) changes nothing more and opens nothing
    status, _ = await slack.interactive(press(question, space, "satisfied", "HW-1"))
    await slack.settle()
    assert len([u for u in slack.fake.to("chat.update") if u["channel"] == space]) == 1


async def test_somebody_elses_press_changes_nothing(make_slack: Any) -> None:
    """Only a press that did its work spends the button: Ben may not answer Rita's question."""
    slack, space, question = await asked(make_slack)
    await slack.interactive(press(question, space, "satisfied", "HW-1", user="U0BEN"))
    await slack.settle()
    assert [u for u in slack.fake.to("chat.update") if u["channel"] == space] == []

