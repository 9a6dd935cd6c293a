"""Prio-1 escalation (agency handbook): every Prio-1 goes at once to the emergency standby, phone
duty is told, and an unacknowledged ping is repeated, then the coordinator is pinged.

Outside the duty window and the office hours the requester gets an automatic answer that says
when the desk opens and what to do in an emergency.

Nobody can page the team at will: a ticket pages at most once per ``[duty] escalate.repage_after``
(raised again within that time, only the escalation of its page goes on), lowering it from Prio-1
withdraws its pending repeats, and a desk with ``[duty] requester_p1 = "confirm"`` has the phone duty
confirm a requester's own Prio-1 before the standby is paged.

The ticket service marks new, raised and lowered tickets on the unit of work (``opened``, ``raised``,
``lowered``);
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
from bot.tickets.service import REQUESTED, log, tell_requester
from storage.models import Person, Ticket, TicketEvent, Timer
from storage.upsert import upsert

ACK = "ack"
CONFIRM = "confirm"
# the ticket events that count as a page for repage_after: the standby paged, the phone duty asked to confirm
PAGES = ("ping", "p1_request")


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
    for ticket_id in sorted(unit.lowered):
        ticket = await session.get(Ticket, ticket_id)
        if ticket is not None and ticket.priority != 1:
            await withdraw(session, ticket)
    for ticket_id in sorted(unit.raised):
        ticket = await session.get(Ticket, ticket_id)
        if ticket is not None and ticket.priority == 1:
            await page(session, desk, ticket)


async def page(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """A ticket became Prio-1: the standby is paged, or, for a requester's own Prio-1 where the desk wants it
    confirmed (``[duty] requester_p1 = "confirm"``), the phone duty is asked first. Within ``repage_after``
    of its last page a ticket pages nobody anew: the repeats of that page are armed again."""
    duty = desk.settings.duty
    if duty is None:
        return  # no rota: the new-ticket notice in the duty channel is all there is
    now = desk.clock.now()
    last = await _last_page(session, ticket, now - duty.escalate.repage_after)
    if last is not None:
        await _arm(session, desk, ticket, last.new, since=last.at, confirm=last.kind == "p1_request")
        return
    requested = (ticket.data or {}).get("priority_source") in REQUESTED
    if requested and duty.requester_p1 == "confirm":
        await ask_confirmation(session, desk, ticket)
    else:
        await ping_standby(session, desk, ticket)


async def _last_page(session: AsyncSession, ticket: Ticket, after: datetime) -> TicketEvent | None:
    """The ticket's latest page of the standby (or request to the phone duty to confirm) since ``after``."""
    return await session.scalar(select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(PAGES), TicketEvent.at >= after)
        .order_by(TicketEvent.id.desc()).limit(1))


async def withdraw(session: AsyncSession, ticket: Ticket) -> None:
    """The ticket is no longer Prio-1: its pending repeats and coordinator pings are cancelled."""
    await session.execute(
        update(Timer).where(Timer.ticket_id == ticket.id, Timer.kind.like("ping:%"), Timer.fired_at.is_(None),
                            Timer.cancelled.is_(False)).values(cancelled=True))


async def _arm(session: AsyncSession, desk: Desk, ticket: Ticket, who: str | None, *, since: datetime,
               confirm: bool = False) -> None:
    """The repeat and the coordinator ping of a page to ``who`` (None: the duty channel was told), due from
    now; an acknowledgement since ``since`` stops them. Written as upserts: a ticket raised twice in one
    instant (or by two replicas at once) has one timer of each kind, not a unique violation."""
    duty = desk.settings.duty
    assert duty is not None
    if who is None and not confirm:
        return  # no standby on duty: the duty channel was told, and that is all (outside the duty window)
    now = desk.clock.now()
    data = {"standby": who, "since": since.isoformat(), **({"confirm": True} if confirm else {})}
    for kind, after in (("ping:repeat", duty.escalate.repeat), ("ping:coordinator", duty.escalate.coordinator)):
        if kind == "ping:repeat" and who is None:
            continue  # nobody to remind: the duty channel was asked, the coordinator is next
        values = {"ticket_id": ticket.id, "kind": kind, "due_at": now + after, "fired_at": None, "cancelled": False,
                  "data": data}
        # one that exists already (fired or cancelled) is armed again
        await session.execute(upsert(session, Timer, values, key=["ticket_id", "kind", "due_at"],
                                     update={"fired_at": None, "cancelled": False, "data": data}))


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
                   opens=instant(ticket.language, opens, desk.settings.desk.timezone, now=now), emergency=emergency)


