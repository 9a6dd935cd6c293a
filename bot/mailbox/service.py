"""Holding a personal mail for the mailbox holder, and the four things the holder may make of it.

- :func:`hold` (called by the dispatcher for every new mail): on a desk whose ``[duty] roles`` has ``mailbox``, a
  mail that addresses a colleague personally (:mod:`bot.mailbox.personal`) is kept as a ``held_mails`` row — once:
  its inbox key is unique — and shown to the current mailbox holder in a direct message with four buttons (numbered
  options on Matrix). The sender hears nothing yet. Nobody holds the mailbox (or the holder has no chat account):
  the mail becomes a ticket as any other, and the duty channels are told why.
- The holder (or a lead, coordinator or admin) presses one: a ticket for the sender, assigned to the colleague
  (or whom the holder names); the mail added to an existing ticket; answered (no ticket, recorded); forwarded to
  the colleague by mail. Each is done once: the row is locked and its state checked, a second press is told who
  did what. The holder's message is then changed in place to say so, without its buttons.

Who holds the mailbox (:func:`current_holder`): during the duty window, whoever ``who("mailbox", now)`` names;
outside it, while the desk's calendar is open, the mailbox owner ``[duty] mailbox`` (the handbook's Head of
Mailbox, "as long as she is there"), or their substitute while they are away (``/duty away``, ``/duty sick``); else
nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import actor_for, identity_of, person_by_key
from bot.core.context import Context
from bot.core.desk import Desk
from bot.core.errors import Refused
from bot.core.registry import ParseError
from bot.core.types import Button, InboundEvent, MessageKind, Platform, Reply, Target, Visibility
from bot.duty import store as duty_store
from bot.duty.notify import language_of, name_of, post_duty, zone_of
from bot.duty.resolve import absence_of
from bot.i18n import format as fmt
from bot.i18n import t
from bot.infra.outbox import enqueue, enqueue_update
from bot.mailbox import personal
from bot.tickets import service as tickets
from bot.tickets.states import OPEN_STATES, State
from bot.workflow import attachments
from storage.models import HeldMail, Person, Ticket

ROLE = "mailbox"
HELD = "held"
EXCERPT = 700          # characters of the mail shown in the holder's message
CHOICES = 8            # open tickets of the sender offered as buttons for "add"
# who may decide about any held mail besides the holder it was shown to and the holder now
DECIDERS = ("lead", "coordinator", "admin")


def enabled(desk: Desk) -> bool:
    duty = desk.settings.duty
    return duty is not None and ROLE in duty.roles


def label(row: HeldMail) -> str:
    return f"M{row.id}"


def parse_id(text: str) -> int | None:
    """``M3``, ``m3`` or ``3``: the held mail's number."""
    raw = text.strip().upper().removeprefix("M")
    return int(raw) if raw.isdigit() and 0 < len(raw) <= 9 else None


async def current_holder(session: AsyncSession, desk: Desk) -> str | None:
    """The people key of whoever holds the mailbox now (see the module docstring), or None."""
    instant = desk.clock.now()
    holder = await duty_store.holder(session, desk, ROLE, instant)
    if holder is not None:
        return holder
    duty = desk.settings.duty
    window = duty_store.window_of(desk)
    if duty is None or duty.mailbox is None or (window is not None and window.duty_date_of(instant) is not None):
        return None
    name = desk.settings.desk.calendar
    calendar = desk.calendars.get(name) if name else None
    if calendar is not None and not calendar.is_open(instant):
        return None
    # the owner away (vacation, sick): their substitute, if that one is in; else nobody
    today = instant.astimezone(ZoneInfo(desk.settings.desk.timezone)).date()
    state = await duty_store.load_state(session, desk, today)
    away = absence_of(state.facts, duty.mailbox, today) if state is not None else None
    if away is None:
        return duty.mailbox
    substitute = away.substitute
    return substitute if substitute and state is not None and absence_of(state.facts, substitute, today) is None \
        else None


