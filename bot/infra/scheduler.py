"""Scheduled jobs: declared once (id, APScheduler trigger, coroutine) by their features, run once per slot.

In production APScheduler 3's ``AsyncIOScheduler`` calls :meth:`Scheduler.fire` at each fire time of a
job; a simulation's virtual clock asks the same triggers for the next fire time (:meth:`Scheduler.next_fire`)
and calls the same :meth:`Scheduler.fire` at that instant (``Bot.run_until``), so a rehearsal runs the
production fire path (the slots since the job's last fire, the claims, the retries) and the production job
code. Every run claims its ``job_runs(job, slot)`` row in the same unit of work as the job's own changes:
with two replicas on one database, or after a crash and a restart that catches up the slot, each slot is
committed exactly once (a crash before the commit leaves it unclaimed, so the catch-up runs it; one after
it leaves it done).

With several replicas APScheduler runs only on the one that holds the ``scheduler`` lease
(bot/infra/leader.py, ``[ha] lease_ttl``/``lease_renew``), as DESIGN.md ("Scale") has it; the others
wait for it. Why a lease on top of the per-slot claim: the claim alone keeps every slot once, but
then every replica wakes for every slot and all but one queue on the claim's row lock; with the
lease one replica runs the jobs and the claim is the guard for the seconds in which two might
(an old holder that was paused past its TTL). When the holder dies, the survivor takes the lease
within ``lease_ttl + lease_renew`` and first runs :meth:`Scheduler.catch_up`, so a slot that fell
into the gap is still run, once, late by at most that much (tests/ha/test_matrix_failover.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.uow import unit_of_work
from bot.infra.leader import LeaderLease, timing
from storage.models import JobRun
from storage.upsert import upsert

log = structlog.stdlib.get_logger(__name__)

LEASE = "scheduler"

# a job does its work in the session it is given (no commit): the one that claims its slot
JobBody = Callable[[AsyncSession, Desk, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    id: str
    trigger: BaseTrigger
    run: JobBody
    # a slot missed (bot down, restart) is still run when caught up within this time
    grace: timedelta = timedelta(minutes=15)


def fire_times(trigger: BaseTrigger, after: datetime, until: datetime) -> list[datetime]:
    """The trigger's fire times in (after, until], in UTC."""
    times: list[datetime] = []
    previous: datetime | None = None
    cursor = after + timedelta(microseconds=1)
    while True:
        nxt = trigger.get_next_fire_time(previous, cursor)
        if nxt is None or nxt > until:
            return times
        times.append(nxt.astimezone(UTC))
        previous, cursor = nxt, nxt + timedelta(microseconds=1)


RETRY_FIRST = 2.0  # seconds before a failed slot is tried again, doubling
RETRY_MAX = 60.0


