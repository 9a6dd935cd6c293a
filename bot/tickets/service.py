"""Ticket changes. Each function changes the ticket, appends its ticket_events row and writes the
outbox rows that tell people about it, all in the caller's unit of work (no commit here)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import Insert, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import identity_of
from bot.contacts.address import region_of
from bot.contacts.store import contact_of, describe
from bot.core.desk import Desk
from bot.core.errors import in_language
from bot.core.features import Hook
from bot.core.mentions import space_link
from bot.core.types import Button, ChannelRef, MessageKind, Platform, Target, Visibility
from bot.core.uow import UnitOfWork, new_row
from bot.i18n import t
from bot.infra.outbox import enqueue
from bot.tickets import card, space
from bot.tickets.states import OPEN_STATES, State, check
from bot.workflow import rules
from storage.models import DeskCounter, Person, Ticket, TicketEvent, table_of
from storage.upsert import upsert_for

TITLE_LENGTH = 80

# events only agents see in a ticket's history (internal notes, the triage checklist, pings, routing)
INTERNAL_KINDS = ("note", "check", "uncheck", "ping", "ack", "p1_request", "confirm", "route", "vendor_queued",
                  "deletion", "vendor_mail")  # vendor_mail: the vendor's answers by mail are the team's

# where a ticket's priority came from (ticket.data["priority_source"]): the requester chose it ("given" with
# -p, "urgency" with the urgency answer), the team set it ("team"), its category ("category"), or nobody
# ("default"). A priority the team set is not changed by the requester's urgency.
REQUESTED = frozenset({"given", "urgency"})


def touch(session: AsyncSession, ticket: Ticket) -> None:
    """The ticket's log grew: its SLA clocks are derived again before the unit of work commits."""
    unit = UnitOfWork.of(session)
    unit.mark(unit.touched, ticket)


def raised(session: AsyncSession, ticket: Ticket) -> None:
    """The ticket became Prio-1: the standby is pinged before the unit of work commits."""
    unit = UnitOfWork.of(session)
    unit.mark(unit.raised, ticket)


def lowered(session: AsyncSession, ticket: Ticket) -> None:
    """The ticket stopped being Prio-1: its pending pings are withdrawn before the unit of work commits."""
    unit = UnitOfWork.of(session)
    unit.mark(unit.lowered, ticket)


def chosen_by(actor: Person) -> str:
    """The source of a priority that ``actor`` chose: the team's or the requester's."""
    return "team" if actor.is_staff else "given"


# what a Prio-1's receipt promises: the feature that pages people for a Prio-1 (duty) says who is told and when;
# the first hook that answers wins
PromiseHook = Callable[[AsyncSession, Desk, Ticket, str], Awaitable[str | None]]
P1_PROMISE: Hook[PromiseHook] = Hook("tickets.p1_promise")


# what a new ticket's row holds from its INSERT on, so that it is not written again right after: a feature that keeps
# something in ``ticket.data`` derived from the ticket and its log (the SLA clocks, bot/sla) adds it here. Called
# before the INSERT with the ticket (no id yet) and its first log entry (``created``) with whether its actor is staff.
OpeningHook = Callable[[Desk, Ticket, TicketEvent, bool], None]
OPENING: Hook[OpeningHook] = Hook("tickets.opening")


async def next_step(session: AsyncSession, desk: Desk, ticket: Ticket, language: str) -> str:
    """A receipt's last sentence: what happens next with a ticket of its priority — only what will happen."""
    if ticket.priority != 1:
        return t(language, "ticket.next_mail" if ticket.origin_platform == Platform.MAIL.value else "ticket.next",
                 key=ticket.key)
    for hook in desk.features.hooked(P1_PROMISE):
        said = await hook(session, desk, ticket, language)
        if said is not None:
            return said
    # no rota: the duty channel's new-ticket notice is what happens at once
    return t(language, "ticket.next_p1_team" if desk.duty_targets() else "ticket.next", key=ticket.key)


async def next_number(session: AsyncSession, prefix: str) -> int:
    """The next ticket number of a desk, in the caller's transaction.

    The upsert takes the counter row's lock (PostgreSQL) or the write lock (SQLite) until
    commit, so concurrent creators queue up, and a rollback hands the number back: no gaps,
    no duplicates.
    """
    stmt = _next_number(session.get_bind().dialect.name)
    return int((await session.execute(stmt, {"counter_prefix": prefix})).scalar_one())


@functools.cache
def _next_number(dialect: str) -> Insert:
    """The counter's upsert, built once per dialect (a new ticket's first statement)."""
    table = table_of(DeskCounter)
    return upsert_for(dialect, table, {"prefix": bindparam("counter_prefix"), "last_number": 1}, key=["prefix"],
                      update={"last_number": table.c.last_number + 1}).returning(table.c.last_number)


