"""Prio-1 escalation (agency handbook): every Prio-1 goes at once to the emergency standby, phone
duty is told, and an unacknowledged ping is repeated, then the coordinator is pinged.

A page goes to whoever holds the paged role now (the standby; on a desk whose duty has one role, that
role's holder). Its repeat and the coordinator ping run only while that person's duty runs: when the
duty ends unacknowledged, the page goes on with whoever is on duty then, else the coordinator is told at
once and the next duty window's holder is paged at its start. A Prio-1 that comes in while nobody is on
duty reaches a person the same way: the coordinator at once, the next window's holder at its start.
The receipt (:func:`promise`) says exactly this, and nothing the bot will not do.

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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import person_by_key
from bot.core.desk import Desk
from bot.core.types import Button, MessageKind, Platform
from bot.core.uow import UnitOfWork
from bot.duty.notify import mention_of, name_of, post_duty, tell
from bot.duty.store import holder, window_of
from bot.i18n import t
from bot.i18n.format import instant
from bot.tickets.service import REQUESTED, log, tell_requester
from storage.db import affected
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


def paged_role(desk: Desk) -> str | None:
    """The role a Prio-1 pages: the emergency standby; on a desk whose duty has one role, that role."""
    phone, standby = duty_roles(desk)
    return standby or phone


def next_start(desk: Desk, after: datetime) -> datetime | None:
    """The start of the first duty window that begins after ``after`` (None: none within ~2 years)."""
    window = window_of(desk)
    if window is None:
        return None
    return next((start for start, _end in window.iter_windows(after) if start > after), None)


def _wants_confirmation(desk: Desk, ticket: Ticket) -> bool:
    duty = desk.settings.duty
    return (duty is not None and duty.requester_p1 == "confirm"
            and (ticket.data or {}).get("priority_source") in REQUESTED)


@dataclass(frozen=True)
class Reach:
    """Whom a Prio-1 reaches: the page and the receipt that promises it are decided by this one answer."""

    role: str | None             # the role asked first (the standby; the phone duty where it confirms first)
    person: str | None           # its holder now; None: nobody is on duty
    coordinator: str | None      # told at once when nobody is on duty (a coordinator the bot knows)
    start: datetime | None       # when nobody is on duty: the next window's start, when its holder is asked


async def reach(session: AsyncSession, desk: Desk, ticket: Ticket) -> Reach:
    duty = desk.settings.duty
    assert duty is not None
    now = desk.clock.now()
    role = duty_roles(desk)[0] if _wants_confirmation(desk, ticket) else paged_role(desk)
    person = await holder(session, desk, role, now) if role else None
    if person is not None:
        return Reach(role, person, None, None)
    coordinator = duty.coordinator if duty.coordinator and await person_by_key(session, duty.coordinator) else None
    return Reach(role, None, coordinator, next_start(desk, now) if role else None)


async def promise(session: AsyncSession, desk: Desk, ticket: Ticket, lang: str) -> str | None:
    """The Prio-1 receipt's last sentence: who is told, and when — what the page will do, nothing more."""
    duty = desk.settings.duty
    if duty is None:
        return None  # no rota: the ticket service says what the duty channel gets
    found = await reach(session, desk, ticket)
    confirm = _wants_confirmation(desk, ticket)
    role = "phone" if confirm or found.role != duty_roles(desk)[1] else "standby"
    if found.person is not None:
        key = "ticket.next_p1_confirm" if confirm else f"ticket.next_p1_{role}"
        return t(lang, key, key=ticket.key)
    who = t(lang, f"ticket.p1_who_{'confirm' if confirm else role}")
    start = instant(lang, found.start, desk.settings.desk.timezone, now=desk.clock.now()) \
        if found.start is not None else ""
    channel = bool(desk.duty_targets())
    if found.coordinator and found.start:
        text = t(lang, "ticket.next_p1_off_coordinator", key=ticket.key, who=who, start=start)
    elif found.coordinator:
        text = t(lang, "ticket.next_p1_off_coordinator_only", key=ticket.key)
    elif found.start:
        text = t(lang, "ticket.next_p1_off" if channel else "ticket.next_p1_off_no_channel", key=ticket.key,
                 who=who, start=start)
    else:
        text = t(lang, "ticket.next_p1_team" if channel else "ticket.next", key=ticket.key)
    if duty.emergency_phone:
        text += " " + t(lang, "closed.emergency_phone", phone=duty.emergency_phone)
    return text


async def escalate(unit: UnitOfWork) -> None:
    session, desk = unit.session, unit.desk
    for ticket_id in sorted(unit.opened):
        ticket = await unit.ticket(ticket_id)
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
    await _page_now(session, desk, ticket)