async def _chat_target(session: AsyncSession, desk: Desk, key: str) -> Target | None:
    """The person's direct chat on the first running chat platform where they have an account."""
    person = await person_by_key(session, key)
    if person is None:
        return None
    for platform in desk.platforms:
        if platform == Platform.MAIL:
            continue
        user_id = await identity_of(session, person.id, platform)
        if user_id is not None:
            return Target(kind="dm", platform=platform, user_id=user_id)
    return None


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT else text[:EXCERPT].rstrip() + " …"


def _card_buttons(desk: Desk, row: HeldMail, platform: Platform, lang: str) -> tuple[Button, ...]:
    if not desk.offers_buttons(platform):
        return ()
    colleague = name_of(desk, row.colleague, lang)
    value = label(row)
    return (Button(action="mailbox-ticket", label=t(lang, "mailbox.button_ticket", colleague=colleague), value=value),
            Button(action="mailbox-add", label=t(lang, "mailbox.button_add"), value=value),
            Button(action="mailbox-answered", label=t(lang, "mailbox.button_answered"), value=value),
            Button(action="mailbox-forward", label=t(lang, "mailbox.button_forward", colleague=colleague),
                   value=value))


async def hold(ctx: Context) -> list[Reply] | None:
    """A new mail that addresses a colleague personally, kept and shown to the mailbox holder: ``[]`` (nothing is
    said to the sender). None when the mail opens a ticket as usual."""
    event, desk, session = ctx.event, ctx.desk, ctx.session
    if event.kind != "dm" or event.actor.platform != Platform.MAIL or not enabled(desk):
        return None
    colleague = personal.addressed(desk.settings, event.recipients, event.text)
    sender = ctx.actor.person
    if colleague is None or sender.key == colleague:
        return None
    subject = tickets.make_title(event.text)
    holder = await current_holder(session, desk)
    target = await _chat_target(session, desk, holder) if holder is not None else None
    if holder is None or target is None:
        # nobody sorts the mailbox now: the mail is a ticket like any other, and the team knows why
        post_duty(desk, session, "mailbox.nobody", kind=MessageKind.NOTICE, sender=sender.display_name,
                  colleague=name_of(desk, colleague), subject=subject)
        return None
    row = HeldMail(event_key=event.idempotency_key, payload=event.model_dump(mode="json"), sender_id=sender.id,
                   colleague=colleague, holder=holder, subject=subject[:200], state=HELD, card={}, created_at=ctx.now)
    session.add(row)
    await session.flush()
    await _show(session, desk, row, holder, target, event, sender)
    return []


async def _show(session: AsyncSession, desk: Desk, row: HeldMail, holder: str, target: Target, event: InboundEvent,
                sender: Person) -> None:
    """The holder's message about ``row``, with its four buttons; the row remembers it (to change it later)."""
    lang = language_of(desk, holder)
    text = t(lang, "mailbox.card", id=label(row), colleague=name_of(desk, row.colleague, lang),
             sender=_sender_text(sender, event), text=_excerpt(event.text),
             prefix=desk.prefixes.get(target.platform, "/"), files=_files(lang, event)).strip()
    card = enqueue(session, desk.clock.now(), target, text, kind=MessageKind.MAIL_HELD, visibility=Visibility.PRIVATE,
                   buttons=_card_buttons(desk, row, target.platform, lang))
    await session.flush()
    row.holder = holder
    row.card = {"row": card.id, "target": target.model_dump(mode="json"), "text": text}