def make_title(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1].rstrip() + "…"


def log(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    now: datetime,
    actor: Person | None,
    *,
    old: str | None = None,
    new: str | None = None,
    body: str | None = None,
    public: bool = False,
) -> TicketEvent:
    event = _event(ticket, kind, now, actor, old=old, new=new, body=body, public=public)
    _logged(session, ticket, event, actor)
    return event


def _event(ticket: Ticket, kind: str, now: datetime, actor: Person | None, *, old: str | None = None,
           new: str | None = None, body: str | None = None, public: bool = False) -> TicketEvent:
    return new_row(TicketEvent, dict(ticket_id=ticket.id, at=now, actor_id=actor.id if actor else None, kind=kind,
                                     old=old, new=new, body=body, public=public))


def _logged(session: AsyncSession, ticket: Ticket, event: TicketEvent, actor: Person | None) -> None:
    unit = UnitOfWork.of(session)
    unit.add(event)  # written with the unit's other rows, one INSERT (bot/core/uow.py)
    if ticket.updated_at != event.at:  # a new ticket's is already: no change for the ORM to look into
        ticket.updated_at = event.at
    unit.mark(unit.touched, ticket)
    unit.logged.setdefault(ticket.id, []).append((event, bool(actor and actor.is_staff)))


def space_target(ticket: Ticket) -> Target:
    return Target(kind="ticket", platform=Platform(ticket.origin_platform), ticket=ticket.key)


async def get(session: AsyncSession, key: str) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.key == key.upper()))


async def create(
    session: AsyncSession,
    desk: Desk,
    requester: Person,
    *,
    text: str,
    priority: int,
    topic: str | None,
    origin: ChannelRef,
    language: str,
    doc: dict[str, str] | None = None,
    priority_source: str = "default",
    opener: Person | None = None,
) -> Ticket:
    """Opens a ticket; ``doc`` holds the documentation checklist's answers (ticket.data["doc"]),
    ``priority_source`` says who chose the priority (see REQUESTED). ``opener``: the staff member who opens it
    for ``requester`` (an outside contact the phone duty took the call of); the requester's own when None.

    A requester who is an outside contact (bot/contacts) hears everything through bot/contacts/reach.py,
    never through the ticket's private space (``ticket.data["contact"]``)."""
    now = desk.clock.now()
    unit = UnitOfWork.of(session)
    unit.opened_since.pop(requester.id, None)  # they open one more now
    # read with the requester when they are the actor (bot/access/people.resolve), else now
    contact = unit.contacts[requester.id] if requester.id in unit.contacts else await contact_of(session, requester.id)
    opened_by = opener if opener is not None and opener.id != requester.id else None
    number = await next_number(session, desk.prefix)
    ticket = new_row(Ticket, dict(
        key=f"{desk.prefix}-{number}",
        prefix=desk.prefix,
        number=number,
        requester_id=requester.id,
        opener_id=opened_by.id if opened_by is not None else None,
        title=make_title(text),
        description=text.strip(),
        priority=priority,
        topic=topic,
        state=State.NEW.value,
        origin_platform=origin.platform.value,
        origin_channel=origin.channel_id,
        origin_thread=origin.thread_id,
        language=language,
        data={"priority_source": priority_source, **({"doc": dict(doc)} if doc else {}),
              **({"contact": True} if contact is not None else {})},
        created_at=now,
        updated_at=now,
    ))  # inserted by card.open_card (UnitOfWork.insert)
    who = requester.display_name
    if opened_by is not None:
        named = describe(requester, contact, region_of(desk.settings)) if contact else who
        who = t(language, "contact.opened_for", contact=named, opener=opened_by.display_name)
    if origin.platform != Platform.MAIL:
        # a mail ticket's space is the requester's mail thread: the receipt is their first mail, not this note
        enqueue(
            session,
            now,
            space_target(ticket),
            t(language, "ticket.space_opened", key=ticket.key, priority=priority, who=who, text=ticket.description),
            kind=MessageKind.NOTICE,
            visibility=Visibility.PRIVATE,
            ticket=ticket.key,
        )
    # the ticket's card in the duty channel: its later notices go into the card's thread, the card changes in place
    duty_who = who if opened_by is None else t(desk.language, "contact.opened_for", contact=requester.display_name,
                                               opener=opened_by.display_name)
    # what the features derive from the new ticket goes into its INSERT (its SLA clocks), not into an UPDATE after it
    creator = opened_by or requester
    created = _event(ticket, "created", now, creator, new=State.NEW.value, body=ticket.description, public=True)
    for hook in desk.features.hooked(OPENING):
        hook(desk, ticket, created, creator.is_staff)
    # opens the card and flushes: the ticket's INSERT (its id), with the card rows' ids, written just before it
    await card.open_card(session, desk, ticket, t(desk.language, "ticket.duty_new",
                                                  key=space_link(ticket.key, ticket.key), priority=priority,
                                                  who=duty_who, title=ticket.title))
    created.ticket_id = ticket.id
    _logged(session, ticket, created, creator)
    unit.mark(unit.opened, ticket)
    unit.mark(unit.untimed, ticket)
    if priority == 1:
        raised(session, ticket)
    return ticket