async def _page_now(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    if _wants_confirmation(desk, ticket):
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
    """The escalation of a page to ``who``, due from now; an acknowledgement since ``since`` stops it.

    While ``who``'s duty runs: the repeat and the coordinator ping; at its end (``ping:window``) the page goes
    on with whoever is on duty then. ``who`` None (nobody was on duty): the next window's holder at its start.
    Written as upserts: a ticket raised twice in one instant (or by two replicas at once) has one timer of each
    kind and instant, not a unique violation."""
    duty = desk.settings.duty
    window = window_of(desk)
    assert duty is not None and window is not None
    now = desk.clock.now()
    data = {"standby": who, "since": since.isoformat(), **({"confirm": True} if confirm else {})}
    running = window.window_at(now)
    if who is None or running is None:
        # nobody on duty now: the duty channel and the coordinator were told; the next window's holder is next
        start = next_start(desk, now)
        if start is not None:
            await _timer(session, ticket, "ping:window", start, data)
        return
    end = running[1]
    for kind, after in (("ping:repeat", duty.escalate.repeat), ("ping:coordinator", duty.escalate.coordinator)):
        if now + after < end:
            await _timer(session, ticket, kind, now + after, data)
    await _timer(session, ticket, "ping:window", end, data)


async def _timer(session: AsyncSession, ticket: Ticket, kind: str, due: datetime, data: Mapping[str, object]) -> None:
    values = {"ticket_id": ticket.id, "kind": kind, "due_at": due, "fired_at": None, "cancelled": False,
              "data": data}
    # one that exists already (fired or cancelled) is armed again
    await session.execute(upsert(session, Timer, values, key=["ticket_id", "kind", "due_at"],
                                 update={"fired_at": None, "cancelled": False, "data": data}))


async def off_duty(session: AsyncSession, desk: Desk, ticket: Ticket, *, confirm: bool, ended: bool = False) -> None:
    """Nobody holds the role a Prio-1 asks for right now (or the duty of the one paged ended, ``ended``): the duty
    channel hears it, the coordinator is told at once, and the next window's holder is asked at its start."""
    duty = desk.settings.duty
    assert duty is not None
    now = desk.clock.now()
    start = next_start(desk, now)
    zone = desk.settings.desk.timezone

    def then(lang: str) -> str:
        if start is None:
            return ""
        return t(lang, "escalation.next_window", start=instant(lang, start, zone, now=now))

    coordinator = duty.coordinator
    told = bool(coordinator) and await tell(
        session, desk, coordinator or "",
        "escalation.ended_coordinator" if ended else "escalation.off_duty_coordinator",
        kind=MessageKind.PING, buttons=(Button(action=ACK, label="ack", value=ticket.key),), key=ticket.key,
        title=ticket.title, ticket=ticket.key, next=then)
    told_text = t(desk.language, "escalation.coordinator_told", who=name_of(desk, coordinator)) if told else ""
    post_duty(desk, session, "escalation.ended" if ended else (
        "escalation.confirm_channel" if confirm else "escalation.no_standby"),
        kind=MessageKind.PING, ticket=ticket.key, key=ticket.key, title=ticket.title,
        buttons=(Button(action=CONFIRM, label="confirm", value=ticket.key),) if confirm and not ended else (),
        told=" ".join(part for part in (told_text, then(desk.language)) if part))
    if start is not None:
        data: dict[str, object] = {"standby": None, "since": now.isoformat(), **({"confirm": True} if confirm else {})}
        await _timer(session, ticket, "ping:window", start, data)


async def answer_when_closed(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """The automatic answer outside the duty window and the office hours. A Prio-1 gets none: its receipt says
    who is told and when, and it must not be told to open a Prio-1."""
    if ticket.priority == 1 and desk.settings.duty is not None:
        return
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


def contact(desk: Desk, key: str | None) -> str:
    """A colleague's name (a mention where the platform has them) and, when the config has one, their phone
    number: ``Lea (+49 30 5550 2102)``."""
    person = desk.settings.people.get(key) if key else None
    name = mention_of(desk, key)
    return f"{name} ({person.phone})" if person is not None and person.phone else name


async def ping_standby(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """Pings the emergency standby (on a one-role desk: that role's holder) by DM with an acknowledge button,
    naming the phone duty's number, and tells the phone duty with the standby's number. Nobody on duty or
    reachable: :func:`off_duty`."""
    if desk.settings.duty is None:
        return  # no rota: the new-ticket notice in the duty channel is all there is
    now = desk.clock.now()
    phone_role, standby_role = duty_roles(desk)
    role = paged_role(desk)
    standby = await holder(session, desk, role, now) if role else None
    phone = await holder(session, desk, phone_role, now) if phone_role and phone_role != role else None
    phone = phone if phone != standby else None
    ack = Button(action=ACK, label=t(desk.language, "escalation.button_ack"), value=ticket.key)
    log(session, ticket, "ping", now, None, new=standby)
    # the phone duty (a desk with two roles) is named with their number: the standby calls them
    text = ("escalation.ping_with_phone" if phone else "escalation.ping") if role == standby_role \
        else "escalation.ping_phone"
    if standby is None or not await tell(
            session, desk, standby, text, kind=MessageKind.PING, buttons=(ack,),
            key=ticket.key, title=ticket.title, ticket=ticket.key, phone=contact(desk, phone)):
        await off_duty(session, desk, ticket, confirm=False)
        return
    if phone is not None:
        await tell(session, desk, phone, "escalation.phone_told", kind=MessageKind.NOTICE, key=ticket.key,
                   who=contact(desk, standby), ticket=ticket.key)
    await _arm(session, desk, ticket, standby, since=now)


async def ask_confirmation(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """A requester's own Prio-1 on a desk that wants it confirmed: the phone duty is asked to confirm it (the
    standby is paged then) or to lower it; unanswered, it is asked again and the coordinator is told, like an
    unacknowledged page. Nobody on phone duty or reachable: :func:`off_duty`."""
    now = desk.clock.now()
    phone_role, _standby_role = duty_roles(desk)
    phone = await holder(session, desk, phone_role, now) if phone_role else None
    confirm = Button(action=CONFIRM, label=t(desk.language, "escalation.button_confirm"), value=ticket.key)
    log(session, ticket, "p1_request", now, None, new=phone)
    if phone is None or not await tell(session, desk, phone, "escalation.confirm", kind=MessageKind.PING,
                                       buttons=(confirm,), key=ticket.key, title=ticket.title, ticket=ticket.key):
        await off_duty(session, desk, ticket, confirm=True)
        return
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
    return bool(affected(pending))


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
    duty = desk.settings.duty
    if duty is None:
        return
    now = desk.clock.now()
    role = duty_roles(desk)[0] if asking else paged_role(desk)
    current = await holder(session, desk, role, now) if role else None
    if timer.kind == "ping:window" or current != standby:
        # the duty of the one asked ended (or a window starts after nobody was on duty, or the shift changed
        # hands): the page goes on with whoever is on duty now; nobody: the coordinator at once, the next window
        await withdraw(session, ticket)
        if current is None:
            await off_duty(session, desk, ticket, confirm=asking, ended=True)
        else:
            await _page_now(session, desk, ticket)
        return
    button = Button(action=CONFIRM, label=t(desk.language, "escalation.button_confirm"), value=ticket.key) \
        if asking else Button(action=ACK, label=t(desk.language, "escalation.button_ack"), value=ticket.key)
    if timer.kind == "ping:repeat" and standby:
        await tell(session, desk, standby, "escalation.confirm_again" if asking else "escalation.ping_again",
                   kind=MessageKind.PING, buttons=(button,), key=ticket.key, title=ticket.title, ticket=ticket.key)
        return
    coordinator = duty.coordinator
    if coordinator and await tell(session, desk, coordinator,
                                  "escalation.confirm_coordinator" if asking else "escalation.coordinator",
                                  kind=MessageKind.PING, buttons=(button,), key=ticket.key,
                                  who=contact(desk, standby), ticket=ticket.key):
        return
    if asking:
        text = "escalation.confirm_unanswered"
    else:
        # "no coordinator could be reached" only where there is one; a desk without one asks the channel to take it
        text = "escalation.unacknowledged" if coordinator else "escalation.unacknowledged_alone"
    post_duty(desk, session, text, kind=MessageKind.PING, ticket=ticket.key, key=ticket.key,
              who=contact(desk, standby))


async def relay_note(session: AsyncSession, desk: Desk, ticket: Ticket, author: Person, text: str) -> bool:
    """A note on an open Prio-1 while duty runs reaches the phone duty, who talks to the customer (the
    standby "keeps the telephone service up to date"); not their own notes. True when it was sent."""
    if desk.settings.duty is None or ticket.priority != 1:
        return False
    phone_role, standby_role = duty_roles(desk)
    if phone_role is None or standby_role is None:
        return False  # one role: whoever writes the note is the one who talks to the customer
    phone = await holder(session, desk, phone_role, desk.clock.now())
    if phone is None or phone == author.key:
        return False
    return await tell(session, desk, phone, "escalation.note_for_phone", kind=MessageKind.NOTICE, key=ticket.key,
                      who=contact(desk, author.key), text=text, ticket=ticket.key)
