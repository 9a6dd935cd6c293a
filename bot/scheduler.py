"""Scheduled jobs: declared once (id, APScheduler trigger, coroutine), run exactly once per slot.

In production APScheduler 3's ``AsyncIOScheduler`` fires them; the simulator asks the same
triggers for their next fire times and runs due jobs in order as its virtual clock advances,
so a rehearsal exercises the production job code. Every run claims its ``job_runs(job, slot)``
row in the same unit of work as the job's own changes: with two replicas on one database, or
after a crash and a restart that catches up the slot, each slot is committed exactly once (a
crash before the commit leaves it unclaimed, so the catch-up runs it; one after it leaves it done).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk import Desk
from storage.models import JobRun

log = logging.getLogger(__name__)

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


class Scheduler:
    def __init__(self, desk: Desk, jobs: list[Job], replica: str, after_run: Callable[[], Awaitable[None]]) -> None:
        self.desk = desk
        self.jobs = {job.id: job for job in jobs}
        self.replica = replica
        self.after_run = after_run
        self._aps: AsyncIOScheduler | None = None

    async def claim(self, session: AsyncSession, job: Job, slot: datetime) -> bool:
        """Inserts the slot's claim in ``session``; False when a replica has it (on PostgreSQL a
        concurrent claim waits here until the other unit of work commits or rolls back)."""
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        now = self.desk.clock.now()
        result = await session.execute(
            insert(JobRun)
            .values(job=job.id, slot=slot.astimezone(UTC), claimed_by=self.replica, claimed_at=now, done_at=now)
            .on_conflict_do_nothing(index_elements=["job", "slot"])
            .returning(JobRun.job)
        )
        # not rowcount: it is -1 for an INSERT on psycopg, which let both replicas run the slot
        return result.first() is not None

    async def run_slot(self, job: Job, slot: datetime) -> bool:
        """Runs one slot if no replica has done it; True when it ran here. Claim and work commit
        together: a failed or interrupted run leaves the slot unclaimed for the next catch-up."""
        try:
            async with self.desk.sessions.begin() as session:
                if not await self.claim(session, job, slot):
                    return False
                await job.run(session, self.desk, slot)
        except Exception:
            # the type only: an exception's text may quote content; the traceback is for DEBUG
            log.error("job %s slot %s failed (%s); it runs again at the next catch-up within its grace time",
                      job.id, slot.isoformat(), sys.exc_info()[0].__name__)  # type: ignore[union-attr]
            log.debug("job %s slot %s", job.id, slot.isoformat(), exc_info=True)
            return False
        await self.after_run()
        return True

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
        return ran

    # production ---------------------------------------------------------------------------------

    async def _fire(self, job_id: str) -> None:
        job = self.jobs[job_id]
        now = self.desk.clock.now()
        # APScheduler does not hand over the scheduled time: the slot is the last fire time by now
        slots = fire_times(job.trigger, now - job.grace, now)
        if slots:
            await self.run_slot(job, slots[-1])

    def start(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        for job in self.jobs.values():
            self._aps.add_job(self._fire, trigger=job.trigger, args=[job.id], id=job.id, coalesce=True,
                              max_instances=1, misfire_grace_time=int(job.grace.total_seconds()),
                              replace_existing=True)
        self._aps.start()

    def shutdown(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