def notify_duty(
    session: AsyncSession, desk: Desk, key: str, ticket: Ticket | None, *, kind: MessageKind, **values: object
) -> None:
    """Tells the duty channels, which are private: ticket titles may appear there and nowhere public."""
    now = desk.clock.now()
    worded = {name: in_language(value, desk.language) for name, value in values.items()}
    text = t(desk.language, key, key=ticket.key if ticket else "", **worded)
    for target in desk.duty_targets():
        enqueue(session, now, target, text, kind=kind, visibility=Visibility.PRIVATE,
                ticket=ticket.key if ticket else None, thread_of=card.thread_of(ticket, target))


def is_for_contact(ticket: Ticket) -> bool:
    """The ticket's requester is an outside contact (bot/contacts): no chat user, not in its private space."""
    return bool((ticket.data or {}).get("contact"))


def to_requester(session: AsyncSession, desk: Desk, ticket: Ticket, text: str, *, kind: MessageKind,
                 buttons: tuple[Button, ...] = ()) -> None:
    """``text`` for the ticket's requester: into the ticket's private space, or, for an outside contact, to
    bot/contacts/reach.py when the unit of work finishes (by mail, or as a call-back reminder to the team)."""
    if is_for_contact(ticket):
        UnitOfWork.of(session).for_contacts.append((ticket.id, text, kind.value, buttons))
        return
    enqueue(session, desk.clock.now(), space_target(ticket), text, kind=kind, visibility=Visibility.PRIVATE,
            ticket=ticket.key, buttons=buttons)


def tell_requester(session: AsyncSession, desk: Desk, ticket: Ticket, key: str, *,
                   kind: MessageKind = MessageKind.NOTICE, **values: object) -> None:
    """A message to the requester (see :func:`to_requester`), in the ticket's language; a callable value
    (a :class:`Worded`, a date) is worded in that language."""
    worded = {name: in_language(value, ticket.language) for name, value in values.items()}
    to_requester(session, desk, ticket, t(ticket.language, key, informal=desk.informal, key=ticket.key, **worded),
                 kind=kind)


async def change_state(
    session: AsyncSession, desk: Desk, ticket: Ticket, target: State, actor: Person | None, *,
    reason: str | None = None, tell: bool = True,
) -> None:
    """``actor`` None is the bot itself (a timer); ``tell=False`` when the caller tells the requester
    in its own words. The process guards (documentation, solution) apply to every caller."""
    current = State(ticket.state)
    check(current, target, has_assignee=ticket.assignee_id is not None)
    rules.guard(desk.settings, ticket, target)
    now = desk.clock.now()
    ticket.state = target.value
    if target == State.CLOSED:
        ticket.closed_at = now
        space.closing(session, desk, ticket)
    elif current == State.CLOSED:
        ticket.closed_at = None
        space.reopening(session, desk, ticket)
    log(session, ticket, "state", now, actor, old=current.value, new=target.value, body=reason)
    await card.refresh(session, desk, ticket, actor)
    if tell:
        tell_requester(session, desk, ticket, "ticket.state_changed",
                       state=t(ticket.language, f"state.{target.value}"),
                       who=actor.display_name if actor else desk.settings.desk.name)


async def reopen(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person) -> State:
    target = State.IN_PROGRESS if ticket.assignee_id is not None else State.TRIAGE
    await change_state(session, desk, ticket, target, actor, reason="reopen")
    return target


async def assign(session: AsyncSession, desk: Desk, ticket: Ticket, assignee: Person, actor: Person) -> None:
    now = desk.clock.now()
    old = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    ticket.assignee_id = assignee.id
    log(session, ticket, "assign", now, actor, old=old.key if old else None, new=assignee.key)
    await card.refresh(session, desk, ticket, actor)
    if assignee.id != actor.id:
        # a mail ticket's assignee hears of it in chat, not by mail to their own address
        platforms = [Platform(ticket.origin_platform)] if ticket.origin_platform != Platform.MAIL.value else \
            [p for p in desk.platforms if p != Platform.MAIL]
        target = None
        for platform in platforms:
            user_id = await identity_of(session, assignee.id, platform)
            if user_id is not None:
                target = Target(kind="dm", platform=platform, user_id=user_id)
                break
        if target is not None:
            enqueue(session, now, target,
                    t(assignee.language or desk.language, "ticket.assigned_to_you", key=ticket.key,
                      who=actor.display_name, priority=ticket.priority),
                    kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE, ticket=ticket.key)


