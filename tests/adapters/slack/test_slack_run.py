"""`dutydesk run` with Slack as a real process (HTTP mode against the fake Slack), shutdown on
SIGTERM, the startup error for a bad token, and recovery of events stored but never processed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from slack_fake import FakeSlack, sign
from slack_harness import BOT_TOKEN, SECRET, SlackHarness

from bot.core.types import ChannelRef, InboundEvent, Platform, UserRef
from storage.models import ProcessedEvent, Ticket

ROOT = Path(__file__).resolve().parents[3]


def write_config(tmp_path: Path, fake: FakeSlack) -> Path:
    config = tmp_path / "dutydesk.toml"
    config.write_text(f"""
[desk]
name = "HW desk"
ticket_prefix = "HW"

[storage]
url = "sqlite+aiosqlite:///{tmp_path / 'run.db'}"

[people.anna]
name = "Anna"
slack = "U0ANNA"
roles = ["agent", "lead"]

[channels]
duty = ["#support-duty"]

[slack]
mode = "http"
host = "127.0.0.1"
port = 0
path = "/slack/events"
api_base_url = "{fake.api_url}"
""", encoding="utf-8")
    return config


async def start(config: Path, token: str = BOT_TOKEN) -> asyncio.subprocess.Process:
    env = {**os.environ, "DUTYDESK_SLACK__BOT_TOKEN": token, "DUTYDESK_SLACK__SIGNING_SECRET": SECRET,
           "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config), cwd=str(config.parent), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_dutydesk_run_serves_slack_until_sigterm(fake_slack: FakeSlack, tmp_path: Path) -> None:
    process = await start(write_config(tmp_path, fake_slack))
    try:
        assert process.stderr is not None
        line = ""
        while "running on Slack" not in line:  # skip anything logged before the ready line
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            assert line, "dutydesk run ended before it was ready"
        assert "running on Slack as @dutydesk (HTTP mode on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        form = {"command": "/ticket", "text": "printer on fire", "user_id": "U0REQ", "user_name": "rita",
                "channel_id": "C0GEN", "channel_name": "general", "team_id": "T0TEAM",
                "trigger_id": "1.2.3", "response_url": fake_slack.response_url()}
        body = urllib.parse.urlencode(form)
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{port}/slack/events", data=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}) as response:
            assert response.status == 200
        for _ in range(600):  # the bot's own outbox loop delivers the receipt
            if fake_slack.to("chat.postEphemeral"):
                break
            await asyncio.sleep(0.05)
        assert "HW-1" in fake_slack.to("chat.postEphemeral")[0]["text"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    with sqlite3.connect(tmp_path / "run.db") as db:
        assert db.execute("select key, title from tickets").fetchall() == [("HW-1", "printer on fire")]
        assert db.execute("select status from processed_events").fetchall() == [("done",)]


async def test_a_rejected_token_is_one_line_and_exit_2(fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.fail("auth.test", "invalid_auth", times=0)
    process = await start(write_config(tmp_path, fake_slack), token="xoxb-revoked")
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "DUTYDESK_SLACK__BOT_TOKEN" in lines[0] and "Traceback" not in err.decode()


async def test_a_public_duty_channel_stops_the_start(fake_slack: FakeSlack, tmp_path: Path) -> None:
    next(c for c in fake_slack.channels if c["name"] == "support-duty")["is_private"] = False
    process = await start(write_config(tmp_path, fake_slack))
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "#support-duty is public" in lines[0] and "must be private" in lines[0]
    assert "Traceback" not in err.decode()


async def test_events_stored_but_never_processed_are_recovered(slack: SlackHarness) -> None:
    event = InboundEvent(kind="dm", event_id="Ev0CRASH", text="mail server down", received_at=slack.clock.now(),
                         actor=UserRef(platform=Platform.SLACK, user_id="U0REQ"),
                         channel=ChannelRef(platform=Platform.SLACK, channel_id="D0REQ", is_direct=True,
                                            is_private=True))
    assert await slack.bot.dispatcher.accept(event)  # ... and the process died before processing it
    ingress = slack.bot.inbox
    assert await slack.bot.dispatcher.recover(older_than=timedelta(minutes=1), skip=ingress.in_flight) == 0
    slack.clock.advance(timedelta(minutes=2))
    ingress.in_flight.add(event.idempotency_key)  # being processed here right now: left alone
    assert await slack.bot.dispatcher.recover(older_than=timedelta(minutes=1), skip=ingress.in_flight) == 0
    ingress.in_flight.clear()

    loop = asyncio.create_task(ingress.recover_loop(every=0.01))
    try:
        for _ in range(500):
            if await slack.count(ProcessedEvent, ProcessedEvent.status == "done"):
                break
            await asyncio.sleep(0.01)
    finally:
        loop.cancel()
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "mail server down"


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_config_check_names_the_missing_secret(mode: str, tmp_path: Path) -> None:
    from bot.settings import ConfigError, settings_from_data

    with pytest.raises(ConfigError) as caught:
        settings_from_data({"slack": {"mode": mode}}, "x.toml", env={"DUTYDESK_SLACK__BOT_TOKEN": "xoxb-1"})
    wanted = "DUTYDESK_SLACK__SIGNING_SECRET" if mode == "http" else "DUTYDESK_SLACK__APP_TOKEN"
    assert any(wanted in problem for problem in caught.value.problems)