async def hand_over(session: AsyncSession, desk: Desk, slot: datetime) -> None:
    """A duty window starts (the handbook: "SN tells the afternoon support to watch the mailbox"): the mails still
    waiting go to the window's mailbox holder, each with its buttons; the earlier holder's message says so."""
    if not enabled(desk):
        return
    holder = await duty_store.holder(session, desk, ROLE, slot)
    target = await _chat_target(session, desk, holder) if holder is not None else None
    if holder is None or target is None:
        return
    waiting = (await session.scalars(select(HeldMail).where(HeldMail.state == HELD, HeldMail.holder != holder)
                                     .order_by(HeldMail.id).with_for_update())).all()
    for row in waiting:
        card = row.card or {}
        if card.get("row") is not None:
            lang = language_of(desk, row.holder)
            note = t(lang, "mailbox.handed_over", id=label(row), holder=name_of(desk, holder, lang))
            enqueue_update(session, desk.clock.now(), Target.model_validate(card["target"]),
                           f"{card.get('text', '')}\n\n{note}".strip(), of=int(card["row"]),
                           kind=MessageKind.MAIL_HELD, visibility=Visibility.PRIVATE)
        sender = await session.get(Person, row.sender_id)
        assert sender is not None
        await _show(session, desk, row, holder, target, InboundEvent.model_validate(row.payload), sender)


def _sender_text(sender: Person, event: InboundEvent) -> str:
    address = event.actor.user_id
    return address if sender.display_name in ("", address) else f"{sender.display_name} <{address}>"


def _files(lang: str, event: InboundEvent) -> str:
    if not event.attachments:
        return ""
    return t(lang, "mailbox.files", names=", ".join(a.name for a in event.attachments))


# ---------------------------------------------------------------------------------------------- deciding


@dataclass
class Decision:
    row: HeldMail
    original: InboundEvent
    sender: Person


async def load(ctx: Context, text: str) -> Decision:
    """The held mail ``text`` names, locked for this unit of work, if the actor may decide about it and nobody
    has yet; else Refused, saying why."""
    number = parse_id(text)
    row = await ctx.session.get(HeldMail, number, with_for_update=True, populate_existing=True) \
        if number is not None else None
    if row is None:
        raise Refused("mailbox.not_found", id=text.strip()[:20], prefix=ctx.prefix)
    key = ctx.actor.person.key
    if key != row.holder and not any(ctx.actor.has(role) for role in DECIDERS) \
            and key != await current_holder(ctx.session, ctx.desk):
        raise Refused("mailbox.not_holder", id=label(row), holder=name_of(ctx.desk, row.holder))
    if row.state != HELD:
        who = await ctx.session.get(Person, row.handled_by) if row.handled_by is not None else None
        raise Refused("mailbox.handled", id=label(row), who=who.display_name if who else "?",
                      what=_what(ctx.actor.language, row, ctx.desk),
                      when=ctx.when(row.handled_at) if row.handled_at else "")
    sender = await ctx.session.get(Person, row.sender_id)
    assert sender is not None
    return Decision(row, InboundEvent.model_validate(row.payload), sender)


def _zone(desk: Desk, key: str | None) -> ZoneInfo:
    return zone_of(desk, key, ZoneInfo(desk.settings.desk.timezone or "UTC"))


def _what(lang: str, row: HeldMail, desk: Desk) -> str:
    return t(lang, f"mailbox.what_{row.state}", key=row.ticket_key or "", colleague=name_of(desk, row.colleague, lang))


def _decided(ctx: Context, decision: Decision, state: str, ticket: str | None = None) -> Reply:
    """The row's decision recorded, the holder's message changed in place; the reply to whoever decided."""
    row, now = decision.row, ctx.now
    row.state, row.handled_by, row.handled_at, row.ticket_key = state, ctx.actor.person.id, now, ticket
    card = row.card or {}
    if card.get("row") is not None:
        target = Target.model_validate(card["target"])
        lang = language_of(ctx.desk, row.holder)
        done = t(lang, "mailbox.card_done", id=label(row), what=_what(lang, row, ctx.desk),
                 who=ctx.actor.person.display_name, when=fmt.instant(lang, now, _zone(ctx.desk, row.holder), now=now))
        enqueue_update(ctx.session, now, target, f"{card.get('text', '')}\n\n{done}".strip(), of=int(card["row"]),
                       kind=MessageKind.MAIL_HELD, visibility=Visibility.PRIVATE)
    return Reply(text=ctx.t("mailbox.done", id=label(row), what=_what(ctx.actor.language, row, ctx.desk)),
                 kind=MessageKind.REPLY, ticket=ticket)