async def set_priority(session: AsyncSession, desk: Desk, ticket: Ticket, priority: int,
                       actor: Person | None, *, source: str) -> None:
    """``source``: who chose it (see REQUESTED). Raised to 1 it escalates; lowered from 1, its pending
    pings are withdrawn (both before the unit of work commits)."""
    now = desk.clock.now()
    old = ticket.priority
    ticket.priority = priority
    ticket.data = {**(ticket.data or {}), "priority_source": source}
    log(session, ticket, "priority", now, actor, old=str(old), new=str(priority))
    await card.refresh(session, desk, ticket, actor)
    if priority == 1:
        raised(session, ticket)
    elif old == 1:
        lowered(session, ticket)
    tell_requester(session, desk, ticket, "ticket.priority_changed", old=old, new=priority)


def add_note(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person, text: str) -> None:
    log(session, ticket, "note", desk.clock.now(), actor, body=text, public=False)


def add_reply(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person, text: str) -> None:
    """An agent's public answer to the requester: it goes to the ticket's private space."""
    log(session, ticket, "reply", desk.clock.now(), actor, body=text, public=True)
    to_requester(session, desk, ticket, t(ticket.language, "ticket.reply_from", who=actor.display_name, text=text),
                 kind=MessageKind.REPLY)


def role_in(ticket: Ticket, author: Person, *, author_is_staff: bool) -> str:
    """How the author of a message in a ticket's space (or its moved thread) stands to the ticket: ``staff``,
    ``requester``, or ``outside`` — anybody else, whose words are not part of the ticket's conversation."""
    if author_is_staff:
        return "staff"
    return "requester" if author.id == ticket.requester_id else "outside"


async def record_space_message(
    session: AsyncSession, desk: Desk, ticket: Ticket, author: Person, text: str, *, author_is_staff: bool
) -> str:
    """A message someone wrote in the ticket's private space: part of the conversation when the requester or
    the team wrote it, else kept marked as from outside the ticket. Returns the author's :func:`role_in`."""
    now = desk.clock.now()
    role = role_in(ticket, author, author_is_staff=author_is_staff)
    log(session, ticket, "message", now, author, body=text, public=True, new=role)
    if author.id == ticket.requester_id and ticket.state == State.WAITING_REQUESTER.value:
        # back to whoever has it; a ticket nobody has goes back to triage (in progress needs an assignee),
        # and so does one whose documentation is still incomplete
        ready = ticket.assignee_id is not None and not rules.missing(desk.settings, ticket)
        resumed = State.IN_PROGRESS if ready else State.TRIAGE
        ticket.state = resumed.value
        log(session, ticket, "state", now, author, old=State.WAITING_REQUESTER.value, new=resumed.value,
            body="requester answered")
    return role


async def tell_team_of_mail(session: AsyncSession, desk: Desk, ticket: Ticket, author: Person, text: str) -> None:
    """The requester answered by mail: the team has no chat space of the ticket to read it in, so the assignee
    gets it by direct message (where they have an account), else the duty channels hear that it came."""
    now = desk.clock.now()
    if ticket.assignee_id is not None:
        assignee = await session.get(Person, ticket.assignee_id)
        for platform in (Platform.SLACK, Platform.MATRIX, Platform.CONSOLE, Platform.SIM):
            if platform not in desk.platforms:
                continue
            user_id = await identity_of(session, ticket.assignee_id, platform)
            if user_id is not None and assignee is not None:
                enqueue(session, now, Target(kind="dm", platform=platform, user_id=user_id),
                        t(assignee.language or desk.language, "mail.answered_assignee", key=ticket.key,
                          who=author.display_name, text=text),
                        kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE, ticket=ticket.key)
                return
    notify_duty(session, desk, "mail.answered_duty", ticket, kind=MessageKind.NOTICE, who=author.display_name)


async def open_tickets_of(session: AsyncSession, person: Person, *, as_assignee: bool, limit: int = 20) -> list[Ticket]:
    column = Ticket.assignee_id if as_assignee else Ticket.requester_id
    states = [s.value for s in OPEN_STATES]
    if not as_assignee:
        states += [State.RESOLVED.value, State.FEEDBACK.value]
    rows = await session.scalars(
        select(Ticket).where(column == person.id, Ticket.state.in_(states)).order_by(Ticket.id.desc()).limit(limit)
    )
    return list(rows.all())


async def events_of(
    session: AsyncSession, ticket: Ticket, *, include_internal: bool, limit: int = 10
) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    if not include_internal:
        stmt = stmt.where(TicketEvent.kind.not_in(INTERNAL_KINDS))
    rows = await session.scalars(stmt.order_by(TicketEvent.id.desc()).limit(limit))
    return list(reversed(rows.all()))


async def count_open(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.state.in_([s.value for s in OPEN_STATES]))) or 0)
