"""Prometheus metrics of one bot process (served by bot/infra/ops.py on ``/metrics``).

Counters that describe committed work (tickets created, events handled, SLA breaches) are counted
when their unit of work commits: ``after_commit(session, fn)`` keeps ``fn`` in the session until
the commit, and a rollback forgets it, so a rolled-back ticket is never counted. Gauges of the
database (outbox depth, unhandled events) are read at scrape time by bot/infra/ops.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, PlatformCollector, ProcessCollector
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from bot import version
from bot.core.features import Hook
from storage.models import Ticket

REGISTRY = CollectorRegistry(auto_describe=True)
# the process (CPU, memory, open files, start time) and the Python it runs on, as the default registry has them
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
BUILD = Info("dutydesk_build", "The release this process runs.", registry=REGISTRY)
BUILD.info({"version": version()})

# features that read gauges from the database at scrape time (bot/reports/gauges.py): called by /metrics with
# the desk, in one session, before the registry is rendered
ScrapeHook = Callable[[Any, Any], Awaitable[None]]  # (session, desk)
SCRAPE: Hook[ScrapeHook] = Hook("metrics.scrape")
_PENDING = "metrics_after_commit"

TICKETS_CREATED = Counter("dutydesk_tickets_created", "Tickets opened.", registry=REGISTRY)
SLA_BREACHES = Counter("dutydesk_sla_breaches", "SLA breaches reported, by clock.", ["clock"], registry=REGISTRY)
EVENTS = Counter("dutydesk_events_handled", "Inbound events handled, by kind and outcome (done, failed).",
                 ["kind", "outcome"], registry=REGISTRY)
EVENT_LAG = Histogram(
    "dutydesk_event_lag_seconds", "From an event's arrival (received_at) to the commit of its handling.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600), registry=REGISTRY)
DELIVERIES = Counter("dutydesk_deliveries", "Outbox messages delivered, by platform.", ["platform"],
                     registry=REGISTRY)
DELIVERY_ERRORS = Counter("dutydesk_delivery_errors", "Failed delivery attempts, by platform and whether the "
                          "message was given up (dead) or will be retried.", ["platform", "result"],
                          registry=REGISTRY)
OUTBOX_DEPTH = Gauge("dutydesk_outbox_depth", "Outbox messages not yet delivered.", registry=REGISTRY)
OUTBOX_DEAD = Gauge("dutydesk_outbox_dead", "Outbox messages given up.", registry=REGISTRY)
OUTBOX_OLDEST = Gauge("dutydesk_outbox_oldest_pending_seconds", "Age of the oldest undelivered outbox message.",
                      registry=REGISTRY)
INBOX_UNHANDLED = Gauge("dutydesk_inbox_unhandled", "Stored inbound events not handled yet.", registry=REGISTRY)
DATABASE_UP = Gauge("dutydesk_database_up", "1 when the last health check reached the database.",
                    registry=REGISTRY)


def after_commit(session: Any, fn: Callable[[], None]) -> None:
    """Runs ``fn`` when ``session`` (sync or async) commits; forgotten when it rolls back."""
    info = session.info
    info.setdefault(_PENDING, []).append(fn)


def handled(session: Any, kind: str, received_at: datetime, now: datetime) -> None:
    lag = max((now - received_at).total_seconds(), 0.0)

    def count() -> None:
        EVENTS.labels(kind, "done").inc()
        EVENT_LAG.observe(lag)

    after_commit(session, count)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for fn in session.info.pop(_PENDING, ()):
        fn()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Ticket, "after_insert")
def _ticket_created(_mapper: Any, _connection: Any, ticket: Ticket) -> None:
    session = object_session(ticket)
    if session is not None:
        after_commit(session, TICKETS_CREATED.inc)
