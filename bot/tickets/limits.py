"""How many new tickets one requester may open (``[limits] tickets`` per ``[limits] per``).

A requester who has opened that many tickets within the window opens no new one: the request is kept
on their newest ticket of the window (a ``limited`` event with the text, which the team sees in the
ticket's history), they are told so and when they can open a new ticket again, and the duty channel
hears it once per window. Nothing is dropped, and a flood of requests from one person makes no new
private spaces, no duty notices and no pages. Staff are not limited.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import MessageKind, Reply
from bot.core.uow import UnitOfWork
from bot.i18n import t
from bot.i18n.format import duration, instant
from bot.tickets import service
from storage.models import Person, Ticket, TicketEvent

HELD = "limited"


# the ids of a requester's tickets opened since an instant, newest first: built once (every new ticket asks)
_RECENT = (select(Ticket.id).where(Ticket.requester_id == bindparam("person"), Ticket.created_at >= bindparam("since"))
           .order_by(Ticket.id.desc()).limit(bindparam("limit", type_=Integer)))


def window(desk: Desk) -> timedelta:
    return desk.settings.limits.per


async def full(session: AsyncSession, desk: Desk, person: Person) -> list[Ticket]:
    """The tickets ``person`` opened within the window, newest first, when they are as many as the limit
    allows (so a new request is held); else an empty list."""
    limit = desk.settings.limits.tickets
    if not limit or person.is_staff:
        return []
    since = desk.clock.now() - window(desk)
    unit = UnitOfWork.find(session)
    known = unit.opened_since.get(person.id) if unit is not None else None
    if known is not None and known[0] <= since and known[1] < limit:
        return []  # fewer since an earlier instant, read with the requester: fewer since this one too
    # their ids first: almost always fewer than the limit, and then no ticket needs loading
    ids = (await session.scalars(_RECENT, {"person": person.id, "since": since, "limit": limit})).all()
    if len(ids) < limit:
        return []
    rows = (await session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id.desc()))).all()
    return list(rows)


async def hold(session: AsyncSession, desk: Desk, person: Person, text: str, language: str,
               timezone: str) -> Reply | None:
    """Keeps a request over the limit on the requester's newest ticket and answers them; None when the
    requester may open a new ticket."""
    recent = await full(session, desk, person)
    if not recent:
        return None
    await keep(session, desk, recent, person, text)
    again = recent[-1].created_at + window(desk)
    return Reply(text=t(language, "limits.held", count=len(recent), within=duration(language, window(desk)),
                        key=recent[0].key, again=instant(language, again, timezone, now=desk.clock.now())),
                 kind=MessageKind.LIMITED, ticket=recent[0].key)


async def keep(session: AsyncSession, desk: Desk, recent: list[Ticket], person: Person, text: str) -> Ticket:
    """Adds a held request to the newest of ``recent`` (the requester's tickets of the window, newest first);
    the duty channel is told the first time in the window."""
    newest = recent[0]
    told = await session.scalar(select(TicketEvent.id).where(
        TicketEvent.ticket_id.in_([ticket.id for ticket in recent]), TicketEvent.kind == HELD).limit(1))
    service.log(session, newest, HELD, desk.clock.now(), person, body=text.strip(), public=True)
    if told is None:
        service.notify_duty(session, desk, "limits.duty", newest, kind=MessageKind.NOTICE, who=person.display_name,
                            count=len(recent), within=duration(desk.language, window(desk)))
    return newest
