"""Socket Mode: the real slack_sdk Socket Mode client connects to a fake Slack websocket on loopback
(``apps.connections.open`` → ``ws://127.0.0.1:…``); envelopes go through the same bolt app and are
acknowledged only after the inbox row is stored."""

from __future__ import annotations

from slack_harness import APP_TOKEN, SlackHarness

from storage.models import ProcessedEvent, Ticket


def command_payload(text: str, trigger: str) -> dict[str, str]:
    return {"token": "legacy", "team_id": "T0TEAM", "team_domain": "example", "channel_id": "C0GEN",
            "channel_name": "general", "user_id": "U0REQ", "user_name": "rita", "command": "/ticket", "text": text,
            "api_app_id": "A0APP", "response_url": "https://hooks.invalid/x", "trigger_id": trigger}


def dm_payload(event_id: str, text: str, user: str = "U0REQ") -> dict:
    return {"token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
            "event_id": event_id, "event_time": 1700000000,
            "event": {"type": "message", "channel": "D" + user.removeprefix("U"), "channel_type": "im", "user": user,
                      "text": text, "ts": "1700001000.000100"}}


async def test_socket_mode_commands_and_events(slack: SlackHarness) -> None:
    await slack.runtime.start_socket(APP_TOKEN)
    await slack.fake.connected()
    assert any(c.method == "apps.connections.open" and c.token == APP_TOKEN for c in slack.fake.calls)

    ack = await slack.fake.socket_send("slash_commands", command_payload("printer on fire", "1.2.3"))
    assert "payload" not in ack or not ack["payload"]  # an empty ack: the receipt comes as an ephemeral message
    # another requester (the first one's DM would join their ticket just opened: a follow-up)
    ack = await slack.fake.socket_send("events_api", dm_payload("Ev0SOCK1", "vpn drops every hour", "U0DORA"))
    # Slack redelivers an envelope that was not acknowledged in time: same event id, retry_attempt 1
    await slack.fake.socket_send("events_api", dm_payload("Ev0SOCK1", "vpn drops every hour", "U0DORA"),
                                 retry_attempt=1)
    await slack.settle()

    titles = sorted(t.title for t in await slack.rows(Ticket))
    assert titles == ["printer on fire", "vpn drops every hour"]
    assert await slack.count(ProcessedEvent) == 2
    assert any("HW-" in p["text"] for p in slack.fake.to("chat.postEphemeral"))


async def test_socket_mode_form_validation_errors_travel_back_in_the_ack(slack: SlackHarness) -> None:
    await slack.runtime.start_socket(APP_TOKEN)
    await slack.fake.connected()
    ack = await slack.fake.socket_send("interactive", {
        "type": "view_submission", "user": {"id": "U0REQ", "username": "rita"}, "trigger_id": "9.9",
        "view": {"id": "V1", "type": "modal", "callback_id": "ticket", "private_metadata": "{\"channel\": \"C0GEN\"}",
                 "state": {"values": {"description": {"description": {"type": "plain_text_input", "value": "x"}}}}},
    })
    assert ack["payload"]["response_action"] == "errors"
    assert set(ack["payload"]["errors"]) == {"description", "urgency"}
