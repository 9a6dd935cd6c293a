"""`/ticket …`: create, show, take, assign, priority, note, reply, status, close, reopen, list mine."""

from __future__ import annotations

from pydantic import BaseModel, field_validator
from sqlalchemy import select

from bot import access, routing
from bot.access.people import person_by_key
from bot.contacts import intake as contact_intake
from bot.contacts import reach
from bot.contacts import store as contact_store
from bot.contacts.address import region_of
from bot.core.context import Context
from bot.core.errors import BadValue, Refused, Worded
from bot.core.registry import TICKET_KEY, Arg, Command, Registry
from bot.core.types import MessageKind, Reply, Visibility
from bot.duty import escalation
from bot.i18n import LANGUAGES, catalogue, t
from bot.i18n.format import ago
from bot.tickets import due, limits, reads, service
from bot.tickets.states import SETTABLE, State
from bot.workflow import attachments, closing, rules
from storage.models import Person, Ticket

KEY = TICKET_KEY


def _priority(value: object) -> int:
    text = str(value).strip().lower().removeprefix("p").removeprefix("rio").removeprefix("-")
    if text not in {"1", "2", "3"}:
        raise BadValue("args.priority", value=str(value)[:40])
    return int(text)


def _key(value: str) -> str:
    if not KEY.fullmatch(value):
        raise BadValue("args.key", value=value[:40])
    return value.upper()


def _state_names() -> dict[str, State]:
    """What a person may type for a state they can set: its key, or its name in any of the languages."""
    names = {s.value: s for s in SETTABLE}
    for lang in LANGUAGES:
        names.update({t(lang, f"state.{s.value}").lower(): s for s in SETTABLE})
    return names


class CreateArgs(BaseModel):
    text: str
    priority: int = 2
    topic: str | None = None
    # an outside requester (bot/contacts/address.py): staff open the ticket for them
    contact: str | None = None

    _p = field_validator("priority", mode="before")(classmethod(lambda cls, v: _priority(v)))


class KeyArgs(BaseModel):
    key: str

    _k = field_validator("key")(classmethod(lambda cls, v: _key(v)))


class AssignArgs(KeyArgs):
    person: str
    due: str | None = None  # bot/tickets/due.py

    @field_validator("person")
    @classmethod
    def _person(cls, value: str) -> str:
        return value.removeprefix("@")


class PriorityArgs(KeyArgs):
    level: int

    _p = field_validator("level", mode="before")(classmethod(lambda cls, v: _priority(v)))


class TextArgs(KeyArgs):
    text: str


class StatusArgs(KeyArgs):
    state: State

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: str) -> State:
        typed = str(value).strip()
        found = _state_names().get(typed.lower().replace("-", "_")) or _state_names().get(typed.lower())
        if found is None:
            raise BadValue("args.state", value=typed[:40], states=Worded(
                ", ".join(s.value for s in SETTABLE),
                lambda lang: ", ".join(t(lang, "args.quoted", text=t(lang, f"state.{s.value}")) for s in SETTABLE)))
        return found


class NoArgs(BaseModel):
    pass


KEY_ARG = Arg("key", "positional", metavar="ID", space_ticket=True)


def reply(
    ctx: Context, key: str, /, *, kind: MessageKind = MessageKind.REPLY, ticket: str | None = None, **values: object
) -> list[Reply]:
    return [Reply(text=ctx.t(key, **values), kind=kind, ticket=ticket)]


def follows(ctx: Context, ticket: Ticket) -> bool:
    """The actor only follows ``ticket``: not its requester, not staff, but a duplicate of theirs was merged
    into it. They see its state and its solution, not the other requester's report or conversation."""
    return (not ctx.actor.is_staff and ticket.requester_id != ctx.actor.person.id
            and ctx.actor.person.id in ((ticket.data or {}).get("watchers") or []))


async def load(ctx: Context, key: str, *, write: bool = False, follow: bool = False) -> Ticket:
    """The ticket if the actor may see it, else Refused; requesters see only their own, and nobody learns
    whether someone else's ticket exists. ``follow``: a read that followers may do too (show, sla);
    anything else on a followed ticket is its requester's or the team's."""
    ticket = await service.get(ctx.session, key)
    # a requester also follows the tickets their duplicates were merged into
    watching = ticket is not None and follows(ctx, ticket)
    if ticket is None or (not ctx.actor.is_staff and ticket.requester_id != ctx.actor.person.id and not watching):
        raise Refused("ticket.not_found", key=key)
    if write and not ctx.actor.is_staff:
        raise Refused("ticket.staff_only")
    if watching and not follow:
        raise Refused("ticket.follower_only", key=ticket.key)
    return ticket


