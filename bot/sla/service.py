"""Keeps a ticket's SLA timers in step with its log, and sends the warnings when they fire.

After every change to a ticket (:func:`refresh_touched` is the unit of work's last finishing step) the
clocks are derived again, the due instants stored on the ticket (so a closed ticket keeps the
deadlines it had), and the pending warning timers replaced: one at 75 % of each running target
and one at its breach. A warning that has fired for a clock and target never fires again.
"""

from __future__ import annotations

import weakref
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import identity_of
from bot.core.desk import Desk
from bot.core.types import MessageKind, Platform, Target, Visibility
from bot.core.uow import UnitOfWork, unit_of_work
from bot.i18n import t
from bot.i18n.format import instant
from bot.infra import metrics
from bot.infra.outbox import enqueue
from bot.sla.policy import SlaPolicy
from bot.sla.tickets import TicketClock, derive, vendor_target
from bot.tickets.states import OPEN_STATES
from storage.models import Person, Ticket, TicketEvent, Timer, table_of

_TIMERS = insert(table_of(Timer))


def vendor_policy_of(desk: Desk) -> SlaPolicy | None:
    vendor = desk.settings.vendor
    return desk.policies.get(vendor.sla) if vendor is not None and vendor.sla else None


def vendor_due(desk: Desk, priority: int, reported: datetime) -> datetime | None:
    """When the vendor must have answered a ticket of ``priority`` reported at ``reported`` (None without a
    vendor policy or a target for that priority): the due of the vendor clock that report starts."""
    policy = vendor_policy_of(desk)
    target = vendor_target(policy, priority) if policy is not None else None
    return policy.clock(target, reported).due if policy is not None and target is not None else None


async def clocks_of(session: AsyncSession, desk: Desk, ticket: Ticket) -> list[TicketClock]:
    desk_policy, vendor_policy = _policies(desk)
    if desk_policy is None and vendor_policy is None:
        return []
    unit = UnitOfWork.find(session)
    if unit is not None and ticket.id in unit.untimed:
        # opened in this unit of work: its whole log is what the unit added (the log is append-only), so it
        # is not read back, which also spares the flush that reading it would force
        added = unit.logged.get(ticket.id, [])
        opened = _OPENED.get(ticket)
        if opened is not None and len(added) == 1 and added[0][0] is opened[1] and opened[0] == _basis(ticket):
            return opened[2]  # derived at its opening (see :func:`opening`) from the same log and fields
        events = [event for event, _ in added]
        staff = {event.actor_id for event, is_staff in added if is_staff and event.actor_id is not None}
        return derive(ticket, events, staff, desk_policy, vendor_policy)
    # the log and each actor's staff flag in one query: derive() only asks whether an event's actor is staff
    rows = (await session.execute(
        select(TicketEvent, Person.is_staff).outerjoin(Person, Person.id == TicketEvent.actor_id)
        .where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )).all()
    events = [event for event, _ in rows]
    staff = {event.actor_id for event, is_staff in rows if is_staff and event.actor_id is not None}
    return derive(ticket, events, staff, desk_policy, vendor_policy)


async def refresh_touched(unit: UnitOfWork) -> None:
    for ticket_id in sorted(unit.touched):
        ticket = await unit.ticket(ticket_id)
        if ticket is not None:
            await refresh(unit.session, unit.desk, ticket)


async def refresh_open(desk: Desk) -> int:
    """Recomputes every open ticket (at start: calendars or policies may have been edited)."""
    async with unit_of_work(desk) as unit:
        session = unit.session
        tickets = (await session.scalars(
            select(Ticket).where(Ticket.state.in_([s.value for s in OPEN_STATES]))
        )).all()
        for ticket in tickets:
            await refresh(session, desk, ticket)
    return len(tickets)


def _policies(desk: Desk) -> tuple[SlaPolicy | None, SlaPolicy | None]:
    return (desk.policies.get(desk.settings.desk.sla) if desk.settings.desk.sla else None), vendor_policy_of(desk)


def _stored(clocks: list[TicketClock], now: datetime) -> dict[str, dict[str, str | None]]:
    """The clocks as ``ticket.data["sla"]`` keeps them."""
    return {c.name: {"target": c.target.name, "due": c.due.isoformat() if c.due else None, "state": c.state_at(now)}
            for c in clocks}


