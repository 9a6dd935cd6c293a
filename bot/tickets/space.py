"""A ticket's private space over its life: archived when the ticket is closed, usable again when it is reopened.

Closing marks the ticket on the unit of work; once the unit's messages to the space are queued (the closing
words, the thanks for an answered satisfaction question), the finishing step queues the bot's goodbye with the
archiving (``[desk] archive_on_close``, default on). The satisfaction question comes before the close (it is
answered or times out first), and the requester keeps their DM with the bot. Reopening queues the unarchiving
ahead of the reopening's own messages. The ticket's history keeps every message either way.

The space's name and topic (:func:`describe`: ``HW-42 · VPN drops``; state, priority, assignee and the SLA due time
in the desk's zone and language) are queued in the same finishing step for every ticket the unit changed, before
its archiving, and only when their text changed (``ticket.data["space_topic"]``): the platform renames the space
and sets its topic (Slack ``conversations.rename``/``setTopic``, a Matrix room's ``m.room.name``/``m.room.topic``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import Capability, Platform
from bot.core.uow import UnitOfWork
from bot.i18n import t
from bot.i18n.format import instant
from bot.infra.outbox import enqueue_space
from bot.tickets.states import OPEN_STATES, State
from storage.models import Person, Ticket

ARCHIVED = "space_archived"  # ticket.data: its space was archived (so a reopening unarchives it)
TOPIC = "space_topic"        # ticket.data: the [name, topic] its space was last given (sent again only when changed)
TITLE_CHARS = 60             # of the title in the space's name
RUNNING = ("running", "paused", "breached")   # an SLA clock whose due time still matters


def closing(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """``ticket`` is being closed: its space is archived when the unit finishes."""
    unit = UnitOfWork.find(session)
    if unit is not None and desk.settings.desk.archive_on_close:
        unit.mark(unit.closed, ticket)


def reopening(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """``ticket`` leaves the closed state: an archived space is unarchived before anything is said there."""
    unit = UnitOfWork.find(session)
    if unit is not None:
        unit.closed.discard(ticket.id)
    if not (ticket.data or {}).get(ARCHIVED):
        return
    from bot.tickets.service import space_target  # service imports this module

    enqueue_space(session, desk.clock.now(), space_target(ticket), "unarchive", "", ticket=ticket.key)
    ticket.data = {**(ticket.data or {}), ARCHIVED: False}


async def archive_closed(unit: UnitOfWork) -> None:
    """The finishing step (Stage.SPACES): the goodbye and the archiving for each ticket closed in the unit."""
    from bot.tickets.service import space_target

    for ticket_id in sorted(unit.closed):
        ticket = await unit.ticket(ticket_id)
        if ticket is None or ticket.state != State.CLOSED.value:
            continue
        platform = Platform(ticket.origin_platform)
        if platform == Platform.MAIL:
            continue  # a mail ticket's space is the requester's mail thread: the closing notice was its last mail
        # a Slack channel is archived; a Matrix room stays the team's, and the requester is taken out of it
        goodbye = "space.goodbye" if unit.desk.can(platform, Capability.ARCHIVE) else "space.goodbye_room"
        enqueue_space(unit.session, unit.desk.clock.now(), space_target(ticket), "archive",
                      t(ticket.language, goodbye, informal=unit.desk.informal, key=ticket.key), ticket=ticket.key)
        ticket.data = {**(ticket.data or {}), ARCHIVED: True}


def sla_due(ticket: Ticket) -> datetime | None:
    """The earliest due time of the ticket's SLA clocks that still run (stored by bot/sla/service.py)."""
    dues = [datetime.fromisoformat(clock["due"]) for clock in ((ticket.data or {}).get("sla") or {}).values()
            if isinstance(clock, dict) and clock.get("due") and clock.get("state") in RUNNING]
    return min(dues, default=None)


def describe(desk: Desk, ticket: Ticket, assignee: Person | None) -> tuple[str, str]:
    """The name (``HW-42 · VPN drops``) and topic of the ticket's space, in the desk's language and zone."""
    lang = desk.language
    title = " ".join(ticket.title.split())
    if len(title) > TITLE_CHARS:
        title = title[:TITLE_CHARS - 1].rstrip() + "…"
    name = t(lang, "space.name", key=ticket.key, title=title)
    values = {"state": t(lang, f"state.{ticket.state}"), "priority": ticket.priority,
              "assignee": assignee.display_name if assignee is not None else t(lang, "ticket.nobody")}
    due = sla_due(ticket) if State(ticket.state) in OPEN_STATES else None
    if due is None:
        return name, t(lang, "space.topic_no_sla", **values)
    return name, t(lang, "space.topic", due=instant(lang, due, desk.settings.desk.timezone), **values)


def has_named_space(desk: Desk, ticket: Ticket) -> bool:
    """Whether the ticket's space is a room or channel of its own whose name and topic the bot keeps (the platform
    declares ``Capability.SPACE_TOPICS``; not a mail thread)."""
    try:
        platform = Platform(ticket.origin_platform)
    except ValueError:
        return False
    return desk.can(platform, Capability.SPACE_TOPICS)


async def retitle_changed(unit: UnitOfWork) -> None:
    """The finishing step (Stage.SPACES, before the archiving): a new name and topic for the space of each ticket
    the unit changed, where their text changed."""
    from bot.tickets.service import is_for_contact, space_target

    for ticket_id in sorted(unit.touched | unit.opened):
        ticket = await unit.ticket(ticket_id)
        if ticket is None or is_for_contact(ticket) or not has_named_space(unit.desk, ticket):
            continue
        assignee = await unit.session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
        name, topic = describe(unit.desk, ticket, assignee)
        if (ticket.data or {}).get(TOPIC) == [name, topic]:
            continue
        enqueue_space(unit.session, unit.desk.clock.now(), space_target(ticket), "topic", topic, ticket=ticket.key,
                      name=name)
        ticket.data = {**(ticket.data or {}), TOPIC: [name, topic]}
