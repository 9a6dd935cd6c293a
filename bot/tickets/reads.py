"""Read models over tickets that more than one side shows: a person's open tickets (``/ticket list``
and the Slack App Home) and the people of a ticket (whom a platform invites to its private space).

:class:`TicketReadModel` is the ``tickets`` port of the adapters (bot/core/ports.py); it opens its
own read-only session for each question.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.types import Attachment, Platform, TicketSummary
from bot.i18n import t
from bot.i18n.format import duration
from bot.tickets.service import open_tickets_of
from storage.models import Attachment as AttachmentRow
from storage.models import Identity, MovedThread, Person, Ticket


async def open_tickets_text(session: AsyncSession, person: Person | None, *, as_assignee: bool, lang: str,
                            now: datetime) -> str:
    """The list of a person's open tickets (requested, or assigned to them), or the line that says there are none."""
    tickets = await open_tickets_of(session, person, as_assignee=as_assignee) if person is not None else []
    if not tickets:
        return t(lang, "ticket.list_empty_staff" if as_assignee else "ticket.list_empty")
    lines = [t(lang, "ticket.list_head_staff" if as_assignee else "ticket.list_head", count=len(tickets))]
    lines += [t(lang, "ticket.list_line", key=ticket.key, priority=ticket.priority,
                state=t(lang, f"state.{ticket.state}"), title=ticket.title, age=duration(lang, now - ticket.created_at))
              for ticket in tickets]
    return "\n".join(lines)


async def ticket_member_ids(session: AsyncSession, ticket_key: str, platform: Platform) -> list[str]:
    """Platform user ids of a ticket's requester, assignee and listed members (``ticket.data["members"]``),
    in that order, each once; people without an account on ``platform`` are left out."""
    return [user for user, _staff in await ticket_members(session, ticket_key, platform)]


async def ticket_members(session: AsyncSession, ticket_key: str, platform: Platform) -> list[tuple[str, bool]]:
    """As :func:`ticket_member_ids`, each with whether the person is on the support team."""
    ticket = await session.scalar(select(Ticket).where(Ticket.key == ticket_key))
    return await _members_of(session, ticket, platform)


async def _members_of(session: AsyncSession, ticket: Ticket | None, platform: Platform) -> list[tuple[str, bool]]:
    if ticket is None:
        return []
    people = [ticket.requester_id, ticket.assignee_id, *((ticket.data or {}).get("members") or [])]
    ids = [p for p in dict.fromkeys(people) if isinstance(p, int)]
    if not ids:
        return []
    rows = await session.execute(select(Identity.person_id, Identity.user_id, Person.is_staff)
                                 .join(Person, Person.id == Identity.person_id)
                                 .where(Identity.person_id.in_(ids), Identity.platform == platform.value))
    by_person = {person: (user, bool(staff)) for person, user, staff in rows.all()}
    return [by_person[p] for p in ids if p in by_person]


class TicketReadModel:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    async def member_ids(self, ticket_key: str, platform: Platform) -> list[str]:
        async with self.sessions() as session:
            return await ticket_member_ids(session, ticket_key, platform)

    async def members(self, ticket_key: str, platform: Platform) -> list[tuple[str, bool]]:
        async with self.sessions() as session:
            return await ticket_members(session, ticket_key, platform)

    async def space_facts(self, ticket_key: str, platform: Platform) -> tuple[str, list[str]] | None:
        """A new space's facts in one read of the ticket: its title (the space's name) and its member ids."""
        async with self.sessions() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.key == ticket_key))
            if ticket is None:
                return None
            return ticket.title, [user for user, _staff in await _members_of(session, ticket, platform)]

    async def summary(self, ticket_key: str, platform: Platform) -> TicketSummary | None:
        async with self.sessions() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.key == ticket_key.upper()))
            if ticket is None:
                return None
            requester = await session.get(Person, ticket.requester_id)
            user_id = await session.scalar(select(Identity.user_id).where(
                Identity.person_id == ticket.requester_id, Identity.platform == platform.value).limit(1))
            return TicketSummary(key=ticket.key, title=ticket.title, state=ticket.state,
                                 origin_platform=ticket.origin_platform, origin_thread=ticket.origin_thread,
                                 requester_id=user_id, requester_name=requester.display_name if requester else None)

    async def files(self, ticket_key: str) -> list[Attachment]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(AttachmentRow).join(Ticket, Ticket.id == AttachmentRow.ticket_id)
                                          .where(Ticket.key == ticket_key.upper()).order_by(AttachmentRow.id))).all()
            return [Attachment(name=row.file_name, mime_type=row.mime_type, size=row.size, ref=row.ref)
                    for row in rows]

    async def is_staff(self, platform: Platform, user_id: str) -> bool:
        async with self.sessions() as session:
            staff = await session.scalar(select(Person.is_staff).join(Identity, Identity.person_id == Person.id)
                                         .where(Identity.platform == platform.value, Identity.user_id == user_id))
            return bool(staff)

    async def home_sections(self, platform: Platform, user_id: str, lang: str) -> list[str]:
        now = self.clock.now()
        async with self.sessions() as session:
            person = await session.scalar(select(Person).join(Identity, Identity.person_id == Person.id).where(
                Identity.platform == platform.value, Identity.user_id == user_id))
            staff = person is not None and person.is_staff
            return [await open_tickets_text(session, person, as_assignee=as_assignee, lang=lang, now=now)
                    for as_assignee in ((True, False) if staff else (False,))]

    async def moved_into(self, platform: Platform, channel_id: str, message_id: str) -> str | None:
        async with self.sessions() as session:
            return await session.scalar(select(Ticket.key).join(MovedThread, MovedThread.ticket_id == Ticket.id).where(
                MovedThread.platform == platform.value, MovedThread.channel_id == channel_id,
                MovedThread.root_id == message_id))
