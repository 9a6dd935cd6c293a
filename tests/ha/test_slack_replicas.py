"""Two `dutydesk run` replicas in Slack HTTP mode on two ports and one PostgreSQL database, fed one
stream of signed requests like a load balancer would spread it: slash commands to either port, Events
API deliveries whose retry (same event id) goes to the *other* port, some of them at the same instant.

Both replicas run the whole background (outbox sender, timers, recovery sweep; the scheduler on
whichever holds its lease), so every ticket, receipt, Prio-1 ping, ping repeat, digest and handover is
raced for by two processes. Afterwards, from the database and the fake Slack Web API's record of calls:
every event is one ticket, every outbox row was delivered, and delivered once (the calls Slack saw are
exactly the sent rows, text by text), every Prio-1 pinged once and repeated once, every digest slot
posted once, no row dead.

The duty window is on while the test runs (``replicas.duty_now``) and the digest comes every 10 s
instead of every hour, so several digest slots fall inside a test of seconds; the slots come from the
same trigger (bot/duty/trigger.py) and the same claim as the hourly ones.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from replicas import Database, Replica, duty_now
from slack_fake import FakeSlack, sign

from adapters.slack import render
from bot.core.mentions import split
from bot.infra.outbox import to_message
from storage.models import JobRun, Lease, OutboxMessage, ProcessedEvent, Ticket, Timer

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("backend", ["postgresql"])]

SECRET = "5ee0f1e1ca5e5ec4e7ha2replicas000"
COMMANDS = 12  # /ticket …, every 4th one Prio-1
DMS = 8        # direct messages (Events API), each delivered to one port and retried on the other
PRIO1 = [i for i in range(COMMANDS) if i % 4 == 0]
DIGEST_SLOTS = 1  # digest slots the test waits for after the stream (more ran before it)
EVERY = timedelta(seconds=10)  # duty.digest.every below


def write_config(tmp_path: Path, db_url: str, fake: FakeSlack) -> Path:
    zone, window = duty_now(datetime.now(UTC))
    config = tmp_path / "dutydesk.toml"
    config.write_text(f"""
[desk]
name = "HA desk"
ticket_prefix = "HA"
timezone = "{zone}"

[storage]
url = "{db_url}"

[people.anna]
name = "Anna"
slack = "U0ANNA"
roles = ["agent", "lead"]

[people.ben]
name = "Ben"
slack = "U0BEN"

[people.carla]
name = "Carla"
slack = "U0CARLA"
roles = ["agent", "coordinator"]

[channels]
duty = ["#support-duty"]

[duty]
window = "{window}"
roles = ["phone", "standby"]
members = ["anna", "ben"]
coordinator = "carla"

[duty.digest]
every = "10s"
priorities = [1]
post_when_empty = true

[duty.escalate]
repeat = "3s"
coordinator = "2h"

[ha]
lease_ttl = "4s"
lease_renew = "1s"
recover_every = "1s"
recover_after = "3s"

[ops]
port = 0

