"""The HA pieces in one process, on real databases: the ``[ha]`` config check, a scheduler fire that runs
the slot APScheduler skipped, the ``scheduler`` lease (one replica runs the jobs, a clean stop hands
them over at once), and two replicas' recovery sweeps over one inbox (each event processed once).
The process tests next to this file show the same under real `dutydesk run` replicas."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.clock import SystemClock, as_utc
from bot.settings import ConfigError, settings_from_data
from storage.models import JobRun, Lease, OutboxMessage, ProcessedEvent, Ticket
from tests.conftest import BotFactory

DUTY = {"window": "mon-sun 08:00-20:00", "roles": ["phone", "standby"], "members": ["anna", "ben"],
        "coordinator": "carla", "digest": {"every": "10m"}}


def test_ha_settings_are_checked_with_a_reason() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_data({"ha": {"lease_ttl": "10s", "lease_renew": "6s", "recover_every": "soon",
                                   "recover_after": "1d"}}, "desk.toml")
    assert caught.value.problems == [
        "desk.toml: ha.recover_every: 'soon' is not a duration; write e.g. \"30s\", \"1m\" or \"1m30s\"",
        "desk.toml: ha.recover_after: give seconds, minutes or hours (e.g. \"30s\"), not working days",
    ]
    with pytest.raises(ConfigError) as caught:
        settings_from_data({"ha": {"lease_ttl": "10s", "lease_renew": "6s"}}, "desk.toml")
    assert caught.value.problems == ["desk.toml: ha.lease_renew: 6s is more than half of ha.lease_ttl (10s); "
                                     "a holder must be able to renew at least twice before its lease runs out"]
    ha = settings_from_data({}, "x", env={"DUTYDESK_HA__LEASE_TTL": "3s", "DUTYDESK_HA__LEASE_RENEW": "1s"}).ha
    assert (ha.seconds("lease_ttl"), ha.seconds("lease_renew"), ha.seconds("recover_after")) == (3, 1, 60)


async def test_a_fire_runs_the_slot_apscheduler_skipped(make_harness: BotFactory) -> None:
    desk = await make_harness(duty=DUTY)  # starts 14:50 UTC; digests every 10 minutes from 08:00
    scheduler = desk.bot.scheduler
    assert await scheduler.catch_up() == 2  # the 14:40 and 14:50 slots (within the 15 min grace)
    # the 15:00 fire was skipped (APScheduler: the job's previous run still busy); the 15:10 one comes
    desk.clock.set(datetime(2026, 11, 24, 15, 10, 0, 300_000, tzinfo=UTC))
    await scheduler.fire("digest-prio1")
    runs = await desk.rows(JobRun, JobRun.job == "digest-prio1", order=JobRun.slot)
    assert [f"{as_utc(run.slot):%H:%M}" for run in runs] == ["14:40", "14:50", "15:00", "15:10"]
    await scheduler.fire("digest-prio1")  # a second fire in the same slot: nothing more
    assert len(await desk.rows(OutboxMessage, OutboxMessage.kind == "digest")) == 4


async def test_a_slot_that_fails_is_tried_again_within_its_grace(make_harness: BotFactory, monkeypatch) -> None:
    """The database away for a moment at an hourly digest's fire: the slot is retried, not left to a next
    fire that comes after its grace time."""
    desk = await make_harness(duty=DUTY)
    scheduler = desk.bot.scheduler
    await scheduler.catch_up()
    job = scheduler.jobs["digest-prio1"]
    real, calls = job.run, []

    async def flaky(session, desk_, slot):
        calls.append(slot)
        if len(calls) <= 2:
            raise ConnectionError("the database is away")
        await real(session, desk_, slot)

    monkeypatch.setitem(scheduler.jobs, job.id, replace(job, run=flaky))
    monkeypatch.setattr(scheduler, "retry_first", 0.01)
    desk.clock.set(datetime(2026, 11, 24, 15, 0, 0, 300_000, tzinfo=UTC))
    await scheduler.fire("digest-prio1")  # fails once; APScheduler's call returns, the retry goes on
    assert len(calls) == 1 and scheduler._retries
    await asyncio.gather(*scheduler._retries)
    assert len(calls) == 3  # two failures, then the run
    runs = await desk.rows(JobRun, JobRun.job == "digest-prio1", order=JobRun.slot)
    assert [f"{as_utc(run.slot):%H:%M}" for run in runs] == ["14:40", "14:50", "15:00"]


async def test_a_fire_cancelled_by_the_stop_ends_quietly(make_harness: BotFactory, monkeypatch) -> None:
    """APScheduler logs any exception of a job, cancellation included, with a traceback."""
    desk = await make_harness(duty=DUTY)
    scheduler = desk.bot.scheduler
    await scheduler.catch_up()
    job, started = scheduler.jobs["digest-prio1"], asyncio.Event()

    async def slow(session, desk_, slot):
        started.set()
        await asyncio.Event().wait()  # a digest waiting for the outbox when the stop comes

    monkeypatch.setitem(scheduler.jobs, job.id, replace(job, run=slow))
    desk.clock.set(datetime(2026, 11, 24, 15, 0, 0, 300_000, tzinfo=UTC))
    fire = asyncio.create_task(scheduler.fire("digest-prio1"))
    await started.wait()
    fire.cancel()
    await fire  # no CancelledError reaches APScheduler's wrapper
    runs = await desk.rows(JobRun, JobRun.job == "digest-prio1", order=JobRun.slot)
    assert [f"{as_utc(run.slot):%H:%M}" for run in runs] == ["14:40", "14:50"]  # 15:00 stays for a catch-up


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_one_replica_runs_the_jobs_and_a_clean_stop_hands_them_over(make_harness: BotFactory) -> None:
    ha = {"lease_ttl": "3s", "lease_renew": "1s"}
    one = await make_harness(duty=DUTY, ha=ha)
    two = await make_harness(duty=DUTY, ha=ha, clock=one.clock)
    two.bot.scheduler.lease.holder = "replica-two"  # both live in this process: give them two names
    first, second = one.bot.scheduler, two.bot.scheduler
    # the leases run on the system's time, as in production
    first.lease.clock = second.lease.clock = SystemClock()
    try:
        first.start()
        await _until(lambda: first._aps is not None)
        second.start()
        await asyncio.sleep(1.5)  # more than a renewal interval: the second tried and was refused
        assert second._aps is None
        [row] = await one.rows(Lease, Lease.name == "scheduler")
        assert row.holder == first.lease.holder

        await first.stop()  # releases the lease: the second takes it at its next try
        assert first._aps is None
        await _until(lambda: second._aps is not None)
        [row] = await one.rows(Lease, Lease.name == "scheduler")
        assert row.holder == "replica-two"
    finally:
        await first.stop()
        await second.stop()


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_two_replicas_sweep_one_inbox_and_each_event_is_processed_once(make_harness: BotFactory) -> None:
    one = await make_harness()
    two = await make_harness(clock=one.clock)
    events = [one.event(f"user{i}", f"/ticket printer {i} is broken") for i in range(24)]
    assert await one.bot.dispatcher.accept_many(events) == [True] * len(events)  # ... and the replica died
    one.advance(minutes=2)
    # both replicas' sweeps find all 24 rows at once and race through them
    await asyncio.gather(one.bot.dispatcher.recover(older_than=timedelta(minutes=1)),
                         two.bot.dispatcher.recover(older_than=timedelta(minutes=1)))
    tickets = await one.rows(Ticket)
    assert Counter(t.title for t in tickets) == Counter(f"printer {i} is broken" for i in range(24))
    assert Counter(row.status for row in await one.rows(ProcessedEvent)) == {"done": 24}
    receipts = await one.rows(OutboxMessage, OutboxMessage.kind == "receipt")
    assert sorted(row.ticket_key for row in receipts) == sorted(t.key for t in tickets)


async def _until(check, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), limit)