async def _staff(ctx: Context, key: str) -> Person:
    person = await person_by_key(ctx.session, key.removeprefix("@"))
    if person is None or not person.is_staff:
        raise Refused("ticket.unknown_agent", person=key, staff=", ".join(sorted(ctx.desk.settings.people)) or "—")
    return person


def _as_sender(ctx: Context, decision: Decision) -> Context:
    """What the mail's arrival would have been: its own event, its sender as the actor."""
    actor = actor_for(decision.sender, ctx.desk.settings)
    return Context(session=ctx.session, desk=ctx.desk, event=decision.original, actor=actor,
                   prefix=ctx.desk.prefixes.get(Platform.MAIL, "/"))


def _to_sender(ctx: Context, decision: Decision, replies: list[Reply]) -> None:
    """The replies of the sender's request go to them by mail, in the thread of their mail."""
    channel = decision.original.channel
    target = Target(kind="dm", platform=channel.platform, user_id=decision.original.actor.user_id,
                    thread_id=channel.thread_id)
    for reply in replies:
        enqueue(ctx.session, ctx.now, target, reply.text, kind=reply.kind, visibility=Visibility.PRIVATE,
                ticket=reply.ticket, buttons=reply.buttons)


async def open_ticket(ctx: Context, text: str, assignee: str | None) -> list[Reply]:
    """A ticket for the mail's sender, as its arrival would have opened it (receipt by mail, the duty card),
    assigned to the colleague or ``assignee``."""
    decision = await load(ctx, text)
    person = await _staff(ctx, assignee or decision.row.colleague)
    sender_ctx = _as_sender(ctx, decision)
    parsed = ctx.desk.registry.parse(f"ticket new {decision.original.text}")
    if isinstance(parsed, ParseError):
        raise Refused("mailbox.cannot_open", id=label(decision.row))
    replies = await parsed.command.handler(sender_ctx, parsed.args)
    _to_sender(ctx, decision, replies)
    key = next((r.ticket for r in replies if r.ticket), None)
    ticket = await tickets.get(ctx.session, key) if key else None
    if ticket is None:
        raise Refused("mailbox.cannot_open", id=label(decision.row))
    await tickets.assign(ctx.session, ctx.desk, ticket, person, ctx.actor.person)
    return [_decided(ctx, decision, "ticket", ticket.key)]


async def add_to(ctx: Context, text: str, key: str | None) -> list[Reply]:
    """Without ``key``: the sender's open tickets to choose from. With it: the mail becomes part of that ticket
    (the sender's own: their message in its conversation; another: a note of the team), which goes to the
    colleague if nobody has it yet."""
    decision = await load(ctx, text)
    row = decision.row
    if key is None:
        return await _choices(ctx, decision)
    ticket = await tickets.get(ctx.session, key.strip().upper())
    if ticket is None:
        raise Refused("ticket.not_found", key=key.strip()[:40])
    if State(ticket.state) not in OPEN_STATES:
        raise Refused("mailbox.ticket_closed", key=ticket.key, state=ctx.t(f"state.{ticket.state}"))
    original, sender = decision.original, decision.sender
    note = t(ticket.language, "mailbox.note", sender=_sender_text(sender, original), text=original.text)
    if ticket.requester_id == sender.id:
        # the requester's own words, as if they had answered in the ticket's thread
        await tickets.record_space_message(ctx.session, ctx.desk, ticket, sender, original.text, author_is_staff=False)
    else:
        tickets.add_note(ctx.session, ctx.desk, ticket, ctx.actor.person, note)
    if ticket.assignee_id is None:
        await tickets.assign(ctx.session, ctx.desk, ticket, await _staff(ctx, row.colleague), ctx.actor.person)
    if ticket.origin_platform == Platform.MAIL.value:
        # a mail ticket's space is its requester's mail thread: the team hears of it in chat, the requester not
        await tickets.tell_team_of_mail(ctx.session, ctx.desk, ticket, sender, original.text)
    else:
        enqueue(ctx.session, ctx.now, tickets.space_target(ticket), note, kind=MessageKind.NOTICE,
                visibility=Visibility.PRIVATE, ticket=ticket.key)
    if original.attachments:
        refused = await attachments.receive(ctx.session, ctx.desk, ticket, sender, original.attachments,
                                            sender.language or ticket.language)
        _to_sender(ctx, decision, [Reply(text=r, kind=MessageKind.ERROR, ticket=ticket.key) for r in refused])
    return [_decided(ctx, decision, "added", ticket.key)]