async def create(ctx: Context, args: CreateArgs) -> list[Reply]:
    if args.contact is not None:
        return await create_for(ctx, args)
    ev = ctx.event
    settings = ctx.desk.settings
    # a desk that names its topics takes only those; without any, a topic is a free label
    if args.topic is not None and routing.known_topics(settings) and args.topic not in routing.known_topics(settings):
        raise Refused("routing.unknown_topic", topic=args.topic[:40], topics=", ".join(routing.known_topics(settings))
                      or "—")
    held = await limits.hold(ctx.session, ctx.desk, ctx.actor.person, args.text, ctx.actor.language,
                             ctx.actor.timezone)
    if held is not None:
        return [held, *await _files_onto(ctx, held.ticket)]
    # the routing topic and the category's priority are known before the receipt is written
    topic = routing.topic_for(settings, text=args.text, topic=args.topic, channel=ev.channel.channel_id)
    given = args.priority if "priority" in args.model_fields_set else None
    priority, source = routing.initial_priority(settings, topic, given)
    ticket = await service.create(
        ctx.session,
        ctx.desk,
        ctx.actor.person,
        text=args.text,
        priority=priority,
        topic=topic,
        origin=ev.channel,
        language=ctx.actor.language,
        priority_source=service.chosen_by(ctx.actor.person) if source == "given" else source,
    )
    return [Reply(
        text=ctx.t("ticket.receipt", key=ticket.key, priority=priority, priority_name=ctx.t(f"priority.{priority}"),
                   next=await service.next_step(ctx.session, ctx.desk, ticket, ctx.actor.language)),
        kind=MessageKind.RECEIPT,
        ticket=ticket.key,
    ), *await _files_onto(ctx, ticket.key)]


async def create_for(ctx: Context, args: CreateArgs) -> list[Reply]:
    """``/ticket --for CONTACT TEXT`` (bot/contacts/intake.py)."""
    assert args.contact is not None
    settings = ctx.desk.settings
    topic = routing.topic_for(settings, text=args.text, topic=args.topic, channel=ctx.event.channel.channel_id)
    given = args.priority if "priority" in args.model_fields_set else None
    priority, source = routing.initial_priority(settings, topic, given)
    ticket, receipt = await contact_intake.open_for(ctx, args.contact, text=args.text, priority=priority, topic=topic,
                                                    priority_source="team" if source == "given" else source)
    return [receipt, *await _files_onto(ctx, ticket.key)]


async def _files_onto(ctx: Context, key: str | None) -> list[Reply]:
    """The request's files (screenshots) onto the ticket ``key``; a refusal for each file not taken."""
    ticket = await service.get(ctx.session, key) if key and ctx.event.attachments else None
    if ticket is None:
        return []
    refusals = await attachments.receive(ctx.session, ctx.desk, ticket, ctx.actor.person, ctx.event.attachments,
                                         ctx.actor.language)
    return [Reply(text=text, kind=MessageKind.ERROR, ticket=ticket.key) for text in refusals]


