"""A ticket's card in the duty channel: one message per ticket, changed in place, with its events in its thread.

When a ticket opens, each duty channel gets one message with buttons (Take, Prio 1, Close, as the state allows;
numbered options where a platform has no buttons). Its later notices to the duty channel are replies in that
message's thread, not new top-level posts; when it is taken, assigned, reprioritised, resolved, closed or
reopened, the message itself is changed (Slack ``chat.update``, Matrix ``m.replace``): its status line says what
happened and who did it, and the buttons offer only what is still possible. The card links the ticket's private
space by its id and mentions the assignee (bot/core/mentions.py: Slack ``<#C…>`` and ``<@U…>``; plain text on
platforms without mentions).

The card's outbox row ids are kept on the ticket (``data["card"]``, per platform and channel); the outbox
resolves them to the platform's message ids when it delivers (bot/infra/outbox.py: ``thread_of``, ``of``).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.mentions import mention, space_link
from bot.core.types import Button, MessageKind, Target, Visibility
from bot.core.uow import UnitOfWork
from bot.i18n import t
from bot.infra.outbox import enqueue, enqueue_update
from bot.tickets.states import OPEN_STATES, State
from storage.models import OutboxMessage, Person, Ticket, table_of

CARD = "card"


def _where(target: Target) -> str:
    return f"{target.platform.value}:{target.channel_id}"


def buttons(desk: Desk, ticket: Ticket, target: Target) -> tuple[Button, ...]:
    """What may still be done from the card: take an open ticket nobody works on yet, raise it to Prio 1, close
    it; reopen it once it is resolved or closed."""
    if not desk.offers_buttons(target.platform):
        return ()
    lang = desk.language
    key = ticket.key
    offered: list[Button] = []
    if State(ticket.state) in OPEN_STATES:
        # nobody works on it yet: routing may have given it to someone, who still takes it to start
        if ticket.assignee_id is None or ticket.state in (State.NEW.value, State.TRIAGE.value):
            offered.append(Button(action="take", label=t(lang, "card.take"), value=key))
        if ticket.priority != 1:
            offered.append(Button(action="priority", label=t(lang, "card.prio1"), value=f"{key} 1"))
        offered.append(Button(action="close", label=t(lang, "card.close"), value=key))
    elif ticket.state in (State.RESOLVED.value, State.FEEDBACK.value, State.CLOSED.value):
        offered.append(Button(action="reopen", label=t(lang, "card.reopen"), value=key))
    return tuple(offered)


async def open_card(session: AsyncSession, desk: Desk, ticket: Ticket, text: str) -> None:
    """The new ticket's card in every duty channel, and the new ticket's INSERT (its id is known after this). The
    card rows are written first, together with the outbox rows queued before them (the space notice: one INSERT),
    so their ids go into the ticket's INSERT (``data["card"]``) and no UPDATE of the ticket follows. The ticket is
    inserted by a Core statement, not an ORM flush (``UnitOfWork.insert``), and is in the session after it."""
    now = desk.clock.now()
    cards = {_where(target): enqueue(session, now, target, text, kind=MessageKind.NOTICE,
                                     visibility=Visibility.PRIVATE, ticket=ticket.key,
                                     buttons=buttons(desk, ticket, target))
             for target in desk.duty_targets()}

    def keep_ids() -> None:  # the card rows are written now: their ids go into the ticket's INSERT
        if cards:
            ticket.data = {**(ticket.data or {}), CARD: {where: row.id for where, row in cards.items()}}

    await UnitOfWork.of(session).insert(ticket, before=keep_ids)


def named(desk: Desk, person: Person) -> str:
    """A colleague's name as a mention (bot/core/mentions.py) when they are one of the desk's ``[people]``."""
    if person.key and person.key in desk.settings.people:
        return mention(person.key, person.display_name)
    return person.display_name


def thread_of(ticket: Ticket | None, target: Target) -> int | None:
    """The row of ``ticket``'s card in ``target``, whose thread a notice about the ticket goes into."""
    if ticket is None:
        return None
    row = ((ticket.data or {}).get(CARD) or {}).get(_where(target))
    return int(row) if row is not None else None


async def refresh(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person | None) -> None:
    """Changes the ticket's cards to its state now: the status line names what happened and who did it, the
    buttons only what is still possible."""
    cards = (ticket.data or {}).get(CARD) or {}
    if not cards:
        return
    lang = desk.language
    requester = await session.get(Person, ticket.requester_id)
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    head = t(lang, "ticket.duty_new", key=space_link(ticket.key, ticket.key), priority=ticket.priority,
             who=requester.display_name if requester else "?", title=ticket.title)
    # the assignee is mentioned (their client notifies them where the platform has mentions: Slack <@U…>)
    status = t(lang, "card.status", state=t(lang, f"state.{ticket.state}"), priority=ticket.priority,
               assignee=named(desk, assignee) if assignee else t(lang, "ticket.nobody"),
               who=actor.display_name if actor else desk.settings.desk.name)
    now = desk.clock.now()
    # one change per card and unit of work: taking a ticket assigns it and changes its state, and the card
    # shows where it ended up (the row not yet committed is changed again)
    pending = session.info.setdefault("card_updates", {})
    unit = UnitOfWork.find(session)
    for target in desk.duty_targets():
        where = _where(target)
        row = cards.get(where)
        if row is None:
            continue
        text, offered = f"{head}\n{status}", buttons(desk, ticket, target)
        earlier = pending.get((ticket.id, where))
        if earlier is not None and ((unit is not None and unit.is_pending(earlier)) or earlier in session):
            earlier.text, earlier.buttons = text, [b.model_dump() for b in offered]
            continue
        if earlier is not None and earlier.id is not None and earlier.status == "pending":
            # written already (a query in this unit flushed it): changed by an UPDATE, still one row
            earlier.text, earlier.buttons = text, [b.model_dump() for b in offered]
            table = table_of(OutboxMessage)
            await session.execute(update(table).where(table.c.id == earlier.id)
                                  .values(text=earlier.text, buttons=earlier.buttons))
            continue
        pending[(ticket.id, where)] = enqueue_update(session, now, target, text, of=int(row), kind=MessageKind.NOTICE,
                                                     visibility=Visibility.PRIVATE, ticket=ticket.key, buttons=offered)