[slack]
mode = "http"
host = "127.0.0.1"
port = 0
path = "/slack/events"
api_base_url = "{fake.api_url}"
""", encoding="utf-8")
    return config


class Door:
    """Signed requests to one replica's port."""

    def __init__(self, http: aiohttp.ClientSession, port: int, fake: FakeSlack) -> None:
        self.http = http
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.fake = fake

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> int:
        signed = sign(SECRET, body)
        async with self.http.post(self.url, data=body.encode(),
                                  headers={"Content-Type": content_type, **signed, **(headers or {})}) as response:
            return response.status

    async def command(self, n: int, text: str, user: str = "U0REQ", command: str = "/ticket") -> int:
        form = {"token": "legacy", "team_id": "T0TEAM", "channel_id": "C0GEN", "channel_name": "general",
                "user_id": user, "user_name": user.lower(), "command": command, "text": text,
                "api_app_id": "A0APP", "response_url": self.fake.response_url(),
                "trigger_id": f"{n}.4711.{n:08x}"}
        return await self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")

    async def dm(self, event_id: str, user: str, text: str, *, retry: int = 0) -> int:
        body = json.dumps({
            "token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": "message", "channel": f"D{user}", "channel_type": "im", "user": user,
                      "text": text, "ts": f"{int(time.time())}.{event_id[-4:]}"},
            "authorizations": [{"team_id": "T0TEAM", "user_id": "U0BOT", "is_bot": True}],
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.post(body, "application/json", headers)


def command_text(i: int) -> str:
    return f"-p1 server room {i} flooded" if i in PRIO1 else f"printer {i} jams on every page"


def dm_text(i: int) -> str:
    return f"laptop {i} does not boot after the update"


async def stream(doors: list[Door]) -> None:
    """The requests, as concurrent as a busy workspace sends them. Every request is acknowledged."""
    sends = [doors[i % 2].command(i, command_text(i), user=f"U0REQ{i % 3}") for i in range(COMMANDS)]
    for i in range(DMS):
        first, other = doors[i % 2], doors[(i + 1) % 2]
        event_id = f"Ev0HA{i:04d}"
        if i % 2:  # the retry arrives while the first delivery is still in the other replica
            sends += [first.dm(event_id, f"U0DM{i}", dm_text(i)), other.dm(event_id, f"U0DM{i}", dm_text(i), retry=1)]
        else:  # the retry comes after the first was acknowledged (Slack missed the ack)
            sends.append(first.dm(event_id, f"U0DM{i}", dm_text(i)))
    statuses = await asyncio.gather(*sends)
    statuses += await asyncio.gather(*(doors[(i + 1) % 2].dm(f"Ev0HA{i:04d}", f"U0DM{i}", dm_text(i), retry=2)
                                       for i in range(0, DMS, 2)))
    statuses.append(await doors[1].command(900, "", user="U0ANNA", command="/queue"))
    assert statuses == [200] * len(statuses)


SLACK_IDS = {"U0ANNA": "anna", "U0BEN": "ben", "U0CARLA": "carla"}


def as_sent(text: str) -> str:
    """A text Slack was given with its mentions of people as their keys, and its links to a ticket's channel (which
    a message names once the channel exists, whichever replica made it) left out."""
    text = re.sub(r" <#C\w+>", "", text)
    return re.sub(r"<@(U\w+)>", lambda match: f"<@{SLACK_IDS[match.group(1)]}>", text)


def queued_text(row: OutboxMessage) -> str:
    """A row's text as Slack is given it, in the terms of :func:`as_sent`."""
    links = {key: (shown if key.startswith("#") else f"<@{key}>")
             for part in split(row.text) if isinstance(part, tuple) for key, shown in [part]}
    return render.message_args(to_message(row), links)["text"]


def sent_texts(fake: FakeSlack) -> Counter[str]:
    """Every message text Slack was given: posts, ephemerals and response_url answers."""
    texts = [call["text"] for call in fake.to("chat.postMessage") + fake.to("chat.postEphemeral")]
    texts += [body["text"] for _id, body in fake.responses]
    return Counter(texts)


async def test_two_replicas_two_ports_one_database(db_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url, fake_slack)
    env = {"DUTYDESK_SLACK__BOT_TOKEN": "xoxb-ha", "DUTYDESK_SLACK__SIGNING_SECRET": SECRET}
    db = Database(db_url)
    replicas = [await Replica.start(name, config, env) for name in ("a", "b")]
    try:
        ports = []
        for replica in replicas:
            line = await replica.wait_for_line("running on Slack")
            ports.append(int(line.split("127.0.0.1:")[1].split("/")[0]))
        started = datetime.now(UTC)
        async with aiohttp.ClientSession() as http:
            await stream([Door(http, port, fake_slack) for port in ports])

        # everything settles: each event handled, each ping repeated, digest slots after the stream posted
        events = COMMANDS + DMS + 1
        await db.until("every event handled", lambda: _handled(db, events))
        await db.until("every Prio-1 ping repeated", lambda: _repeated(db))
        await db.until(f"{DIGEST_SLOTS} digest slots after the stream",
                       lambda: _digests_after(db, started, DIGEST_SLOTS))
        await db.until("the outbox is empty", lambda: _outbox_settled(db))
        [scheduler] = await db.rows(Lease, Lease.name == "scheduler")
    finally:
        codes = [await replica.stop() for replica in replicas]
    logs = "\n".join(f"--- {r.name}\n{r.log}" for r in replicas)
    assert codes == [0, 0], logs
    assert not any("Traceback" in line for r in replicas for line in r.lines), logs
    assert scheduler.holder in {replica.holder for replica in replicas}  # a replica leads the scheduler

    try:
        tickets = await db.rows(Ticket, order=Ticket.id)
        titles = Counter(t.title for t in tickets)
        wanted = Counter([command_text(i).removeprefix("-p1 ") for i in range(COMMANDS)]
                         + [dm_text(i) for i in range(DMS)])
        assert titles == wanted  # each request one ticket, retries on the other port none
        assert sorted(t.key for t in tickets) == sorted(f"HA-{n}" for n in range(1, COMMANDS + DMS + 1))
        assert {t.title for t in tickets if t.priority == 1} == {command_text(i)[4:] for i in PRIO1}
        inbox = await db.rows(ProcessedEvent)
        assert Counter(row.status for row in inbox) == {"done": COMMANDS + DMS + 1}

        outbox = await db.rows(OutboxMessage, order=OutboxMessage.id)
        assert Counter(row.status for row in outbox) == {"sent": len(outbox)}  # none pending, none dead
        by_ticket = {t.key: Counter(row.kind for row in outbox if row.ticket_key == t.key) for t in tickets}
        for ticket in tickets:
            kinds = by_ticket[ticket.key]
            assert kinds["receipt"] == 1, (ticket.key, kinds)
            # the standby's ping and its one repeat (the coordinator would come after two hours)
            assert kinds["ping"] == (2 if ticket.priority == 1 else 0), (ticket.key, kinds)
        runs = await db.rows(JobRun, order=JobRun.slot)
        digests = [row for row in outbox if row.kind == "digest"]
        digest_slots = [run.slot for run in runs if run.job == "digest-prio1"]
        assert len(digests) == len(digest_slots) >= DIGEST_SLOTS
        assert len({row.created_at for row in digests}) == len(digests)  # one per slot (a digest is dated by it)
        # and no slot left out: every 10 s from the window's start (caught up at the start) to the last one
        assert digest_slots == [digest_slots[0] + n * EVERY for n in range(len(digest_slots))]
        assert [run.job for run in runs].count("handover") == 1  # the window's start, caught up once
        assert [row.kind for row in outbox].count("handover") == 1

        # Slack saw every sent row once, and nothing else: the texts of the calls are the rows' texts
        # (a ticket channel's topic goes by conversations.setTopic, a card's change by chat.update: not posts)
        rendered = Counter(queued_text(row) for row in outbox if row.operation == "send")
        assert Counter(as_sent(text) for text in sent_texts(fake_slack).elements()) == rendered
        replies = [ref for row in outbox if (ref := row.platform_ref)]
        assert len(replies) == len(set(replies)) == len(outbox)
    finally:
        await db.close()


async def _handled(db: Database, events: int) -> bool:
    return len(await db.rows(ProcessedEvent, ProcessedEvent.status == "done")) == events


async def _repeated(db: Database) -> bool:
    repeats = await db.rows(Timer, Timer.kind == "ping:repeat")
    return len(repeats) == len(PRIO1) and all(t.fired_at is not None for t in repeats)


async def _digests_after(db: Database, started: datetime, count: int) -> bool:
    runs = await db.rows(JobRun, JobRun.job == "digest-prio1", JobRun.slot > started)
    return len(runs) >= count


async def _outbox_settled(db: Database) -> bool:
    return not await db.rows(OutboxMessage, OutboxMessage.status == "pending")
