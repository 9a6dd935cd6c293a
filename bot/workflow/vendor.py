"""Reporting a ticket to the vendor (party desk, handbook 000 step 7): ``/ticket vendor ID [VENDOR-ID]``.

- Only the people of ``[vendor] authorised`` report to the vendor; anyone else is refused and told who may.
- Only a documented ticket goes (the intake guard), and with ``[triage] before_vendor`` only once the
  internal checklist is ticked.
- Within the vendor's hours (the calendar of the ``[vendor] sla`` policy) the report is recorded: the
  vendor's ticket id, state ``vendor`` and a ticket event of kind ``vendor`` — which starts the vendor's
  SLA clock (bot/sla/tickets.py). A Prio-1 report shows the vendor's phone number (acute cases).
- Outside them the bot says when the vendor opens, offers the emergency line, and queues the report
  for the opening (a ``workflow:vendor`` timer that reports it then and reminds the reporter).
- ``/ticket vendor ID VENDOR-ID`` on a ticket that is with the vendor already records the vendor's id; on
  one whose report is queued, the id goes with the queued report.
- The confirmation names the vendor's deadline (the due of the vendor clock the report starts).
- With ``[mail] vendor`` (and the mailbox running) the report goes to that address by mail when it is recorded
  (now, or at the opening it was queued for): the documentation as text, the ticket's files as attachments
  where the mailbox has them (adapters/mail). The vendor's mails in that thread come back as
  :data:`~bot.core.types.VENDOR_MAIL` events (:func:`vendor_mail`): internal on the ticket, for the team, never
  for the requester; the vendor's ticket id is taken from their subject (``[mail] vendor_ticket``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import person_by_key
from bot.core.desk import Desk
from bot.core.errors import Refused, Worded
from bot.core.types import MessageKind, Platform, Target, Visibility
from bot.duty.notify import name_of, tell
from bot.i18n import t
from bot.infra.outbox import enqueue
from bot.sla.service import vendor_due
from bot.tickets import service
from bot.tickets.states import DONE_STATES, State, check
from bot.workflow import rules, triage
from storage.models import Attachment, Person, Ticket, Timer

VENDOR_TIMER = "workflow:vendor"


@dataclass(frozen=True)
class Reported:
    """What happened: reported now, queued for ``opens`` (now, or before: ``queued_already``), or only the
    vendor's id recorded; ``due``: when the vendor must have answered (None without a vendor SLA)."""

    outcome: str  # reported | queued | queued_already | id_recorded
    opens: datetime | None = None
    phone: str | None = None
    emergency: str | None = None
    due: datetime | None = None
    mailed: str | None = None  # the vendor's address the report goes (or will go) to by mail


def mail_address(desk: Desk) -> str | None:
    """``[mail] vendor`` where the desk's mailbox runs: reports go there by mail."""
    address = desk.settings.mail.vendor
    return address if address and Platform.MAIL in desk.platforms else None


def authorised(desk: Desk) -> list[str]:
    vendor = desk.settings.vendor
    return list(vendor.authorised) if vendor is not None else []


def _calendar(desk: Desk):
    vendor = desk.settings.vendor
    policy = desk.policies.get(vendor.sla) if vendor is not None and vendor.sla else None
    return policy.calendar if policy is not None else None


