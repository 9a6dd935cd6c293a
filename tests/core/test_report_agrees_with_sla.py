"""The report's SLA figures agree with the SLA engine's own recomputation on a generated week (issue #19).

The report derives each ticket's clocks from rows it reads in bulk (the log of every ticket opened in the range in
chunks, the staff read once instead of joined to every event). ``bot.sla.service.clocks_of`` derives them the way
the SLA timers do: one ticket's mapped log with each actor's staff flag joined. On a seeded random week of
tickets — answered by agents, by nobody, solved, judged satisfied or not fixed, closed after the feedback wait,
retaken, reprioritised, agents and the requester writing in the ticket's space — and for a range still running
(its end is now, so both read the whole log), every ticket's due instants, first response and the counts per target
must be the same.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import select

from bot.core.clock import VirtualClock
from bot.reports.figures import _clock_state, _Log, _sla_key, build_report
from bot.sla.service import clocks_of
from bot.sla.tickets import first_answer
from storage.models import Person, Ticket, TicketEvent
from tests.core.report_week import DESK, at


async def test_a_generated_week_agrees_with_the_sla_engine(make_harness) -> None:
    rng = random.Random(19)
    clock = VirtualClock(at(30, 7))
    desk = await make_harness(clock=clock, **DESK)
    opened = 0
    instant = at(30, 7)
    for _ in range(40):
        instant += timedelta(minutes=rng.choice((7, 25, 50, 95, 240)))
        await desk.bot.run_until(clock, instant)
        live = list(range(1, opened + 1))
        action = rng.random()
        if action < 0.35 or not live:
            opened += 1
            flags = rng.choice(("", "-p 1 ", "-p 3 ", "-t printer "))
            await desk.send("ben", f"/ticket {flags}case {opened}")
            continue
        key = f"HW-{rng.choice(live)}"
        agent = rng.choice(("anna", "carla"))
        if action < 0.5:  # a message in the ticket's space: an agent's counts as an answer, the requester's not
            await desk.send(rng.choice((agent, "ben")), f"about {key}", ticket=key)
            continue
        command = rng.choice((f"reply {key} looking", f"take {key}", f"solve {key} done", f"priority {key} 1",
                              f"satisfied {key}", f"notfixed {key}", f"reply {key} again"))
        who, where = ("ben", None) if command.split()[0] in ("satisfied", "notfixed") else (agent, "#support-duty")
        if where:
            await desk.send(who, f"/ticket {command}", channel=where)
        else:
            await desk.send(who, f"/ticket {command}")
    await desk.bot.run_until(clock, at(4, 15, month=12))  # feedback waits of the Monday's solutions run out

    core = desk.bot.desk
    async with desk.sessions() as session:
        report = await build_report(session, core, date(2026, 11, 30), date(2026, 12, 6))
        assert report.as_of == clock.now()  # the range is still running: both sides read the whole log
        tickets = (await session.scalars(select(Ticket).order_by(Ticket.id))).all()
        desk_policy = core.policies[core.settings.desk.sla or ""]
        expected: dict[str, Counter[str]] = {}
        lines = {line.key: line for line in report.tickets}
        assert sorted(lines) == sorted(t.key for t in tickets) and len(tickets) == opened > 5
        for ticket in tickets:
            line = lines[ticket.key]
            events = list((await session.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all())
            staff = {pid for pid, in (await session.execute(select(Person.id).where(Person.is_staff.is_(True))))}
            log = _Log(ticket, events, {e.actor_id for e in events if e.actor_id in staff})
            assert line.first_response == first_answer(events, log.staff)
            assert line.state == ticket.state
            engine = await clocks_of(session, core, ticket)
            assert {_sla_key(c, desk_policy): c.due for c in engine} == {k: v[0] for k, v in line.sla.items()}
            for c in engine:
                verdict = _clock_state(c, c.due, log, ticket.state, report.as_of)
                assert line.sla[_sla_key(c, desk_policy)][1] == verdict
                expected.setdefault(_sla_key(c, desk_policy), Counter())[verdict] += 1
    assert report.sla == {name: {s: counts.get(s, 0) for s in ("met", "breached", "running", "stopped")}
                          for name, counts in sorted(expected.items())}
    # the generated week exercised more than one verdict and more than one state
    assert len({v for counts in report.sla.values() for v, n in counts.items() if n}) >= 2
    assert len({line.state for line in report.tickets}) >= 3
