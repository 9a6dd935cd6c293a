"""The handover at the start of duty (agency handbook): who takes phone and inbox watch, the open
Prio-1 tickets and the follow-ups due, with a "taken over" action. Unacknowledged after
``[duty] handover_ack`` the coordinator is pinged. The start of duty also writes the duty ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import Button, MessageKind
from bot.duty import hooks
from bot.duty.escalation import duty_roles
from bot.duty.ledger import record_shifts
from bot.duty.notify import mention_of, name_of, post_duty, role_name, tell
from bot.duty.store import window_of
from bot.i18n import t
from bot.i18n.format import instant
from bot.sla.service import clocks_of
from bot.tickets.states import OPEN_STATES
from storage.db import affected
from storage.models import Ticket, Timer

ACTION = "handover-ack"
LIST_LIMIT = 10


async def _open(session: AsyncSession, desk: Desk, until: datetime) -> tuple[list[str], list[str]]:
    """(open Prio-1 keys, keys of open tickets with an SLA due before ``until``)."""
    rows = (await session.scalars(select(Ticket).where(Ticket.state.in_([s.value for s in OPEN_STATES]))
                                  .order_by(Ticket.priority, Ticket.created_at).limit(200))).all()
    prio1 = [t.key for t in rows if t.priority == 1][:LIST_LIMIT]
    due: list[str] = []
    for ticket in rows:
        clocks = await clocks_of(session, desk, ticket)
        if any(c.stopped_at is None and c.due is not None and c.due <= until for c in clocks):
            due.append(ticket.key)
    return prio1, due[:LIST_LIMIT]


async def post_handover(session: AsyncSession, desk: Desk, slot: datetime) -> None:
    window = window_of(desk)
    duty = desk.settings.duty
    if window is None or duty is None:
        return
    shift = window.window_at(slot)
    if shift is None:
        return
    served = await record_shifts(session, desk, slot)
    phone_role, standby_role = duty_roles(desk)
    phone = served.get(phone_role) if phone_role else None
    standby = served.get(standby_role) if standby_role else None
    prio1, due = await _open(session, desk, shift[1])
    none = "—"
    if standby_role is not None:
        text = "handover.post" if duty.mailbox else "handover.post_plain"
    else:
        # one role (the PR vendor's phone line): no "emergency standby: nobody" in the handover
        text = "handover.post_one" if duty.mailbox else "handover.post_plain_one"
    # taken over by whom, and from whom: a desk with one role and no mailbox owner has nobody who hands over, and
    # a shift nobody holds has nobody who could take it: then the handover is a notice, not a question
    ask = (duty.mailbox is not None or standby_role is not None) and (phone is not None or standby is not None)
    taken = Button(action=ACTION, label=t(desk.language, "handover.button_taken"), value=slot.isoformat())
    post_duty(desk, session, text, kind=MessageKind.HANDOVER, buttons=(taken,) if ask else (),
              start=lambda lang: instant(lang, shift[0], desk.settings.desk.timezone),
              mailbox=mention_of(desk, duty.mailbox),
              role=lambda lang: role_name(lang, phone_role or ""),
              phone=mention_of(desk, phone.person if phone else None),
              standby=mention_of(desk, standby.person if standby else None),
              prio1=", ".join(prio1) or none, due=", ".join(due) or none)
    if ask:
        session.add(Timer(ticket_id=None, kind="handover:ack", due_at=slot + duty.handover_ack,
                          data={"slot": slot.isoformat()}))
    await hooks.handed_over(session, desk, slot)


async def acknowledge(session: AsyncSession, desk: Desk, who: str) -> bool:
    """Marks the pending handover taken over; False when none was waiting."""
    result = await session.execute(update(Timer).where(Timer.kind == "handover:ack", Timer.fired_at.is_(None),
                                                       Timer.cancelled.is_(False)).values(cancelled=True))
    if affected(result):
        post_duty(desk, session, "handover.taken", kind=MessageKind.HANDOVER, who=name_of(desk, who))
    return bool(affected(result))


async def unacknowledged(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    duty = desk.settings.duty
    slot = datetime.fromisoformat(timer.data["slot"])

    def start(lang: str) -> str:
        return instant(lang, slot, desk.settings.desk.timezone)

    if duty is not None and duty.coordinator and await tell(session, desk, duty.coordinator,
                                                            "handover.coordinator", kind=MessageKind.PING, start=start):
        return
    post_duty(desk, session, "handover.unacknowledged", kind=MessageKind.PING, start=start)