async def report(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person,
                 vendor_ticket: str | None) -> Reported:
    vendor = desk.settings.vendor
    if vendor is None:
        raise Refused("vendor.not_configured")
    allowed = authorised(desk)
    if actor.key not in allowed:
        raise Refused("vendor.not_authorised", vendor=vendor.name,
                            who=", ".join(name_of(desk, key) for key in allowed) or "—")
    data = dict(ticket.data or {})
    if ticket.state == State.VENDOR.value:
        if not vendor_ticket:
            raise Refused("vendor.already", key=ticket.key, vendor=vendor.name,
                                id=(data.get("vendor") or {}).get("ticket") or "—")
        data["vendor"] = {**(data.get("vendor") or {}), "ticket": vendor_ticket}
        ticket.data = data
        service.log(session, ticket, "vendor_id", desk.clock.now(), actor, new=vendor_ticket[:255])
        return Reported("id_recorded")
    waiting = await _queued_timer(session, ticket)
    if waiting is not None:
        return await _queued_again(session, desk, ticket, actor, vendor_ticket, waiting)
    check(State(ticket.state), State.VENDOR, has_assignee=ticket.assignee_id is not None)
    rules.guard(desk.settings, ticket, State.VENDOR)
    if desk.settings.triage is not None and desk.settings.triage.before_vendor:
        open_items = triage.unchecked(desk.settings, ticket)
        if open_items:
            raise Refused("vendor.checklist_open", key=ticket.key,
                                items=", ".join(item.key for item in open_items))
    now = desk.clock.now()
    phone = vendor.phone if ticket.priority == 1 else None
    calendar = _calendar(desk)
    if calendar is None or calendar.is_open(now):
        await _record(session, desk, ticket, actor, vendor_ticket)
        return Reported("reported", phone=phone, due=vendor_due(desk, ticket.priority, now),
                        mailed=mail_address(desk))
    opens = calendar.next_opening(now)
    session.add(Timer(ticket_id=ticket.id, kind=VENDOR_TIMER, due_at=opens,
                      data={"by": actor.key, "vendor_ticket": vendor_ticket}))
    ticket.data = {**data, "vendor_queued": {"by": actor.key, "opens": opens.isoformat()}}
    service.log(session, ticket, "vendor_queued", now, actor, new=opens.isoformat())
    return Reported("queued", opens=opens, phone=phone, emergency=vendor.emergency_phone or vendor.phone,
                    due=vendor_due(desk, ticket.priority, opens), mailed=mail_address(desk))


async def _queued_timer(session: AsyncSession, ticket: Ticket) -> Timer | None:
    """The pending timer of the ticket's report queued for the vendor's opening, if one waits."""
    return await session.scalar(select(Timer).where(
        Timer.ticket_id == ticket.id, Timer.kind == VENDOR_TIMER, Timer.fired_at.is_(None),
        Timer.cancelled.is_(False)).order_by(Timer.id.desc()).limit(1))


async def queued_for(session: AsyncSession, ticket: Ticket) -> datetime | None:
    """When the ticket's queued report goes to the vendor (its opening), or None when none waits."""
    waiting = await _queued_timer(session, ticket)
    return waiting.due_at if waiting is not None else None


async def _queued_again(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person, vendor_ticket: str | None,
                        waiting: Timer) -> Reported:
    """A report while the ticket's report waits for the vendor's opening: it stays queued (one timer, one
    clock start); a vendor id given now goes out with it."""
    vendor = desk.settings.vendor
    assert vendor is not None
    opens = waiting.due_at
    if vendor_ticket:
        waiting.data = {**(waiting.data or {}), "vendor_ticket": vendor_ticket}
        service.log(session, ticket, "vendor_id", desk.clock.now(), actor, new=vendor_ticket[:255])
    return Reported("queued_already", opens=opens, phone=vendor.phone if ticket.priority == 1 else None,
                    emergency=vendor.emergency_phone or vendor.phone, due=vendor_due(desk, ticket.priority, opens),
                    mailed=mail_address(desk))


async def _record(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person | None,
                  vendor_ticket: str | None) -> None:
    vendor = desk.settings.vendor
    assert vendor is not None
    # refused before anything changes (a queued report may meet a ticket that moved on meanwhile)
    check(State(ticket.state), State.VENDOR, has_assignee=ticket.assignee_id is not None)
    rules.guard(desk.settings, ticket, State.VENDOR)
    now = desk.clock.now()
    data = {k: v for k, v in (ticket.data or {}).items() if k != "vendor_queued"}
    data["vendor"] = {"ticket": vendor_ticket, "by": actor.key if actor else None, "at": now.isoformat()}
    ticket.data = data
    # this event starts the vendor's SLA clock
    service.log(session, ticket, "vendor", now, actor, new=(vendor_ticket or "")[:255] or None, body=vendor.name)
    await service.change_state(session, desk, ticket, State.VENDOR, actor, reason=vendor.name, tell=False)
    service.tell_requester(session, desk, ticket, "vendor.requester", vendor=vendor.name)
    address = mail_address(desk)
    if address is not None:
        enqueue(session, now, Target(kind="dm", platform=Platform.MAIL, user_id=address),
                await report_text(session, desk, ticket, actor, vendor_ticket), kind=MessageKind.VENDOR,
                visibility=Visibility.PRIVATE, ticket=ticket.key)


