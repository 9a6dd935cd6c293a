"""Outbound delivery to Slack: rate limits (429 + Retry-After), permanent errors with reasons that
say what to fix, the ephemeral fallbacks and removing messages. The outbox runs on the bot's
virtual clock, so a Retry-After is honoured by moving that clock, not by sleeping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from slack_harness import SlackHarness
from slack_sdk.errors import SlackApiError

from adapters.slack import app as slack_app
from bot.core.types import Button, OutboundMessage, Platform, Removal, Target, Visibility
from bot.infra.outbox import DeliveryError, enqueue
from storage.models import OutboxMessage, ProcessedEvent, Ticket


async def put(slack: SlackHarness, target: Target, *texts: str, kind: str = "notice") -> None:
    async with slack.bot.desk.sessions.begin() as session:
        for text in texts:
            enqueue(session, slack.clock.now(), target, text, kind=kind, visibility=Visibility.PUBLIC)


DUTY = Target(kind="channel", platform=Platform.SLACK, channel_id="#support-duty")


async def test_a_429_storm_loses_nothing_and_keeps_the_order(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=1, times=5)
    await put(slack, DUTY, "m1", "m2", "m3", "m4")

    await slack.bot.outbox.drain()
    [first] = await slack.rows(OutboxMessage, OutboxMessage.text == "m1")
    assert first.status == "pending" and first.next_attempt_at == slack.clock.now() + timedelta(seconds=1)
    calls = len(slack.fake.calls)
    await slack.bot.outbox.drain()  # Retry-After not over yet: nothing is tried
    assert len(slack.fake.calls) == calls

    for _ in range(20):
        if not await slack.count(OutboxMessage, OutboxMessage.status == "pending"):
            break
        slack.clock.advance(timedelta(seconds=1))
        await slack.bot.outbox.drain()
    assert [p["text"] for p in slack.fake.to("chat.postMessage")] == ["m1", "m2", "m3", "m4"]
    assert len(slack.fake.to("chat.postMessage", ok=False)) == 5
    rows = await slack.rows(OutboxMessage, order=OutboxMessage.id)
    assert [r.status for r in rows] == ["sent"] * 4


async def test_the_sdk_absorbs_a_short_rate_limit(make_slack) -> None:
    slack = await make_slack(rate_limit_retries=1)
    slack.fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=1, times=1)
    await put(slack, DUTY, "hello")
    assert await slack.bot.outbox.drain() == 1  # one outbox attempt: the SDK waited and retried
    [row] = await slack.rows(OutboxMessage)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_a_long_retry_after_goes_back_to_the_outbox_at_once(make_slack) -> None:
    slack = await make_slack(rate_limit_retries=1)
    slack.fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=30, times=1)
    await put(slack, DUTY, "hello")
    assert await slack.bot.outbox.drain() == 0
    [row] = await slack.rows(OutboxMessage)
    assert row.status == "pending" and row.next_attempt_at == slack.clock.now() + timedelta(seconds=30)
    assert len(slack.fake.to("chat.postMessage", ok=False)) == 1  # not retried while holding the outbox


async def test_not_in_channel_is_dead_and_reported_with_what_to_do(slack: SlackHarness) -> None:
    # rita asked something in #random; the bot is no member there
    await slack.command("show HW-9", channel="C0RANDOM", channel_name="random")
    await slack.settle()
    slack.fake.fail("chat.postMessage", "not_in_channel", times=0, when={"channel": "C0RANDOM"})
    await put(slack, Target(kind="channel", platform=Platform.SLACK, channel_id="C0RANDOM"), "public answer",
              kind="reply")
    await slack.settle()

    [dead] = await slack.rows(OutboxMessage, OutboxMessage.status == "dead")
    assert dead.attempts == 1  # permanent: no retries
    assert "/invite @dutydesk" in (dead.last_error or "")
    [report] = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY"]
    assert f"Message {dead.id}" in report and "/invite @dutydesk" in report
    assert "public answer" not in report  # never the content
    told = [body["text"] for _id, body in slack.fake.responses]
    assert any("/invite @dutydesk" in text for text in told)  # the person who asked, through their response_url


async def test_missing_scope_names_the_scope(slack: SlackHarness) -> None:
    slack.fake.fail("conversations.create", "missing_scope", times=0, needed="groups:write",
                    provided="chat:write,commands")
    await slack.command("printer on fire")
    await slack.settle()
    [dead] = await slack.rows(OutboxMessage, OutboxMessage.status == "dead")
    assert dead.target_kind == "ticket"
    assert "groups:write" in (dead.last_error or "") and "reinstall" in (dead.last_error or "")
    assert any("groups:write" in p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY")


async def test_a_revoked_token_says_which_variable_to_fix(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", "invalid_auth", times=1)
    await put(slack, DUTY, "hello")
    await slack.bot.outbox.drain()
    [row] = await slack.rows(OutboxMessage, OutboxMessage.text == "hello")
    assert row.status == "dead" and "DUTYDESK_SLACK__BOT_TOKEN" in (row.last_error or "")


async def test_ephemeral_where_the_bot_is_no_member_uses_the_response_url(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postEphemeral", "channel_not_found", times=0)
    await slack.command("printer on fire", channel="C0SECRET", channel_name="privategroup")
    await slack.settle()
    assert await slack.count(OutboxMessage, OutboxMessage.status == "dead") == 0
    assert any("HW-1 is open" in body["text"] and body["response_type"] == "ephemeral"
               for _id, body in slack.fake.responses)


async def test_ephemeral_without_a_response_url_falls_back_to_a_dm(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postEphemeral", "not_in_channel", times=0)
    await slack.interactive({
        "type": "block_actions", "user": {"id": "U0REQ", "username": "rita"},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0RANDOM"},
        "channel": {"id": "C0RANDOM", "name": "random"},
        "actions": [{"action_id": "show", "type": "button", "value": "HW-9", "action_ts": "1.3"}],
    })
    await slack.settle()
    [dm] = [p for p in slack.fake.to("chat.postMessage") if p["channel"].startswith("D")]
    assert dm["channel"] == "D0REQ" and "HW-9" in dm["text"]


async def test_buttons_become_block_kit_actions(slack: SlackHarness) -> None:
    buttons = (Button(action="take", label="Take", value="HW-1"), Button(action="rate", label="Good", value="HW-1:5"),
               Button(action="rate", label="Bad", value="HW-1:1"))
    await slack.adapter.send(OutboundMessage(id=1, target=DUTY, text="New ticket HW-1", kind="notice",
                                             visibility=Visibility.PRIVATE, buttons=buttons))
    [post] = slack.fake.to("chat.postMessage")
    actions = post["blocks"][-1]
    assert actions["type"] == "actions"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("take", "HW-1"), ("rate", "HW-1:5"), ("rate~2", "HW-1:1")]
    # pressing the second "rate" button arrives as the core's action "rate"
    await slack.interactive({
        "type": "block_actions", "user": {"id": "U0REQ", "username": "rita"},
        "container": {"type": "message", "message_ts": post.get("ts", "1.1"), "channel_id": "C0DUTY"},
        "channel": {"id": "C0DUTY"},
        "actions": [{"action_id": "rate~2", "type": "button", "value": "HW-1:1", "action_ts": "1.5"}],
    })
    await slack.settle()
    [row] = await slack.rows(ProcessedEvent)
    assert (row.payload["kind"], row.payload["name"], row.payload["value"]) == ("action", "rate", "HW-1:1")
    assert row.payload["channel"]["channel_id"] == "#support-duty"


async def test_removing_a_public_message_uses_the_admin_user_token(make_slack) -> None:
    slack = await make_slack(user_token=True)
    removal = Removal(id=7, target=Target(kind="channel", platform=Platform.SLACK, channel_id="#general"),
                      message_id="1700.1")
    assert await slack.adapter.remove(removal) == "1700.1"
    [call] = [c for c in slack.fake.calls if c.method == "chat.delete"]
    assert (call.params["channel"], call.params["ts"], call.token) == ("C0GEN", "1700.1", "xoxp-admin-token")


async def test_without_a_user_token_removal_is_refused_with_the_variable_to_set(slack: SlackHarness) -> None:
    removal = Removal(id=7, target=Target(kind="channel", platform=Platform.SLACK, channel_id="#general"),
                      message_id="1700.1")
    with pytest.raises(DeliveryError) as caught:
        await slack.adapter.remove(removal)
    assert caught.value.permanent and "DUTYDESK_SLACK__USER_TOKEN" in caught.value.reason


async def test_a_configured_channel_the_bot_cannot_see_is_permanent(slack: SlackHarness) -> None:
    msg = OutboundMessage(id=3, target=Target(kind="channel", platform=Platform.SLACK, channel_id="#nowhere"),
                          text="x", kind="notice", visibility=Visibility.PUBLIC)
    with pytest.raises(DeliveryError) as caught:
        await slack.adapter.send(msg)
    assert caught.value.permanent and "#nowhere" in caught.value.reason and "/invite" in caught.value.reason


async def test_a_slow_thread_lookup_does_not_hold_the_ack(slack: SlackHarness, monkeypatch) -> None:
    monkeypatch.setattr(slack_app, "THREAD_TIMEOUT", 0.05)
    slack.fake.slow("conversations.replies", 0.5)
    status, _ = await slack.event({"type": "reaction_added", "user": "U0ANNA", "reaction": "ticket",
                                   "item": {"type": "message", "channel": "C0GEN", "ts": "1700000900.000100"}})
    assert status == 200
    await slack.settle()
    [row] = await slack.rows(ProcessedEvent)
    assert row.payload["kind"] == "reaction" and row.payload["thread"] == []
    assert await slack.count(Ticket) == 0  # nothing to move without the thread; the person is told


async def test_a_slash_command_is_still_answered_when_the_database_is_down(slack: SlackHarness, monkeypatch) -> None:
    async def broken(_events):
        raise OSError("disk full")

    monkeypatch.setattr(slack.bot.dispatcher, "accept_many", broken)
    status, body = await slack.command("printer on fire")
    assert status == 200 and "try again" in body


def test_slack_api_error_classification() -> None:
    from adapters.slack.errors import delivery_error

    class Response(dict):
        def __init__(self, status: int, data: dict, headers: dict | None = None) -> None:
            super().__init__(data)
            self.status_code, self.data, self.headers = status, data, headers or {}

    def err(status: int, data: dict, headers: dict | None = None) -> DeliveryError:
        return delivery_error(SlackApiError("x", Response(status, {"ok": False, **data}, headers)), channel="#x")

    assert err(429, {"error": "ratelimited"}, {"Retry-After": "7"}).retry_after == 7
    assert not err(500, {"error": "internal_error"}).permanent
    assert err(200, {"error": "account_inactive"}).permanent
    assert "groups:read" in err(200, {"error": "missing_scope", "needed": "groups:read"}).reason
    assert "/invite @dutydesk" in err(200, {"error": "not_in_channel"}).reason
    assert "#x" in err(200, {"error": "channel_not_found"}).reason
    assert not delivery_error(TimeoutError()).permanent
