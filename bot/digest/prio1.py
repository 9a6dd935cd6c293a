"""Every hour on the hour while duty runs, the duty channel gets the open Prio-1 tickets with age,
SLA remaining, assignee and state, and phone duty is mentioned (handbook: phone duty checks the
ticket inbox for Prio-1 every hour). Titles appear here because the duty channel is private."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import MessageKind, Visibility
from bot.i18n import t
from bot.i18n.format import duration
from bot.infra.outbox import enqueue
from bot.sla.service import clocks_of
from storage.models import Person, Ticket, ticket_is_open

DIGEST_LIMIT = 20


@dataclass(frozen=True)
class DigestLine:
    key: str
    title: str
    state: str
    age: timedelta
    assignee: str | None
    sla_left: timedelta | None


def digest_query(priorities: Sequence[int]) -> Select[Ticket, str]:
    """The open tickets of these priorities, oldest first, with the assignee's name (benchmarked at
    a million tickets in benchmarks/bench_queue_1m.py)."""
    return (
        select(Ticket, Person.display_name)
        .outerjoin(Person, Person.id == Ticket.assignee_id)
        .where(ticket_is_open(), Ticket.priority.in_(priorities))
        .order_by(Ticket.created_at)
        .limit(DIGEST_LIMIT)
    )


async def open_tickets(session: AsyncSession, desk: Desk, priorities: Sequence[int], now: datetime) -> list[DigestLine]:
    rows = (await session.execute(digest_query(priorities))).all()
    lines = []
    for ticket, assignee in rows:
        running = [c for c in await clocks_of(session, desk, ticket) if c.stopped_at is None]
        left = min((c.remaining(now) for c in running), default=None)
        lines.append(DigestLine(ticket.key, ticket.title, ticket.state, now - ticket.created_at, assignee, left))
    return lines


def render(desk: Desk, lines: list[DigestLine], mention: str | None, priorities: Sequence[int]) -> str:
    lang = desk.language
    prios = "/".join(f"P{p}" for p in priorities)
    who = t(lang, "digest.for", who=mention) if mention else ""
    if not lines:
        return t(lang, "digest.empty", priorities=prios) + who
    out = [t(lang, "digest.head", count=len(lines), priorities=prios) + who]
    for line in lines:
        if line.sla_left is None:
            sla = t(lang, "digest.no_sla")
        elif line.sla_left >= timedelta(0):
            sla = t(lang, "digest.sla_left", left=duration(lang, line.sla_left))
        else:
            sla = t(lang, "digest.sla_over", over=duration(lang, -line.sla_left))
        out.append(t(lang, "digest.line", key=line.key, title=line.title, age=duration(lang, line.age),
                     state=t(lang, f"state.{line.state}"), sla=sla,
                     assignee=line.assignee or t(lang, "ticket.nobody")))
    return "\n".join(out)


async def post_digest(session: AsyncSession, desk: Desk, slot: datetime, mention: str | None) -> bool:
    """Writes the digest for ``slot``; False when there was nothing to post and the desk says so."""
    duty = desk.settings.duty
    assert duty is not None
    lines = await open_tickets(session, desk, duty.digest.priorities, slot)
    if not lines and not duty.digest.post_when_empty:
        return False
    text = render(desk, lines, mention, duty.digest.priorities)
    for target in desk.duty_targets():
        enqueue(session, slot, target, text, kind=MessageKind.DIGEST, visibility=Visibility.PRIVATE)
    return True
