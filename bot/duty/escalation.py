"""Prio-1 escalation (agency handbook): every Prio-1 goes at once to the emergency standby, phone
duty is told, and an unacknowledged ping is repeated, then the coordinator is pinged.

Outside the duty window and the office hours the requester gets an automatic answer that says
when the desk opens and what to do in an emergency.

The ticket service marks new and raised tickets on the unit of work (``opened``, ``raised``);
:func:`escalate` is its finishing step (``Stage.ESCALATION``), so pings and their timers are written
in the same transaction as the ticket change, whether a command, a timer or a job changed it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import Button, MessageKind, Platform
from bot.core.uow import UnitOfWork
from bot.duty.notify import name_of, post_duty, tell
from bot.duty.store import holder, window_of
from bot.i18n import t
from bot.i18n.format import instant
from bot.tickets.service import log, tell_requester
from storage.models import Ticket, TicketEvent, Timer

ACK = "ack"


def duty_roles(desk: Desk) -> tuple[str | None, str | None]:
    """(phone duty, emergency standby): the roles named so, else the first two configured."""
    duty = desk.settings.duty
    roles = list(duty.roles) if duty is not None else []
    phone = "phone" if "phone" in roles else (roles[0] if roles else None)
    standby = "standby" if "standby" in roles else (roles[1] if len(roles) > 1 else None)
    return phone, standby


async def escalate(unit: UnitOfWork) -> None:
    session, desk = unit.session, unit.desk
    for ticket_id in sorted(unit.opened):
        ticket = await session.get(Ticket, ticket_id)
        if ticket is not None:
            await answer_when_closed(session, desk, ticket)
    for ticket_id in sorted(unit.raised):
        ticket = await session.get(Ticket, ticket_id)
        if ticket is not None and ticket.priority == 1:
            await ping_standby(session, desk, ticket)


async def answer_when_closed(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """The automatic answer outside the duty window and the office hours."""
    now = desk.clock.now()
    window = window_of(desk)
    if window is not None and window.is_on(now):
        return
    name = desk.settings.desk.calendar
    calendar = desk.calendars.get(name) if name else None
    if calendar is None or calendar.is_open(now):
        return
    opens = calendar.next_opening(now)
    if window is not None:
        upcoming = window.current_or_next(now)
        if upcoming is not None and upcoming[0] < opens:
            opens = upcoming[0]
    duty = desk.settings.duty
    phone = duty.emergency_phone if duty is not None else None
    platform = Platform(ticket.origin_platform)
    emergency = t(ticket.language, "closed.emergency_phone" if phone else "closed.emergency_p1", phone=phone or "",
                  prefix=desk.prefixes.get(platform, "/"))
    tell_requester(session, desk, ticket, "closed.auto_answer", kind=MessageKind.AUTO_ANSWER,
                   opens=instant(opens, desk.settings.desk.timezone), emergency=emergency)


async def ping_standby(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """Pings the emergency standby by DM with an acknowledge button and tells phone duty."""
    if desk.settings.duty is None:
        return  # no rota: the new-ticket notice in the duty channel is all there is
    now = desk.clock.now()
    phone_role, standby_role = duty_roles(desk)
    standby = await holder(session, desk, standby_role, now) if standby_role else None
    phone = await holder(session, desk, phone_role, now) if phone_role else None
    ack = Button(action=ACK, label="ack", value=ticket.key)
    if standby is None:
        # no duty running: the team channel gets it, and the coordinator when there is one
        post_duty(desk, session, "escalation.no_standby", kind=MessageKind.PING, ticket=ticket.key, key=ticket.key,
                  title=ticket.title)
        return
    await tell(session, desk, standby, "escalation.ping", kind=MessageKind.PING, buttons=(ack,), key=ticket.key,
               title=ticket.title, ticket=ticket.key)
    if phone is not None and phone != standby:
        await tell(session, desk, phone, "escalation.phone_told", kind=MessageKind.NOTICE, key=ticket.key,
                   who=name_of(desk, standby), ticket=ticket.key)
    log(session, ticket, "ping", now, None, new=standby)
    duty = desk.settings.duty
    assert duty is not None
    session.add(Timer(ticket_id=ticket.id, kind="ping:repeat", due_at=now + duty.escalate.repeat,
                      data={"standby": standby, "since": now.isoformat()}))
    session.add(Timer(ticket_id=ticket.id, kind="ping:coordinator", due_at=now + duty.escalate.coordinator,
                      data={"standby": standby, "since": now.isoformat()}))


async def acknowledged_since(session: AsyncSession, ticket: Ticket, since: datetime) -> bool:
    found = await session.scalar(select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "ack", TicketEvent.at >= since).limit(1))
    return found is not None


async def acknowledge(session: AsyncSession, desk: Desk, ticket: Ticket, who: str) -> bool:
    """Records the acknowledgement and cancels the pending repeats; False when nothing was pending."""
    pending = await session.execute(
        update(Timer).where(Timer.ticket_id == ticket.id, Timer.kind.like("ping:%"), Timer.fired_at.is_(None),
                            Timer.cancelled.is_(False)).values(cancelled=True))
    log(session, ticket, "ack", desk.clock.now(), None, new=who)
    return bool(pending.rowcount)


async def ping_timer(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    ticket = await session.get(Ticket, timer.ticket_id)
    if ticket is None or ticket.priority != 1 or ticket.state in ("resolved", "feedback", "closed", "merged"):
        return
    data = timer.data or {}
    since = datetime.fromisoformat(data["since"])
    if await acknowledged_since(session, ticket, since):
        return
    standby = data.get("standby")
    ack = Button(action=ACK, label="ack", value=ticket.key)
    if timer.kind == "ping:repeat" and standby:
        await tell(session, desk, standby, "escalation.ping_again", kind=MessageKind.PING, buttons=(ack,),
                   key=ticket.key, title=ticket.title, ticket=ticket.key)
        return
    duty = desk.settings.duty
    coordinator = duty.coordinator if duty is not None else None
    if coordinator and await tell(session, desk, coordinator, "escalation.coordinator", kind=MessageKind.PING,
                                  buttons=(ack,), key=ticket.key, who=name_of(desk, standby), ticket=ticket.key):
        return
    post_duty(desk, session, "escalation.unacknowledged", kind=MessageKind.PING, ticket=ticket.key, key=ticket.key,
              who=name_of(desk, standby))
