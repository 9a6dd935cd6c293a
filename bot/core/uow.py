"""The unit of work: one transaction of the desk — a command, a timer, a job slot — and what it changed that
the features finish before the commit.

Services mark on the unit what they changed (``UnitOfWork.of(session)``): the tickets opened, the tickets that
became Prio-1, the tickets touched. :meth:`UnitOfWork.finish` then runs the features' finishing steps
(registered with ``Features.finish``) stage by stage, in the order of :class:`Stage`, and the commit follows.
The order is explicit here because it matters: a new ticket is routed first (its category may make it
Prio-1), then the standby is pinged (which writes timers and logs the ping), and the SLA clocks come last,
after every step that touched a ticket.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from bot.core.desk import Desk
    from storage.models import OutboxMessage, Ticket, TicketEvent

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

    def __post_init__(self) -> None:
        self.session.info[_KEY] = self

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

    async def finish(self) -> None:
        """Runs the features' finishing steps, stage by stage; once (the commit of ``unit_of_work`` runs it
        when the caller has not: the dispatcher does, to plan the delivery of what the steps wrote)."""
        if self.finished:
            return
        for stage in sorted(Stage):
            for step in self.desk.features.finishers.get(stage, ()):
                await step(self)
        self.finished = True


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