async def ping_standby(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """Pings the emergency standby by DM with an acknowledge button and tells phone duty."""
    if desk.settings.duty is None:
        return  # no rota: the new-ticket notice in the duty channel is all there is
    now = desk.clock.now()
    phone_role, standby_role = duty_roles(desk)
    standby = await holder(session, desk, standby_role, now) if standby_role else None
    phone = await holder(session, desk, phone_role, now) if phone_role else None
    ack = Button(action=ACK, label="ack", value=ticket.key)
    log(session, ticket, "ping", now, None, new=standby)
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
    await _arm(session, desk, ticket, standby, since=now)


async def ask_confirmation(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """A requester's own Prio-1 on a desk that wants it confirmed: the phone duty (else the duty channel) is
    asked to confirm it (the standby is paged then) or to lower it; unanswered, it is asked again and the
    coordinator is told, like an unacknowledged page."""
    now = desk.clock.now()
    phone_role, _standby_role = duty_roles(desk)
    phone = await holder(session, desk, phone_role, now) if phone_role else None
    confirm = Button(action=CONFIRM, label="confirm", value=ticket.key)
    log(session, ticket, "p1_request", now, None, new=phone)
    if phone is None or not await tell(session, desk, phone, "escalation.confirm", kind=MessageKind.PING,
                                       buttons=(confirm,), key=ticket.key, title=ticket.title, ticket=ticket.key):
        post_duty(desk, session, "escalation.confirm_channel", kind=MessageKind.PING, buttons=(confirm,),
                  ticket=ticket.key, key=ticket.key, title=ticket.title)
        phone = None
    await _arm(session, desk, ticket, phone, since=now, confirm=True)


async def confirm(session: AsyncSession, desk: Desk, ticket: Ticket, who: Person) -> None:
    """The phone duty confirmed a requester's Prio-1: it is the team's priority now, and the standby is paged."""
    await withdraw(session, ticket)
    ticket.data = {**(ticket.data or {}), "priority_source": "team"}
    log(session, ticket, "confirm", desk.clock.now(), who, new=who.key)
    await ping_standby(session, desk, ticket)


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


async def taken(session: AsyncSession, desk: Desk, ticket: Ticket, who: Person) -> bool:
    """``who`` took the Prio-1 (``take``, or assigned it to themselves): that acknowledges its page, so
    nobody is reminded and the coordinator is not told. True when a page was pending."""
    if ticket.priority != 1:
        return False
    return await acknowledge(session, desk, ticket, who.key)


async def ping_timer(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    ticket = await session.get(Ticket, timer.ticket_id)
    if ticket is None or ticket.priority != 1 or ticket.state in ("resolved", "feedback", "closed", "merged"):
        return
    data = timer.data or {}
    since = datetime.fromisoformat(data["since"])
    if await acknowledged_since(session, ticket, since):
        return
    standby = data.get("standby")
    asking = bool(data.get("confirm"))
    if asking and (ticket.data or {}).get("priority_source") not in REQUESTED:
        return  # the team has decided on its priority meanwhile
    button = Button(action=CONFIRM, label="confirm", value=ticket.key) if asking else \
        Button(action=ACK, label="ack", value=ticket.key)
    if timer.kind == "ping:repeat" and standby:
        await tell(session, desk, standby, "escalation.confirm_again" if asking else "escalation.ping_again",
                   kind=MessageKind.PING, buttons=(button,), key=ticket.key, title=ticket.title, ticket=ticket.key)
        return
    duty = desk.settings.duty
    coordinator = duty.coordinator if duty is not None else None
    if coordinator and await tell(session, desk, coordinator,
                                  "escalation.confirm_coordinator" if asking else "escalation.coordinator",
                                  kind=MessageKind.PING, buttons=(button,), key=ticket.key,
                                  who=name_of(desk, standby), ticket=ticket.key):
        return
    post_duty(desk, session, "escalation.confirm_unanswered" if asking else "escalation.unacknowledged",
              kind=MessageKind.PING, ticket=ticket.key, key=ticket.key, who=name_of(desk, standby))
