"""The scheduled side of duty through the simulator on the agency's example config: the hourly
Prio-1 digest, the handover, Prio-1 escalation pings, and two replicas on one database."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from adapters.sim import SimAdapter
from bot.app import build
from bot.core.clock import VirtualClock, as_utc
from bot.core.mentions import split
from bot.infra.scheduler import Job
from bot.settings import load_settings
from bot.simulate import simulate
from storage.models import JobRun, OutboxMessage

AGENCY = Path(__file__).resolve().parents[2] / "examples" / "agency" / "dutydesk.toml"


async def run(tmp_path: Path, start: str, steps: list[dict[str, Any]]) -> list[dict]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"config": str(AGENCY), "platform": "slack", "start": start, "steps": steps}))
    out = io.StringIO()
    await simulate(path, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def kinds(lines: list[dict], kind: str) -> list[dict]:
    """The messages of ``kind`` sent (not the ``updated`` lines that change one in place)."""
    return [line for line in lines if line.get("kind") == kind and "updated" not in line]


async def test_an_afternoon_digests_on_the_hour_while_duty_runs(tmp_path: Path) -> None:
    lines = await run(tmp_path, "2026-11-24T15:50:00+01:00", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-24T18:30:00+01:00"},
    ])
    digests = kinds(lines, "digest")
    assert [d["at"] for d in digests] == ["2026-11-24T15:00:00Z", "2026-11-24T16:00:00Z"]  # 16:00, 17:00; not 18:00
    assert all(d["to"] == "#support-duty" and d["visibility"] == "private" for d in digests)
    assert "No open P1" in digests[0]["text"]
    assert "HW-1" in digests[1]["text"] and "the wiki is down" in digests[1]["text"]
    phone = digests[0]["text"].rsplit("@", 1)[1].rstrip(")")
    handovers = kinds(lines, "handover")
    assert len(handovers) == 1 and handovers[0]["at"] == "2026-11-24T15:00:00Z"
    # the agency's Head of Mailbox ([duty] mailbox = "sarah") hands over to the phone duty
    assert handovers[0]["buttons"] == ["handover-ack"] and f"phone duty {phone}" in handovers[0]["text"]
    assert "Sarah hands over phone and inbox watch" in handovers[0]["text"]


async def test_prio1_pings_standby_repeats_then_coordinator(tmp_path: Path) -> None:
    lines = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"until": "2026-11-24T17:30:00+01:00"},
    ])
    pings = [p for p in kinds(lines, "ping") if p["ticket"] == "HW-1"]
    standby = pings[0]["to"]
    assert pings[0]["at"] == "2026-11-24T15:20:00Z" and pings[0]["buttons"] == ["ack"]
    assert [(p["at"], p["to"]) for p in pings] == [
        ("2026-11-24T15:20:00Z", standby),       # at once
        ("2026-11-24T15:35:00Z", standby),       # escalate.repeat = 15m
        ("2026-11-24T15:50:00Z", "@sarah"),      # escalate.coordinator = 30m
    ]
    told = [line for line in lines if "forwarded to" in line.get("text", "")]
    assert len(told) == 1 and told[0]["to"] not in (standby, "@kim")


async def test_acknowledged_ping_is_not_repeated(tmp_path: Path) -> None:
    first = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"}])
    standby = next(p for p in kinds(first, "ping") if p["ticket"] == "HW-1")["to"].lstrip("@")
    lines = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"after": "5m", "user": standby, "action": "ack", "ticket": "HW-1"},
        {"until": "2026-11-24T17:30:00+01:00"},
    ])
    assert len([p for p in kinds(lines, "ping") if p["ticket"] == "HW-1"]) == 1
    assert any("You acknowledged HW-1" in line.get("text", "") for line in lines)


async def test_handover_unacknowledged_pings_the_coordinator_and_taken_over_does_not(tmp_path: Path) -> None:
    lines = await run(tmp_path, "2026-11-24T15:50:00+01:00", [
        {"until": "2026-11-24T17:00:00+01:00"},
        {"at": "2026-11-25T16:05:00+01:00", "user": "lea", "action": "handover-ack", "ticket": "x"},
        {"until": "2026-11-25T17:00:00+01:00"},
    ])
    pinged = [line for line in kinds(lines, "ping") if "handover" in line["text"]]
    assert [(p["at"], p["to"]) for p in pinged] == [("2026-11-24T15:30:00Z", "@sarah")]  # day 1 only
    assert any(line["text"] == "Lea has taken over duty." for line in kinds(lines, "handover"))


async def test_a_week_has_digests_on_duty_days_only(tmp_path: Path) -> None:
    # Christmas week 2026: Thu 24 and Thu 31 are closed in the example, Fri 25 and Sat 26 are holidays
    lines = await run(tmp_path, "2026-12-21T08:00:00+01:00", [{"until": "2026-12-27T23:00:00+01:00"}])
    days = Counter(d["at"][:10] for d in kinds(lines, "digest"))
    assert days == {"2026-12-21": 2, "2026-12-22": 2, "2026-12-23": 2}
    assert len(kinds(lines, "handover")) == 3


async def test_digest_keeps_its_wall_time_across_the_dst_change(tmp_path: Path) -> None:
    lines = await run(tmp_path, "2026-10-23T12:00:00+02:00", [{"until": "2026-10-26T19:00:00+01:00"}])
    assert [d["at"] for d in kinds(lines, "digest")] == [
        "2026-10-23T14:00:00Z", "2026-10-23T15:00:00Z",   # Friday, CEST: 16:00 and 17:00 local
        "2026-10-26T15:00:00Z", "2026-10-26T16:00:00Z",   # Monday, CET: still 16:00 and 17:00 local
    ]


async def test_two_replicas_on_one_database_send_every_digest_once(db_url: str, monkeypatch) -> None:
    """Two bots (two schedulers) on one database run the same day: each slot is claimed once."""
    import bot.infra.outbox

    # a virtual clock can jump hours while the other replica is between claiming a row and marking it
    # sent; real time cannot, so the claim lease is made longer than any jump of this test
    monkeypatch.setattr(bot.infra.outbox, "CLAIM_TTL", timedelta(days=30))
    settings = load_settings(AGENCY)
    bots, outs = [], []
    start = "2026-11-24T08:00:00+01:00"
    from datetime import datetime

    # one clock for both, as two replicas on one machine's time; each runs its own scheduler and outbox
    clock = VirtualClock(datetime.fromisoformat(start))
    for _ in range(2):
        out = io.StringIO()
        adapter = SimAdapter("slack", clock, out, {"#support-duty"})
        bots.append((await build(settings, clock, [adapter], db_url=db_url, upgrade=True), clock))
        outs.append(out)
    try:
        until = datetime.fromisoformat("2026-11-26T20:00:00+01:00")
        await asyncio.gather(*(bot.run_until(clock, until) for bot, clock in bots))
        lines = [json.loads(line) for out in outs for line in out.getvalue().splitlines()]
        # the delivery stamps are the shared clock's reading at the send, which the other replica's run
        # may have moved on meanwhile; a digest row is written at its slot, so the slots come from the rows
        assert len(kinds(lines, "digest")) == 6  # none delivered twice
        assert len(kinds(lines, "handover")) == 3
        async with bots[0][0].desk.sessions() as session:
            runs = await session.scalar(select(func.count()).select_from(JobRun))
            digests = (await session.execute(select(OutboxMessage.created_at, OutboxMessage.status)
                                             .where(OutboxMessage.kind == "digest"))).all()
        assert runs == 9
        assert sorted(f"{as_utc(at):%d %H:%M}" for at, _ in digests) == [  # 3 days × 16:00, 17:00 local
            "24 15:00", "24 16:00", "25 15:00", "25 16:00", "26 15:00", "26 16:00"]
        assert {status for _, status in digests} == {"sent"}
        # the digest mentions the phone duty and the handover the people it names (bot/core/mentions.py): a
        # platform with mentions notifies them; the simulator, without, shows their names as plain text
        async with bots[0][0].desk.sessions() as session:
            texts = dict((await session.execute(select(OutboxMessage.kind, OutboxMessage.text)
                                                .where(OutboxMessage.kind.in_(["digest", "handover"])))).all())
        for kind, text in texts.items():
            named = [part for part in split(text) if isinstance(part, tuple)]
            assert named and all(key in settings.people for key, _ in named), kind
        assert all("\ue000" not in line["text"] for line in kinds(lines, "digest") + kinds(lines, "handover"))
    finally:
        for bot, _ in bots:
            await bot.close()


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
async def test_results_do_not_depend_on_the_process_time_zone(tmp_path: Path, monkeypatch, zone: str) -> None:
    import time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        lines = await run(tmp_path, "2026-11-24T15:50:00+01:00", [{"until": "2026-11-24T18:30:00+01:00"}])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert [d["at"] for d in kinds(lines, "digest")] == ["2026-11-24T15:00:00Z", "2026-11-24T16:00:00Z"]


async def test_prio1_ping_follows_sickness_and_swaps(tmp_path: Path) -> None:
    base = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"}])
    standby = next(p for p in kinds(base, "ping") if p["ticket"] == "HW-1")["to"].lstrip("@")
    # the standby reports sick before the Prio-1 comes in: the ping goes to whoever covers, never to them
    sick = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:05:00+01:00", "user": standby, "channel": "#support-duty", "text": "/duty sick"},
        {"at": "2026-11-24T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"}])
    pinged = [p["to"] for p in kinds(sick, "ping") if p["ticket"] == "HW-1"]
    assert pinged and f"@{standby}" not in pinged
    # a swap of tomorrow's standby shift, accepted: tomorrow's ping goes to the colleague
    tomorrow = await run(tmp_path, "2026-11-24T12:00:00+01:00", [
        {"at": "2026-11-25T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 broken again"}])
    holder = next(p for p in kinds(tomorrow, "ping") if p["ticket"] == "HW-1")["to"].lstrip("@")
    colleague = "mira"
    swapped = await run(tmp_path, "2026-11-24T12:00:00+01:00", [
        {"user": holder, "channel": "#support-duty", "text": f"/duty swap 2026-11-25 @{colleague} --role standby"},
        {"after": "1m", "user": colleague, "channel": "#support-duty", "text": "/duty accept 1"},
        {"at": "2026-11-25T16:20:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 broken again"}])
    assert next(p["to"] for p in kinds(swapped, "ping") if p["ticket"] == "HW-1") == f"@{colleague}"


async def test_a_rehearsal_fires_the_jobs_through_the_production_fire_path(tmp_path: Path, monkeypatch) -> None:
    """The virtual clock calls Scheduler.fire — the method APScheduler calls in production — at the triggers'
    fire times; every digest and handover of the transcript comes out of one of those calls."""
    from bot.infra.scheduler import Scheduler

    fired: list[tuple[str, str]] = []
    production_fire = Scheduler.fire

    async def spy(self: Scheduler, job_id: str, at=None) -> None:
        fired.append((job_id, f"{as_utc(at or self.desk.clock.now()):%H:%M}"))
        await production_fire(self, job_id, at)

    monkeypatch.setattr(Scheduler, "fire", spy)
    lines = await run(tmp_path, "2026-11-24T15:50:00+01:00", [{"until": "2026-11-24T18:30:00+01:00"}])
    assert fired == [("digest-prio1", "15:00"), ("handover", "15:00"), ("digest-prio1", "16:00")]
    assert [d["at"][11:16] for d in kinds(lines, "digest")] == ["15:00", "16:00"]
    assert [h["at"][11:16] for h in kinds(lines, "handover")] == ["15:00"]


async def test_apscheduler_and_the_virtual_clock_call_the_same_fire(make_harness) -> None:
    desk = await make_harness(load_settings(AGENCY))
    scheduler = desk.bot.scheduler
    scheduler._start_aps()
    try:
        assert {job.id: job.func for job in scheduler._aps.get_jobs()} == {  # type: ignore[union-attr]
            "digest-prio1": scheduler.fire, "handover": scheduler.fire}
    finally:
        scheduler._shutdown_aps()


async def test_a_slot_that_fails_in_a_rehearsal_is_retried_as_in_production(make_harness) -> None:
    """The fire path's own retry (within the slot's grace time) runs in a rehearsal too; the simulator's old
    loop ran each slot once and lost a failed one."""
    desk = await make_harness(load_settings(AGENCY))
    scheduler = desk.bot.scheduler
    scheduler.retry_first = 0.01
    attempts: list[str] = []

    async def flaky(session, desk_, slot) -> None:
        attempts.append(f"{as_utc(slot):%H:%M}")
        if len(attempts) == 1:
            raise ConnectionError("the database went away for a moment")

    scheduler.jobs["flaky"] = Job("flaky", CronTrigger(minute=0, timezone=UTC), flaky)
    await desk.bot.run_until(desk.clock, desk.clock.now() + timedelta(minutes=20))  # 14:50 → 15:10 UTC
    await asyncio.gather(*scheduler._retries)
    assert attempts == ["15:00", "15:00"]
    (run,) = await desk.rows(JobRun, JobRun.job == "flaky")
    assert f"{as_utc(run.slot):%H:%M}" == "15:00"


@pytest.mark.parametrize("command", ["/ticket take HW-1", "/ticket assign HW-1 @{me}"])
async def test_taking_a_prio1_acknowledges_its_page(tmp_path: Path, command: str) -> None:
    """The standby who takes the Prio-1 at 16:07 (or assigns it to themselves) is not reminded at 16:20, and
    the coordinator is not told at 16:35 that nobody acknowledged it."""
    first = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:05:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"}])
    standby = next(p for p in kinds(first, "ping") if p["ticket"] == "HW-1")["to"].lstrip("@")
    lines = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:05:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"at": "2026-11-24T16:07:00+01:00", "user": standby, "channel": "#support-duty",
         "text": command.format(me=standby)},
        {"until": "2026-11-24T17:30:00+01:00"},
    ])
    assert [p["at"] for p in kinds(lines, "ping") if p["ticket"] == "HW-1"] == ["2026-11-24T15:05:00Z"]
    assert not [line for line in lines if line.get("to") == "@sarah" and "HW-1" in line["text"]]
    assert any("Prio-1 page is acknowledged" in line["text"] for line in lines
               if line.get("at") == "2026-11-24T15:07:00Z" and line.get("to") == "#support-duty")


async def test_assigning_a_prio1_to_someone_else_is_no_acknowledgement(tmp_path: Path) -> None:
    lines = await run(tmp_path, "2026-11-24T16:00:00+01:00", [
        {"at": "2026-11-24T16:05:00+01:00", "user": "kim", "dm": True, "text": "/ticket -p1 the wiki is down"},
        {"at": "2026-11-24T16:07:00+01:00", "user": "sarah", "channel": "#support-duty",
         "text": "/ticket assign HW-1 @paul"},
        {"until": "2026-11-24T17:30:00+01:00"},
    ])
    assert [p["at"] for p in kinds(lines, "ping") if p["ticket"] == "HW-1"] == [
        "2026-11-24T15:05:00Z", "2026-11-24T15:20:00Z", "2026-11-24T15:35:00Z"]