async def report_text(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person | None,
                      vendor_ticket: str | None) -> str:
    """The documented report as the vendor reads it, in the desk's language: title, priority, the description,
    the documentation checklist's answers, the files, who reports it. The ticket's requester is not named."""
    lang = desk.language
    doc = (ticket.data or {}).get("doc") or {}
    lines = [t(lang, "vendor.mail_head", key=ticket.key, title=ticket.title, priority=ticket.priority),
             "", ticket.description.strip()]
    if doc:
        lines += ["", t(lang, "vendor.mail_doc")]
        lines += [f"- {rules.label(lang, name)}: {value}" for name, value in doc.items() if str(value).strip()]
    files = (await session.scalars(select(Attachment.file_name).where(Attachment.ticket_id == ticket.id)
                                   .order_by(Attachment.id))).all()
    if files:
        lines += ["", t(lang, "vendor.mail_files", files=", ".join(files))]
    if vendor_ticket:
        lines += ["", t(lang, "vendor.mail_their_id", id=vendor_ticket)]
    lines += ["", t(lang, "vendor.mail_by", who=actor.display_name if actor is not None else desk.settings.desk.name,
                    desk=desk.settings.desk.name, key=ticket.key)]
    return "\n".join(lines)


async def vendor_mail(session: AsyncSession, desk: Desk, ticket: Ticket, author: Person, text: str,
                      vendor_ticket: str | None) -> None:
    """A mail of the vendor in the thread of the ticket's report: kept on the ticket as internal (the team sees it
    in ``/ticket show``, the requester never), its ticket id recorded where the report had none or another, and
    whoever has the ticket (else the duty channels) told."""
    vendor = desk.settings.vendor
    name = vendor.name if vendor is not None else author.display_name
    now = desk.clock.now()
    service.log(session, ticket, "vendor_mail", now, author, body=text, new=(vendor_ticket or "")[:255] or None)
    data = dict(ticket.data or {})
    known = (data.get("vendor") or {}).get("ticket")
    recorded = bool(vendor_ticket) and vendor_ticket != known
    if recorded:
        assert vendor_ticket is not None
        data["vendor"] = {**(data.get("vendor") or {}), "ticket": vendor_ticket}
        ticket.data = data
        service.log(session, ticket, "vendor_id", now, author, new=vendor_ticket[:255])
    said, their = text[:1500], vendor_ticket or known or "—"
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id is not None else None
    if assignee is not None and await tell(session, desk, assignee.key, "vendor.mail_in", ticket=ticket.key,
                                           key=ticket.key, vendor=name, text=said, id=their):
        return
    service.notify_duty(session, desk, "vendor.mail_in", ticket, kind=MessageKind.NOTICE, vendor=name, text=said,
                        id=their)


async def opening(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """The vendor opened: report a queued ticket now and remind the reporter."""
    ticket = await session.get(Ticket, timer.ticket_id)
    data = timer.data or {}
    if ticket is None or State(ticket.state) in DONE_STATES or ticket.state == State.VENDOR.value:
        return
    by = data.get("by")
    actor = await person_by_key(session, by) if by else None
    try:
        await _record(session, desk, ticket, actor, data.get("vendor_ticket"))
    except Refused as refusal:  # the ticket moved on while the report waited: its reporter is told why
        if by:
            why = _worded(refusal, desk.prefixes.get(Platform(ticket.origin_platform), "/"))
            await tell(session, desk, by, "vendor.queued_failed", key=ticket.key, ticket=ticket.key, reason=why)
        return
    if by:
        vendor = desk.settings.vendor
        await tell(session, desk, by, "vendor.opened", key=ticket.key, ticket=ticket.key,
                   vendor=vendor.name if vendor else "vendor")


def _worded(refusal: Refused, prefix: str) -> Worded:
    return Worded(refusal.key, lambda lang: refusal.text(lang, prefix=prefix))