class Scheduler:
    retry_first = RETRY_FIRST

    def __init__(self, desk: Desk, jobs: list[Job], replica: str, after_run: Callable[[], Awaitable[object]]) -> None:
        self.desk = desk
        self.jobs = {job.id: job for job in jobs}
        self.replica = replica
        self.after_run = after_run
        self._aps: AsyncIOScheduler | None = None
        self.lease = LeaderLease(desk.sessions, desk.clock, LEASE, holder=replica, **timing(desk.settings))
        self._lead_task: asyncio.Task[None] | None = None
        # per job, the instant through which this process has run (or found claimed) every slot
        self._through: dict[str, datetime] = {}
        self._stop = asyncio.Event()
        self._retries: set[asyncio.Task[None]] = set()

    async def claim(self, session: AsyncSession, job: Job, slot: datetime) -> bool:
        """Inserts the slot's claim in ``session``; False when a replica has it (on PostgreSQL a
        concurrent claim waits here until the other unit of work commits or rolls back)."""
        now = self.desk.clock.now()
        result = await session.execute(
            upsert(session, JobRun, {"job": job.id, "slot": slot.astimezone(UTC), "claimed_by": self.replica,
                                     "claimed_at": now, "done_at": now}, key=["job", "slot"]).returning(JobRun.job)
        )
        # not rowcount: it is -1 for an INSERT on psycopg, which let both replicas run the slot
        return result.first() is not None

    async def run_slot(self, job: Job, slot: datetime) -> bool:
        """Runs one slot if no replica has done it; True when it ran here."""
        return await self._run(job, slot) == "ran"

    async def _run(self, job: Job, slot: datetime) -> Literal["ran", "taken", "failed"]:
        """Claim and work commit together: a failed or interrupted run leaves the slot unclaimed."""
        try:
            async with unit_of_work(self.desk) as unit:
                if not await self.claim(unit.session, job, slot):
                    return "taken"
                await job.run(unit.session, self.desk, slot)
        except Exception:
            # the type only: an exception's text may quote content; the traceback is for DEBUG
            log.error("scheduler: slot failed, tried again within its grace time", job=job.id, slot=slot.isoformat(),
                      error=sys.exc_info()[0].__name__)  # type: ignore[union-attr]
            log.debug("scheduler: slot failed", job=job.id, slot=slot.isoformat(), exc_info=True)
            return "failed"
        await self.after_run()
        return "ran"

    def due_between(self, after: datetime, until: datetime) -> list[tuple[datetime, Job]]:
        """Every (slot, job) in (after, until], in time order (job id breaks ties)."""
        slots = [(slot, job) for job in self.jobs.values() for slot in fire_times(job.trigger, after, until)]
        return sorted(slots, key=lambda item: (item[0], item[1].id))

    async def catch_up(self) -> int:
        """After a start: runs slots missed within each job's grace time (claims keep them once)."""
        now = self.desk.clock.now()
        ran = 0
        for slot, job in self.due_between(now - max((j.grace for j in self.jobs.values()), default=timedelta(0)),
                                          now):
            if slot >= now - job.grace and await self.run_slot(job, slot):
                ran += 1
        for job in self.jobs.values():
            self._through[job.id] = max(now, self._through.get(job.id, now))
        return ran

    # the fire path: APScheduler in production, the virtual clock in a simulation ---------------------

    def running_since(self, instant: datetime) -> None:
        """A simulation's start: the scheduler counts as running before ``instant`` (a rehearsal starts with
        the desk live), so no slot before it is caught up; production starts with :meth:`catch_up` instead."""
        for job in self.jobs.values():
            self._through.setdefault(job.id, instant - timedelta(microseconds=1))

    def next_fire(self) -> tuple[datetime, list[str]] | None:
        """When APScheduler would fire next after each job's last fire here, and which jobs fire then (in id
        order); None without jobs. Asks the triggers as APScheduler does (``get_next_fire_time``)."""
        upcoming: dict[datetime, list[str]] = {}
        for job in self.jobs.values():
            after = self._through[job.id]
            at = job.trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
            if at is not None:
                upcoming.setdefault(at.astimezone(UTC), []).append(job.id)
        if not upcoming:
            return None
        first = min(upcoming)
        return first, sorted(upcoming[first])

    async def fire(self, job_id: str, at: datetime | None = None) -> None:
        """What APScheduler calls at each fire time of a job; a simulation's virtual clock calls it too, with
        ``at`` the trigger's fire time (other replicas on a shared virtual clock may move it meanwhile)."""
        try:
            await self._fire_slots(job_id, at or self.desk.clock.now())
        except asyncio.CancelledError:
            # the replica stops in the middle of a fire (a digest waits for the outbox): APScheduler would
            # log the cancellation as a job failure with a traceback; an unfinished slot stays unclaimed
            # and the next holder of the lease catches it up
            log.info("scheduler: a run was cancelled by the stop", job=job_id)

    async def _fire_slots(self, job_id: str, now: datetime) -> None:
        job = self.jobs[job_id]
        # APScheduler does not hand over the scheduled time, and it skips a fire while the job's last
        # run is still busy (max_instances=1: the outbox drain after a digest can take a while), so the
        # slot is not just the last fire time: every slot since this job's last fire here (within its
        # grace time) is run now, and the claims keep each of them once
        since = max(now - job.grace, self._through.get(job_id, now - job.grace))
        for slot in fire_times(job.trigger, since, now):
            if await self._run(job, slot) == "failed":
                self._retry_later(job, slot)
        self._through[job_id] = now

    def _retry_later(self, job: Job, slot: datetime) -> None:
        """A slot that failed (the database away for a moment) is tried again in the background, backing
        off, while its grace time lasts: the next fire of an hourly digest would come after the grace."""
        task = asyncio.get_running_loop().create_task(self._retry(job, slot), name=f"retry-{job.id}")
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, job: Job, slot: datetime) -> None:
        delay = self.retry_first
        while self.desk.clock.now() + timedelta(seconds=delay) < slot + job.grace:
            await asyncio.sleep(delay)
            if await self._run(job, slot) != "failed":
                return
            delay = min(delay * 2, RETRY_MAX)
        log.error("scheduler: slot given up, its grace time is over", job=job.id, slot=slot.isoformat())

    def start(self) -> None:
        """Production: runs the jobs whenever this replica holds the ``scheduler`` lease."""
        if not self.jobs or self._lead_task is not None:
            return  # no duty window, no jobs: nothing to lead
        self._stop.clear()
        self._lead_task = asyncio.get_running_loop().create_task(
            self.lease.run_while_held(self._lead, stop=self._stop), name="scheduler-lease")

    async def _lead(self) -> None:
        """While the lease is held: the slots a dead holder left (within their grace), then APScheduler
        until the lease is lost (this task is cancelled then) or the replica stops."""
        log.info("scheduler: running", replica=self.replica)
        try:
            await self.catch_up()
        except Exception as exc:  # the database is away: the first fire runs the slots within their grace
            log.warning("scheduler: catching up failed", error=type(exc).__name__)
        self._start_aps()
        try:
            await asyncio.Event().wait()
        finally:
            self._shutdown_aps()

    async def stop(self) -> None:
        """Stops the jobs and releases the lease, so another replica takes over at once."""
        self._stop.set()
        if self._lead_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(self._lead_task, return_exceptions=True)
            self._lead_task = None
        self._shutdown_aps()

    def _start_aps(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        for job in self.jobs.values():
            self._aps.add_job(self.fire, trigger=job.trigger, args=[job.id], id=job.id, coalesce=True,
                              max_instances=1, misfire_grace_time=int(job.grace.total_seconds()),
                              replace_existing=True)
        self._aps.start()

    def _shutdown_aps(self) -> None:
        """Also when the lease is lost: retries stop with the jobs (the new holder catches the slots up)."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        for task in self._retries:
            task.cancel()
