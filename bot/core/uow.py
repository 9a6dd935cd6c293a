"""The unit of work: one transaction of the desk — a command, a timer, a job slot — and what it changed that
the features finish before the commit.

Services mark on the unit what they changed (``UnitOfWork.of(session)``): the tickets opened, the tickets that
became Prio-1, the tickets touched. :meth:`UnitOfWork.finish` then runs the features' finishing steps
(registered with ``Features.finish``) stage by stage, in the order of :class:`Stage`, and the commit follows.
The order is explicit here because it matters: a new ticket is routed first (its category may make it
Prio-1), then the standby is pinged (which writes timers and logs the ping), and the SLA clocks come last,
after every step that touched a ticket.

The outbox rows and ``ticket_events`` rows a unit adds are not ORM objects of its session: they wait on the unit
(:meth:`UnitOfWork.add`) and are written with one Core ``INSERT … RETURNING`` per table (their ids are set on the
objects) before the session's next flush — the autoflush before a query included — and before the commit. A reader
in the unit sees them as it saw the ORM's pending rows; what the unit no longer costs is the ORM's flush of them
(and on SQLite one INSERT per outbox row).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Insert, Table, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from storage.db import BEFORE_FLUSH
from storage.models import table_of

if TYPE_CHECKING:
    from bot.core.desk import Desk
    from storage.models import Contact, OutboxMessage, Ticket, TicketEvent

_T = TypeVar("_T")
_KEY = "dutydesk.unit_of_work"  # the one session.info entry: the unit the session belongs to


class Stage(IntEnum):
    """When a finishing step runs; steps of one stage run in the order they were registered."""

    NEW_TICKETS = 10  # what every new ticket gets first (routing, the documentation questions); may raise it to P1
    ESCALATION = 20   # who must hear of it at once (the Prio-1 ping, the answer outside hours); logs and timers
    CLOCKS = 30       # what is derived from a ticket's log (its SLA clocks and timers): after every step that logs
    CONTACTS = 40     # what every step said to requesters who are outside contacts goes out (bot/contacts)
    SPACES = 50       # a closed ticket's space is archived: after every message the unit wrote there


@dataclass(eq=False)
class UnitOfWork:
    session: AsyncSession
    desk: Desk
    # tickets opened in this unit: routed, asked for their documentation, answered outside the hours
    opened: set[int] = field(default_factory=set)
    # tickets that became Prio-1 in this unit (opened so or raised): the standby is pinged
    raised: set[int] = field(default_factory=set)
    # tickets that stopped being Prio-1 in this unit: their pending pings are withdrawn
    lowered: set[int] = field(default_factory=set)
    # tickets whose log grew: their SLA clocks and timers are derived again
    touched: set[int] = field(default_factory=set)
    # tickets inserted in this unit whose SLA timers are not written yet (there are none to replace)
    untimed: set[int] = field(default_factory=set)
    # the ticket_events rows this unit added, per ticket, in order, each with whether its actor is staff: the
    # whole log of a ticket opened in this unit, so its SLA clocks are derived without reading it back
    logged: dict[int, list[tuple[TicketEvent, bool]]] = field(default_factory=dict)
    # messages for requesters who are outside contacts (ticket id, text, kind, buttons), in order: bot/contacts
    # delivers them (by mail, or as a call-back reminder) when the unit finishes
    for_contacts: list[tuple[int, str, str, tuple[Any, ...]]] = field(default_factory=list)
    # tickets closed in this unit: their private space is archived once the unit's messages to it are queued
    closed: set[int] = field(default_factory=set)
    # with inline delivery (bot/infra/outbox.py): the rows this unit enqueued claimed for this process
    inline: list[OutboxMessage] | None = None
    finished: bool = False
    # every ticket marked, held here: the session's identity map holds a flushed, unchanged object only weakly,
    # so a ticket flushed by one step was dropped and read again (a SELECT) by the next step's session.get
    held: dict[int, Ticket] = field(default_factory=dict)
    # outbox and ticket_events rows added and not written yet, in the order they were added (see the module's doc)
    pending: list[Any] = field(default_factory=list)
    # the contact rows (bot/contacts) read together with their people (bot/access/people.resolve); None: the person
    # is no outside contact. A ticket's creation takes its requester's from here instead of reading it again.
    contacts: dict[int, Contact | None] = field(default_factory=dict)
    # how many tickets a person had opened since an instant, read with them (bot/access/people.resolve): the limit
    # check of a new ticket (bot/tickets/limits.py) needs no query of its own while they are below the limit.
    # Dropped when the unit opens a ticket for them.
    opened_since: dict[int, tuple[datetime, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session.info[_KEY] = self
        self.session.info[BEFORE_FLUSH] = self._write

    @staticmethod
    def find(session: AsyncSession) -> UnitOfWork | None:
        unit = session.info.get(_KEY)
        return unit if isinstance(unit, UnitOfWork) else None

    @staticmethod
    def of(session: AsyncSession) -> UnitOfWork:
        """The unit ``session`` belongs to; a service that marks changes runs in one (``unit_of_work``)."""
        unit = UnitOfWork.find(session)
        if unit is None:
            raise RuntimeError("ticket changes outside a unit of work: open it with bot.core.uow.unit_of_work")
        return unit

    def mark(self, marks: set[int], ticket: Ticket) -> None:
        if self.finished:
            raise RuntimeError("a ticket was marked after its unit of work finished")
        marks.add(ticket.id)
        self.held[ticket.id] = ticket

    async def ticket(self, ticket_id: int) -> Ticket | None:
        """A ticket the finishing steps work on: the one this unit holds (``held``) while it is still loaded and in
        the session, without ``session.get`` — whose identity-map hit still costs a greenlet hand-over, four per
        new ticket; else ``session.get`` as before (a deleted, expired or never held ticket)."""
        held = self.held.get(ticket_id)
        if held is not None:
            state = inspect(held)
            if state.persistent and not state.expired and not state.expired_attributes:
                return held
        from storage.models import Ticket

        return await self.session.get(Ticket, ticket_id)

    def add(self, row: OutboxMessage | TicketEvent) -> None:
        """Keeps a new outbox or ticket_events row to be written with the others of its table (no ORM flush); it
        gets its id when written: at the session's next flush or the commit, or :meth:`write`."""
        self.pending.append(row)

    def is_pending(self, row: object) -> bool:
        """Whether ``row`` was added (:meth:`add`) and is not written yet: a change to it is still written."""
        return any(row is kept for kept in self.pending)

    async def insert(self, obj: Any, *, before: Callable[[], None] | None = None) -> None:
        """Inserts the new ORM object ``obj`` (after the pending rows) with one Core ``INSERT … RETURNING id`` and
        attaches it to the session as a loaded, unchanged row: what an ORM flush of it would leave, without the
        flush, with the mapper's ``before_insert`` and ``after_insert`` events. Columns it does not set get their scalar
        default, else NULL. ``before`` runs once the pending rows
        are written (they have their ids) and before the INSERT: all of it in one hand-over to SQLAlchemy."""
        await self.session.run_sync(self._insert, obj, before)

    def _insert(self, session: Session, obj: Any, before: Callable[[], None] | None) -> None:
        self._write(session)
        if before is not None:
            before()
        table = table_of(type(obj))
        mapper = inspect(type(obj))
        connection = session.connection()
        mapper.dispatch.before_insert(mapper, connection, inspect(obj))  # the mapper's events, as a flush sends them
        values: dict[str, Any] = {}
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if column.primary_key:
                continue
            if prop.key not in obj.__dict__:
                default = column.default
                if default is not None and not default.is_scalar:
                    raise ValueError(f"{table.name}.{column.key} has a default that is not a value: set it")
                obj.__dict__[prop.key] = default.arg if default is not None else None
            values[column.key] = obj.__dict__[prop.key]
        obj.id = connection.execute(_inserting(table), values).scalar_one()
        make_transient_to_detached(obj)  # every attribute loaded, none changed
        session.add(obj)
        mapper.dispatch.after_insert(mapper, connection, inspect(obj))  # e.g. bot/infra/metrics counts the new ticket

    async def write(self) -> None:
        """Writes the pending rows now (their ids are needed before the next flush)."""
        if self.pending:
            await self.session.run_sync(self._write)

    def _write(self, session: Session) -> None:
        """The pending rows, one ``INSERT … RETURNING id`` per table and set of columns; then their files."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        groups: dict[tuple[Any, tuple[str, ...]], list[Any]] = {}
        for row in rows:
            groups.setdefault((type(row), _keys(row)), []).append(row)
        files: list[dict[str, Any]] = []
        connection = session.connection()  # not session.execute: that would autoflush, which calls this again
        for (model, keys), group in groups.items():
            table: Table = table_of(model)
            result = connection.execute(_inserting(table),
                                     [{key: row.__dict__[key] for key in keys} for row in group])
            # one multi-row INSERT: the ids grow in the order of its rows (on SQLite and PostgreSQL), whatever
            # order RETURNING gives them back in
            for row, row_id in zip(group, sorted(result.scalars().all()), strict=True):
                row.id = row_id
                for file in row.__dict__.get("files") or ():
                    files.append({"outbox_id": row_id, "position": file.position, "name": file.name,
                                  "content_type": file.content_type, "title": file.title, "data": file.data})
        if files:
            from storage.models import OutboxFile

            connection.execute(insert(table_of(OutboxFile)), files)

    async def finish(self) -> None:
        """Runs the features' finishing steps, stage by stage; once (the commit of ``unit_of_work`` runs it
        when the caller has not: the dispatcher does, to plan the delivery of what the steps wrote)."""
        if self.finished:
            return
        for stage in sorted(Stage):
            for step in self.desk.features.finishers.get(stage, ()):
                await step(self)
        self.finished = True


@functools.cache
def _inserting(table: Table) -> Insert:
    return insert(table).returning(table.c.id)


def new_row(model: type[_T], values: dict[str, Any]) -> _T:
    """A new ORM object of ``model`` holding ``values`` (attribute names), made without the ORM's attribute events
    (one per column, the bulk of the cost of ``model(**values)``) — for a row written by a Core INSERT
    (:meth:`UnitOfWork.add`, :meth:`UnitOfWork.insert`). It behaves like one made the usual way."""
    row: _T = inspect(model).class_manager.new_instance()
    row.__dict__.update(values)
    return row


def _keys(row: Any) -> tuple[str, ...]:
    """The columns set on a new row (the rest take their defaults)."""
    columns = _columns(row.__table__)
    return tuple(key for key in row.__dict__ if key in columns)


@functools.cache
def _columns(table: Table) -> frozenset[str]:
    return frozenset(table.c.keys())


@contextlib.asynccontextmanager
async def unit_of_work(desk: Desk) -> AsyncIterator[UnitOfWork]:
    """One transaction: the body's work, then :meth:`UnitOfWork.finish`, then the commit (a rollback on error)."""
    async with desk.sessions.begin() as session:
        unit = UnitOfWork(session, desk)
        try:
            yield unit
            await unit.finish()
        finally:
            session.info.pop(_KEY, None)