def opening(desk: Desk, ticket: Ticket, created: TicketEvent, by_staff: bool) -> None:
    """A new ticket's clocks, stored with its INSERT (bot/tickets/service.OPENING): its log is the ``created`` entry.
    :func:`refresh` derives them again when the unit of work finishes and changes ``data`` only if they differ
    (routing changed the priority, say)."""
    desk_policy, vendor_policy = _policies(desk)
    if desk_policy is None and vendor_policy is None:
        return
    staff = {created.actor_id} if by_staff and created.actor_id is not None else set()
    clocks = derive(ticket, [created], staff, desk_policy, vendor_policy)
    _OPENED[ticket] = (_basis(ticket), created, clocks)
    ticket.data = {**(ticket.data or {}), "sla": _stored(clocks, desk.clock.now())}


# the clocks derived at a ticket's opening, with what they were derived from: the unit's SLA refresh takes them
# again when nothing they depend on changed since (the ticket's fields and its log: still just ``created``)
_OPENED: weakref.WeakKeyDictionary[Ticket, tuple[tuple[object, ...], TicketEvent, list[TicketClock]]] = \
    weakref.WeakKeyDictionary()


def _basis(ticket: Ticket) -> tuple[object, ...]:
    """What :func:`derive` reads of the ticket itself."""
    return (ticket.created_at, ticket.priority, ticket.state, ticket.requester_id,
            repr((ticket.data or {}).get("targets")))


async def refresh(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    clocks = await clocks_of(session, desk, ticket)
    now = desk.clock.now()
    stored = _stored(clocks, now)
    if (ticket.data or {}).get("sla") != stored:  # unchanged (a new ticket's, stored with its INSERT): no UPDATE
        ticket.data = {**(ticket.data or {}), "sla": stored}
    unit = UnitOfWork.find(session)
    if unit is not None and ticket.id in unit.untimed:
        # inserted in this unit of work and not refreshed before: there are no timer rows to replace or keep
        unit.untimed.discard(ticket.id)
        fired: set[tuple[str, str | None]] = set()
    else:
        await session.execute(delete(Timer).where(Timer.ticket_id == ticket.id, Timer.kind.like("sla:%"),
                                                  Timer.fired_at.is_(None)))
        fired = {
            (row.kind, (row.data or {}).get("target"))
            for row in (await session.scalars(
                select(Timer).where(Timer.ticket_id == ticket.id, Timer.kind.like("sla:%"),
                                    Timer.fired_at.is_not(None))
            )).all()
        }
    timers = []
    for clock in clocks:
        if clock.stopped_at is not None or clock.status != "running":
            continue
        due, warn = clock.due, clock.warn_at()
        if due is None:
            continue
        levels = [("breach", due)] if due <= now else [("warn", warn), ("breach", due)]
        for level, at in levels:
            kind = f"sla:{clock.name}:{level}"
            if at is None or (kind, clock.target.name) in fired:
                continue
            timers.append({"ticket_id": ticket.id, "kind": kind, "due_at": max(at, now), "fired_at": None,
                           "cancelled": False, "data": {"target": clock.target.name, "due": due.isoformat()}})
    if timers:
        # one Core executemany: as ORM objects they cost a flush, and on SQLite one INSERT each (to read ids back)
        await session.execute(_TIMERS, timers)


async def send_warning(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """To the assignee by DM and to the duty channels (the team sees every warning, also of a ticket someone has)."""
    ticket = await session.get(Ticket, timer.ticket_id)
    if ticket is None:
        return
    _, clock_name, level = timer.kind.split(":")
    current = next((c for c in await clocks_of(session, desk, ticket) if c.name == clock_name), None)
    now = desk.clock.now()
    if current is None or current.stopped_at is not None or current.status != "running" \
            or current.target.name != (timer.data or {}).get("target"):
        return  # the clock stopped or changed target since the timer was set
    due = current.due
    if due is None:
        return
    if level == "breach":
        metrics.after_commit(session, metrics.SLA_BREACHES.labels(clock_name).inc)

    def text(lang: str, zone: str) -> str:
        return t(lang, f"sla.{level}", key=ticket.key, priority=ticket.priority,
                 clock=t(lang, f"sla.clock_{clock_name}"), due=instant(lang, due, zone, now=now))

    platform = Platform(ticket.origin_platform)
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    user_id = await identity_of(session, assignee.id, platform) if assignee else None
    if assignee is not None and user_id is not None:
        enqueue(session, now, Target(kind="dm", platform=platform, user_id=user_id),
                text(assignee.language or desk.language, assignee.timezone or desk.settings.desk.timezone),
                kind=MessageKind.SLA_WARNING, visibility=Visibility.PRIVATE, ticket=ticket.key)
    for target in desk.duty_targets():
        enqueue(session, now, target, text(desk.language, desk.settings.desk.timezone),
                kind=MessageKind.SLA_WARNING, visibility=Visibility.PRIVATE, ticket=ticket.key)