async def _choices(ctx: Context, decision: Decision) -> list[Reply]:
    row = decision.row
    rows = await ctx.session.scalars(
        select(Ticket).where(Ticket.requester_id == decision.sender.id,
                             Ticket.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Ticket.id.desc()).limit(CHOICES))
    found = list(rows.all())
    if not found:
        return [Reply(text=ctx.t("mailbox.no_open", id=label(row), sender=decision.sender.display_name,
                                 prefix=ctx.prefix), kind=MessageKind.REPLY)]
    platform = ctx.event.actor.platform
    buttons = tuple(Button(action="mailbox-add", label=f"{tk.key} · {tk.title[:40]}", value=f"{label(row)} {tk.key}")
                    for tk in found) if ctx.desk.offers_buttons(platform) else ()
    lines = "\n".join(f"{tk.key} · {tk.title[:60]}" for tk in found)
    return [Reply(text=ctx.t("mailbox.choose", id=label(row), sender=decision.sender.display_name, tickets=lines,
                             prefix=ctx.prefix), kind=MessageKind.REPLY, buttons=buttons)]


async def answered(ctx: Context, text: str) -> list[Reply]:
    """Answered outside the desk: no ticket, the decision recorded."""
    return [_decided(ctx, await load(ctx, text), "answered")]


async def forward(ctx: Context, text: str) -> list[Reply]:
    """The mail to the colleague's own address (``[people.X] email``), by mail, quoted."""
    decision = await load(ctx, text)
    row = decision.row
    colleague = ctx.desk.settings.people.get(row.colleague)
    address = colleague.email if colleague is not None else None
    if not address:
        raise Refused("mailbox.no_address", colleague=name_of(ctx.desk, row.colleague), key=row.colleague)
    if Platform.MAIL not in ctx.desk.platforms:
        raise Refused("mailbox.no_mail")
    lang = language_of(ctx.desk, row.colleague)
    original = decision.original
    body = t(lang, "mailbox.forward_text", who=ctx.actor.person.display_name,
             sender=_sender_text(decision.sender, original),
             when=fmt.instant(lang, original.received_at, _zone(ctx.desk, row.colleague), now=ctx.now),
             text="\n".join(f"> {line}" if line else ">" for line in original.text.splitlines()),
             files=_files(lang, original))
    enqueue(ctx.session, ctx.now,
            Target(kind="dm", platform=Platform.MAIL, user_id=address.strip().lower(),
                   thread_id=original.channel.thread_id),
            body.strip(), kind=MessageKind.FORWARD, visibility=Visibility.PRIVATE)
    return [_decided(ctx, decision, "forwarded")]


async def waiting(ctx: Context) -> list[Reply]:
    """The held mails nobody decided about yet, oldest first (a new holder's list at the handover)."""
    rows = list((await ctx.session.scalars(
        select(HeldMail).where(HeldMail.state == HELD).order_by(HeldMail.created_at, HeldMail.id).limit(50))).all())
    if not rows:
        return [Reply(text=ctx.t("mailbox.none_waiting"))]
    lines = []
    for row in rows:
        sender = await ctx.session.get(Person, row.sender_id)
        lines.append(ctx.t("mailbox.waiting_line", id=label(row), colleague=name_of(ctx.desk, row.colleague),
                           sender=sender.display_name if sender else "?", subject=row.subject,
                           when=ctx.when(row.created_at)))
    return [Reply(text=ctx.t("mailbox.waiting", lines="\n".join(lines), prefix=ctx.prefix))]