async def show(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, follow=True)
    if follows(ctx, ticket):
        return await _followed(ctx, ticket)
    requester = await ctx.session.get(Person, ticket.requester_id)
    assignee = await ctx.session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    lines = [
        ctx.t("ticket.show_head", key=ticket.key, title=ticket.title),
        ctx.t("ticket.show_meta", state=ctx.t(f"state.{ticket.state}"), priority=ticket.priority,
              requester=requester.display_name if requester else "?",
              assignee=assignee.display_name if assignee else ctx.t("ticket.nobody"),
              created=ctx.when(ticket.created_at), ago=ago(ctx.actor.language, ctx.now - ticket.created_at)),
    ]
    contact = await contact_store.contact_of(ctx.session, ticket.requester_id) if requester else None
    if contact is not None and requester is not None:
        opener = await ctx.session.get(Person, ticket.opener_id) if ticket.opener_id else None
        lines.append(ctx.t("contact.show", contact=contact_store.describe(requester, contact,
                                                                      region_of(ctx.desk.settings)),
                           opener=opener.display_name if opener else "—"))
    due_at = due.due_at(ticket)
    if due_at is not None:
        lines.append(ctx.t("due.show", when=ctx.when(due_at)))
    if ticket.topic:
        lines.append(ctx.t("ticket.show_topic", topic=ticket.topic))
    from commands.workflow import detail_lines  # the processes' parts of a ticket

    lines += detail_lines(ctx, ticket)
    events = await service.events_of(ctx.session, ticket, include_internal=access.sees_internal(ctx.actor))
    known = catalogue("en")
    people = {p.id: p.display_name for p in [requester, assignee] if p}
    for event in events:
        who = people.get(event.actor_id) if event.actor_id else None
        if event.actor_id and who is None:
            person = await ctx.session.get(Person, event.actor_id)
            who = people[event.actor_id] = person.display_name if person else "?"
        kind = event.kind if f"event.{event.kind}" in known else "other"
        if kind == "assign" and not event.new:
            kind = "unassign"  # routing gave the ticket back to the team (its assignee is away)
        if kind == "deletion" and not event.old:
            kind = "deletion_start"
        if kind == "message" and event.new == "outside":
            # somebody who is neither its requester nor on the team: shown by their account, not by a name
            # they chose themselves (which could be "Anna (support lead)")
            kind = "outside"
            outsider = await ctx.session.get(Person, event.actor_id) if event.actor_id else None
            who = outsider.key if outsider is not None else "?"
        from commands.history import worded  # the log's keys as the reader's words

        lines.append(ctx.t(f"event.{kind}", at=ctx.when(event.at), who=who or "dutydesk",
                           **await worded(ctx, event, kind)).rstrip())
    return [Reply(text="\n".join(lines), ticket=ticket.key)]


async def _followed(ctx: Context, ticket: Ticket) -> list[Reply]:
    """What a follower sees: state, priority and the solution — no title, report, names or conversation,
    which are the other requester's."""
    merged = (ticket.data or {}).get("merged") or []
    mine = (await ctx.session.scalars(select(Ticket.key).where(
        Ticket.key.in_(merged), Ticket.requester_id == ctx.actor.person.id).order_by(Ticket.id))).all()
    lines = [ctx.t("ticket.show_followed", key=ticket.key, state=ctx.t(f"state.{ticket.state}"),
                   priority=ticket.priority, merged=", ".join(mine) or "—")]
    solution = (ticket.data or {}).get("solution")
    if solution:
        lines.append(ctx.t("workflow.show_solution", text=solution.get("text", "")))
    return [Reply(text="\n".join(lines), ticket=ticket.key)]


