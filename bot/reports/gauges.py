"""Gauges a lead's dashboard needs, read from the database when Prometheus scrapes ``/metrics``.

- ``dutydesk_open_tickets{state, priority}``: the open tickets (bot.tickets.states.OPEN_STATES);
- ``dutydesk_oldest_open_ticket_seconds``: the age of the oldest open ticket (0 when none is open);
- ``dutydesk_tickets_sla_at_risk``: open tickets with a running SLA clock past 75 % of its budget and not yet
  breached: the 75 % warning of that clock has fired and its breach timer is still pending (bot/sla/service.py
  keeps one of each per running clock);
- ``dutydesk_tickets_sla_breached``: open tickets with a running clock past its due instant (the due and state
  stored on the ticket at its last change; a clock that stopped since was refreshed by that change).

The counts use the partial indexes on open tickets (storage/models.py), as ``/queue`` does.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Gauge
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.desk import Desk
from bot.infra.metrics import REGISTRY
from bot.tickets.states import OPEN_STATES
from storage.models import Ticket, Timer, ticket_is_open

OPEN_TICKETS = Gauge("dutydesk_open_tickets", "Open tickets, by state and priority.", ["state", "priority"],
                     registry=REGISTRY)
OLDEST_OPEN = Gauge("dutydesk_oldest_open_ticket_seconds", "Age of the oldest open ticket (0 when none is open).",
                    registry=REGISTRY)
AT_RISK = Gauge("dutydesk_tickets_sla_at_risk", "Open tickets with an SLA clock past 75 % of its budget, not yet "
                "breached.", registry=REGISTRY)
BREACHED = Gauge("dutydesk_tickets_sla_breached", "Open tickets with a running SLA clock past its due instant.",
                 registry=REGISTRY)
PRIORITIES = ("1", "2", "3")


async def scrape(session: AsyncSession, desk: Desk) -> None:
    now = desk.clock.now()
    counts = {(state, str(priority)): n for state, priority, n in (await session.execute(
        select(Ticket.state, Ticket.priority, func.count()).where(ticket_is_open())
        .group_by(Ticket.state, Ticket.priority))).all()}
    # every open state and priority has a sample, also at 0: a dashboard's series do not vanish
    for state in sorted(s.value for s in OPEN_STATES):
        for priority in PRIORITIES:
            OPEN_TICKETS.labels(state, priority).set(counts.pop((state, priority), 0))
    for (state, priority), n in counts.items():  # a priority outside 1-3
        OPEN_TICKETS.labels(state, priority).set(n)
    oldest = await session.scalar(select(func.min(Ticket.created_at)).where(ticket_is_open()))
    OLDEST_OPEN.set(max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
    AT_RISK.set(await _at_risk(session))
    BREACHED.set(await _breached(session, now))


async def _at_risk(session: AsyncSession) -> int:
    breach, warn = aliased(Timer), aliased(Timer)
    # the pending breach of a clock whose warning (same clock, same ticket) is no longer pending: it fired
    pending_warn = (select(warn.id).where(
        warn.ticket_id == breach.ticket_id, warn.fired_at.is_(None), warn.cancelled.is_(False),
        warn.kind == func.replace(breach.kind, ":breach", ":warn")).exists())
    stmt = (select(func.count(func.distinct(breach.ticket_id)))
            .join(Ticket, and_(Ticket.id == breach.ticket_id, ticket_is_open()))
            .where(breach.kind.like("sla:%:breach"), breach.fired_at.is_(None), breach.cancelled.is_(False),
                   ~pending_warn))
    return int(await session.scalar(stmt) or 0)


async def _breached(session: AsyncSession, now: datetime) -> int:
    rows = (await session.execute(select(Ticket.data).where(ticket_is_open()))).scalars().all()
    count = 0
    for data in rows:
        for clock in ((data or {}).get("sla") or {}).values():
            due, state = clock.get("due"), clock.get("state")
            if due and state in ("running", "breached") and datetime.fromisoformat(due) <= now:
                count += 1
                break
    return count
