"""The public Slack HTTP endpoint under attack (issue #15): what it serves besides Slack's POSTs, and what a
malformed body does before and after its signature is checked. Real HTTP into the real bolt app."""

from __future__ import annotations

import logging

import pytest
from slack_harness import SECRET, SlackHarness

from storage.models import ProcessedEvent, Ticket

MALFORMED = [
    ("{not json", "application/json"),
    ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    ("[1,2]", "application/json"),
    ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
    ("\"just a string\"", "application/json"),
    ("null", "application/json"),
    ("payload=null", "application/x-www-form-urlencoded"),
    ("\xff\xfe", "application/json"),
    ("", "application/json"),
    ("{\"type\": \"event_callback\", \"event\": [1]}", "application/json"),
    ("payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A7%7D", "application/x-www-form-urlencoded"),
    ("[" * 100000, "application/json"),
    ("text=hello", "text/plain"),
]


async def test_the_slack_port_serves_no_health_or_metrics(slack: SlackHarness) -> None:
    """Ticket counts, queue depth and the database dialect are for the [ops] listener (loopback by default), not
    for the port the internet reaches; the Slack port answers Slack's POSTs and nothing else."""
    base = slack.url.rsplit("/slack/events", 1)[0]
    for path in ("/healthz", "/metrics", "/healthz/", "/metrics?x=1"):
        async with slack.http.get(base + path) as response:
            assert response.status == 404, path
            body = await response.text()
            assert "outbox" not in body and "dutydesk_" not in body, path
    async with slack.http.get(slack.url) as response:
        assert response.status == 405


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_an_unsigned_malformed_body_gets_401_and_logs_no_error(
        slack: SlackHarness, caplog: pytest.LogCaptureFixture, body: str, content_type: str) -> None:
    caplog.set_level(logging.DEBUG)
    for headers in ({}, {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
                    {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
                    {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=00"}):
        async with slack.http.post(slack.url, data=body.encode(),
                                   headers={"Content-Type": content_type, **headers}) as response:
            assert response.status == 401, (body, headers)
    # signed with a wrong secret: as unsigned
    status, _ = await slack.post(body, content_type, secret="not-" + SECRET)
    assert status == 401
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    assert await slack.count(ProcessedEvent) == 0


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_a_signed_malformed_body_gets_400_not_500(
        slack: SlackHarness, caplog: pytest.LogCaptureFixture, body: str, content_type: str) -> None:
    caplog.set_level(logging.DEBUG)
    status, _ = await slack.post(body, content_type)
    assert status == 400, body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await slack.count(ProcessedEvent) == 0
    # the endpoint works on
    status, _ = await slack.command("printer on fire")
    assert status == 200
    await slack.settle()
    assert await slack.count(Ticket) == 1


async def test_a_stale_signed_request_is_refused(slack: SlackHarness) -> None:
    """A replayed request (its timestamp over five minutes old) is refused even when its signature is right."""
    import time

    status, _ = await slack.post("{not json", "application/json", timestamp=int(time.time()) - 600)
    assert status == 401


async def test_a_command_whose_text_says_payload_is_taken(slack: SlackHarness) -> None:
    """Bolt reads any form body that contains the word "payload" as an interactivity payload: a slash command
    about "the payload" became an empty request and was lost."""
    status, _ = await slack.command("the payload of the nightly export is empty")
    assert status == 200
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "the payload of the nightly export is empty"