async def take(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    if ticket.state == State.CLOSED.value:  # closed by the team or withdrawn by its requester
        raise Refused("ticket.take_closed", key=ticket.key)
    if ticket.state == State.MERGED.value:
        raise Refused("ticket.take_merged", key=ticket.key, into=(ticket.data or {}).get("merged_into") or "?")
    if ticket.assignee_id != ctx.actor.person.id:
        await service.assign(ctx.session, ctx.desk, ticket, ctx.actor.person, ctx.actor.person)
    acked = await escalation.taken(ctx.session, ctx.desk, ticket, ctx.actor.person)
    if ticket.state != State.IN_PROGRESS.value:
        was = State(ticket.state)
        try:
            await service.change_state(ctx.session, ctx.desk, ticket, State.IN_PROGRESS, ctx.actor.person)
        except Refused as refusal:
            if refusal.key != "intake.incomplete":
                raise
            # yours, but it starts only once the documentation is complete
            if ticket.state == State.NEW.value:
                await service.change_state(ctx.session, ctx.desk, ticket, State.TRIAGE, ctx.actor.person)
            return _acked(ctx, reply(ctx, "intake.taken_waiting", key=ticket.key, ticket=ticket.key,
                                     fields=rules.labels(ctx.actor.language, rules.missing(ctx.desk.settings, ticket))),
                          acked)
        if was in rules.SOLVED_STATES:
            await closing.set_aside(ctx.session, ticket)  # taken back to work: a new solution is needed
    return _acked(ctx, reply(ctx, "ticket.taken", key=ticket.key, ticket=ticket.key), acked)


def _acked(ctx: Context, replies: list[Reply], acked: bool) -> list[Reply]:
    """The reply to taking a ticket, and that its Prio-1 page is acknowledged when one was pending."""
    if not acked:
        return replies
    first = replies[0]
    return [first.model_copy(update={"text": f"{first.text} {ctx.t('escalation.taken_acks')}"}), *replies[1:]]


async def assign(ctx: Context, args: AssignArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    person = await person_by_key(ctx.session, args.person)
    if person is None or not person.is_staff:
        staff = ", ".join(sorted(ctx.desk.settings.people)) or "—"
        return reply(ctx, "ticket.unknown_agent", person=args.person, staff=staff)
    when = due.parse(ctx.desk, args.due, ctx.now) if args.due is not None else None  # refused before it assigns
    await service.assign(ctx.session, ctx.desk, ticket, person, ctx.actor.person)
    # assigning a Prio-1 to oneself is taking it: its page is acknowledged
    acked = person.id == ctx.actor.person.id and await escalation.taken(ctx.session, ctx.desk, ticket, person)
    if when is not None:
        await due.set_due(ctx.session, ctx.desk, ticket, when, ctx.actor.person)
        return _acked(ctx, reply(ctx, "due.set", key=ticket.key, person=person.display_name, ticket=ticket.key,
                                 when=ctx.when(when.at), remind=ctx.when(when.remind)), acked)
    return _acked(ctx, reply(ctx, "ticket.assigned", key=ticket.key, person=person.display_name, ticket=ticket.key),
                  acked)


async def priority(ctx: Context, args: PriorityArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    if ticket.priority == args.level:
        return reply(ctx, "ticket.priority_same", key=ticket.key, priority=args.level)
    await service.set_priority(ctx.session, ctx.desk, ticket, args.level, ctx.actor.person, source="team")
    return reply(ctx, "ticket.priority_set", key=ticket.key, priority=args.level, ticket=ticket.key)


async def note(ctx: Context, args: TextArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    service.add_note(ctx.session, ctx.desk, ticket, ctx.actor.person, args.text)
    # on a Prio-1, the standby's notes reach the phone duty, who talks to the customer
    await escalation.relay_note(ctx.session, ctx.desk, ticket, ctx.actor.person, args.text)
    return reply(ctx, "ticket.noted", key=ticket.key, ticket=ticket.key)


async def answer(ctx: Context, args: TextArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    service.add_reply(ctx.session, ctx.desk, ticket, ctx.actor.person, args.text)
    way = await reach.way_to_requester(ctx.session, ctx.desk, ticket)
    if way.how == "space":
        return reply(ctx, "ticket.replied", key=ticket.key, ticket=ticket.key)
    return [Reply(text=ctx.t("contact.replied", key=ticket.key) + " " + way_said(ctx, way, "way"), ticket=ticket.key)]


def way_said(ctx: Context, way: reach.Way, what: str) -> str:
    """How a requester who is not in chat hears what the team did (bot/contacts/reach.py): ``what`` is ``way``
    (something passed on) or ``asked`` (the satisfaction question)."""
    return ctx.t(f"contact.{what}_{way.how}", email=way.email or "", contact=way.contact or "",
                 who=way.who or ctx.t("contact.the_duty_channel"))


async def confirmed(ctx: Context, ticket: Ticket, key: str, contact_key: str, what: str,
                    **values: object) -> list[Reply]:
    """The confirmation ``key``, or, where the requester is not in the ticket's private space, ``contact_key``
    and how they hear of it (:func:`way_said`)."""
    way = await reach.way_to_requester(ctx.session, ctx.desk, ticket)
    if way.how == "space":
        return [Reply(text=ctx.t(key, key=ticket.key, **values), ticket=ticket.key)]
    text = ctx.t(contact_key, key=ticket.key, **values) + " " + way_said(ctx, way, what)
    return [Reply(text=text, ticket=ticket.key)]


async def _transition(ctx: Context, key: str, target: State, done_key: str, *, requester_may: bool) -> list[Reply]:
    ticket = await load(ctx, key, write=not requester_may)
    was = State(ticket.state)
    if target == State.CLOSED:
        rules.close_guard(ctx.desk.settings, ticket, by_requester=ticket.requester_id == ctx.actor.person.id)
    if target == State.TRIAGE and was in {State.CLOSED, State.RESOLVED, State.FEEDBACK}:
        target = await service.reopen(ctx.session, ctx.desk, ticket, ctx.actor.person)
    else:
        await service.change_state(ctx.session, ctx.desk, ticket, target, ctx.actor.person)
    if was in rules.SOLVED_STATES and target not in rules.SOLVED_STATES:
        # back to work: the next "resolved" needs a solution written up (and asked about) again
        await closing.set_aside(ctx.session, ticket)
    if target == State.RESOLVED and await closing.ask_feedback(ctx.session, ctx.desk, ticket, None):
        # resolved without a write-up (allowed where require_solution is off): still asked, still closed by the timer
        return await confirmed(ctx, ticket, "closing.resolved_asked", "contact.resolved", "asked")
    return reply(ctx, done_key, key=ticket.key, state=ctx.t(f"state.{target.value}"), ticket=ticket.key)


async def status(ctx: Context, args: StatusArgs) -> list[Reply]:
    return await _transition(ctx, args.key, args.state, "ticket.status_set", requester_may=False)


async def close(ctx: Context, args: KeyArgs) -> list[Reply]:
    return await _transition(ctx, args.key, State.CLOSED, "ticket.closed", requester_may=True)


async def reopen(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key)
    if State(ticket.state) not in {State.CLOSED, State.RESOLVED, State.FEEDBACK}:
        return reply(ctx, "ticket.not_closed", key=ticket.key, state=ctx.t(f"state.{ticket.state}"))
    return await _transition(ctx, args.key, State.TRIAGE, "ticket.reopened", requester_may=True)


async def list_mine(ctx: Context, _args: NoArgs) -> list[Reply]:
    text = await reads.open_tickets_text(ctx.session, ctx.actor.person, as_assignee=ctx.actor.is_staff,
                                         lang=ctx.actor.language, now=ctx.now)
    return [Reply(text=text, visibility=Visibility.EPHEMERAL)]


def register(registry: Registry) -> None:
    text = Arg("text", "rest", metavar="TEXT")
    registry.add(Command(
        ("ticket", "new"), CreateArgs, create, "help.ticket_new",
        (Arg("priority", "option", ("-p", "--priority"), "1|2|3", required=False),
         Arg("topic", "option", ("-t", "--topic"), "TOPIC", required=False),
         Arg("contact", "option", ("--for",), "CONTACT", required=False, staff=True), text),
        default_for=("ticket",),
    ))
    registry.add(Command(("ticket", "show"), KeyArgs, show, "help.ticket_show", (KEY_ARG,)))
    registry.add(Command(("ticket", "take"), KeyArgs, take, "help.ticket_take", (KEY_ARG,), permission="staff"))
    registry.add(Command(("ticket", "assign"), AssignArgs, assign, "help.ticket_assign",
                         (KEY_ARG, Arg("person", "positional", metavar="@PERSON"),
                          Arg("due", "option", ("--due",), "WHEN", required=False)), permission="staff"))
    registry.add(Command(("ticket", "priority"), PriorityArgs, priority, "help.ticket_priority",
                         (KEY_ARG, Arg("level", "positional", metavar="1|2|3")), permission="staff"))
    registry.add(Command(("ticket", "note"), TextArgs, note, "help.ticket_note", (KEY_ARG, text), permission="staff"))
    registry.add(Command(("ticket", "reply"), TextArgs, answer, "help.ticket_reply", (KEY_ARG, text),
                         permission="staff"))
    registry.add(Command(("ticket", "status"), StatusArgs, status, "help.ticket_status",
                         (KEY_ARG, Arg("state", "rest", metavar="STATE")), permission="staff"))
    registry.add(Command(("ticket", "close"), KeyArgs, close, "help.ticket_close", (KEY_ARG,)))
    registry.add(Command(("ticket", "reopen"), KeyArgs, reopen, "help.ticket_reopen", (KEY_ARG,)))
    registry.add(Command(("ticket", "list", "mine"), NoArgs, list_mine, "help.ticket_list"))
    registry.add(Command(("ticket", "list"), NoArgs, list_mine, "help.ticket_list"))
