"""Intake actions: ask the requester for the missing documentation in the ticket's private space, one
field at a time; store answers (the requester's next message there, ``/ticket doc ID FIELD VALUE``, or
a screenshot); start an assigned ticket once its documentation is complete. The rules are in
:mod:`bot.workflow.rules`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import MessageKind, Platform
from bot.i18n import t
from bot.tickets import service
from bot.tickets.states import State
from bot.workflow.rules import URGENCY_PRIORITY, asking, labels, missing, normalise
from storage.models import Person, Ticket


def _set_doc(ticket: Ticket, field: str, value: str) -> None:
    data = dict(ticket.data or {})
    doc = dict(data.get("doc") or {})
    doc[field] = value
    data["doc"] = doc
    ticket.data = data


def _set_asking(ticket: Ticket, field: str | None) -> None:
    data = dict(ticket.data or {})
    intake = dict(data.get("intake") or {})
    if field is None:
        intake.pop("asking", None)
    else:
        intake["asking"] = field
    data["intake"] = intake
    ticket.data = data


async def start(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """After a ticket opened: list what is missing in its private space and ask the first question."""
    fields = missing(desk.settings, ticket)
    if not fields:
        return
    lang = ticket.language
    prefix = desk.prefixes.get(Platform(ticket.origin_platform), "/")
    service.tell_requester(session, desk, ticket, "intake.needed", kind=MessageKind.INTAKE, fields=labels(lang, fields),
                   prefix=prefix, example=fields[0])
    _ask(session, desk, ticket, fields[0])


def _ask(session: AsyncSession, desk: Desk, ticket: Ticket, field: str) -> None:
    _set_asking(ticket, field)
    service.tell_requester(session, desk, ticket, "intake.question", kind=MessageKind.INTAKE,
                   question=t(ticket.language, f"intake.ask.{field}", informal=desk.informal))


async def fill(session: AsyncSession, desk: Desk, ticket: Ticket, field: str, value: str,
               actor: Person | None) -> list[str]:
    """Stores one answer (normalised), logs it, and moves on; returns the fields still missing.

    Raises Refused for a value that is not accepted."""
    value = normalise(field, value) if field != "screenshot" else value
    before = missing(desk.settings, ticket)
    _set_doc(ticket, field, value)
    service.log(session, ticket, "doc", desk.clock.now(), actor, old=field, new=value[:255], body=value,
                public=True)
    if field == "urgency":
        await _urgency_priority(session, desk, ticket, value, actor)
    left = missing(desk.settings, ticket)
    if asking(ticket) == field or asking(ticket) not in left:
        if left:
            _ask(session, desk, ticket, left[0])
        else:
            _set_asking(ticket, None)
    if before and not left:
        await _complete(session, desk, ticket)
    return left


async def _urgency_priority(session: AsyncSession, desk: Desk, ticket: Ticket, urgency: str,
                            actor: Person | None) -> None:
    """Without an explicit priority, the urgency decides it (as in the ticket form). A priority the team set
    wins over the requester's urgency; an agent who records the urgency sets the team's priority."""
    if (ticket.data or {}).get("priority_source") in ("given", "team"):
        return
    source = "team" if actor is not None and actor.is_staff else "urgency"
    priority = URGENCY_PRIORITY[urgency]
    ticket.data = {**(ticket.data or {}), "priority_source": source}
    if ticket.priority != priority:
        await service.set_priority(session, desk, ticket, priority, actor, source=source)


async def _complete(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """The documentation became complete: say so, and start an assigned ticket that was waiting for it."""
    service.tell_requester(session, desk, ticket, "intake.complete", kind=MessageKind.INTAKE)
    if ticket.assignee_id is not None and ticket.state in (State.NEW.value, State.TRIAGE.value):
        # the bot starts it (the requester did not): actor None
        await service.change_state(session, desk, ticket, State.IN_PROGRESS, None, reason="documentation complete")
