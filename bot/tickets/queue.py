"""The state of the queue for `/queue`: counts, the oldest open tickets, the unassigned ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Person, Ticket, ticket_is_open


@dataclass(frozen=True)
class QueueLine:
    key: str
    priority: int
    state: str
    created_at: datetime
    assignee: str | None
    title: str


@dataclass(frozen=True)
class QueueSnapshot:
    by_state: dict[str, int]
    by_priority: dict[int, int]
    oldest: list[QueueLine]
    unassigned: list[QueueLine]
    unassigned_total: int

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


async def _lines(session: AsyncSession, *conditions: ColumnElement[bool], limit: int) -> list[QueueLine]:
    stmt = (
        select(Ticket.key, Ticket.priority, Ticket.state, Ticket.created_at, Person.display_name, Ticket.title)
        .outerjoin(Person, Person.id == Ticket.assignee_id)
        .where(ticket_is_open(), *conditions)
        .order_by(Ticket.priority, Ticket.created_at)
        .limit(limit)
    )
    return [QueueLine(*row) for row in (await session.execute(stmt)).all()]


async def snapshot(session: AsyncSession, limit: int = 5) -> QueueSnapshot:
    counts = await session.execute(
        select(Ticket.state, Ticket.priority, func.count()).where(ticket_is_open())
        .group_by(Ticket.state, Ticket.priority)
    )
    by_state: dict[str, int] = {}
    by_priority: dict[int, int] = {}
    for state, priority, count in counts.all():
        by_state[state] = by_state.get(state, 0) + count
        by_priority[priority] = by_priority.get(priority, 0) + count
    oldest_stmt = (
        select(Ticket.key, Ticket.priority, Ticket.state, Ticket.created_at, Person.display_name, Ticket.title)
        .outerjoin(Person, Person.id == Ticket.assignee_id)
        .where(ticket_is_open())
        .order_by(Ticket.created_at)
        .limit(limit)
    )
    oldest = [QueueLine(*row) for row in (await session.execute(oldest_stmt)).all()]
    unassigned = await _lines(session, Ticket.assignee_id.is_(None), limit=limit)
    unassigned_total = int(await session.scalar(
        select(func.count()).select_from(Ticket).where(ticket_is_open(), Ticket.assignee_id.is_(None))
    ) or 0)
    return QueueSnapshot(by_state, by_priority, oldest, unassigned, unassigned_total)
