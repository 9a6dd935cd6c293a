"""Closing the loop (handbook 000 steps 8–9): the solution is written up, the requester gets it and is
asked whether they are satisfied, and the ticket closes.

- ``/ticket solve ID TEXT`` (a knowledge-base link in the text counts as the article): stored in the
  knowledge base (``/kb``), sent to the requester (and to the requesters of merged duplicates),
  state ``resolved``; with ``[resolution] ask_feedback`` the question follows at once (state
  ``feedback``) with two buttons, *satisfied* and *not fixed*;
- satisfied → ``closed``; not fixed → back ``in_progress`` with the assignee told (the solution leaves
  the knowledge base: it did not help);
- no answer within ``feedback_wait`` → ``closed`` by a timer, and the requester is told how to reopen.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import kb
from bot.core.desk import Desk
from bot.core.errors import Refused
from bot.core.types import Button, MessageKind, Platform, Visibility
from bot.duty.notify import tell
from bot.i18n import t
from bot.infra.outbox import enqueue
from bot.tickets import service
from bot.tickets.states import State, check, state_word
from storage.models import Person, Solution, Ticket, Timer

FEEDBACK_TIMER = "workflow:feedback"
SATISFIED, NOT_FIXED = "satisfied", "notfixed"


async def solve(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person, text: str) -> bool:
    """Documents the solution and resolves; returns whether the satisfaction question was asked."""
    text, url = kb.split_solution(text)
    if not text:
        raise Refused("closing.empty_solution")
    check(State(ticket.state), State.RESOLVED, has_assignee=True)  # refused before anything changes
    now = desk.clock.now()
    if ticket.assignee_id is None:
        ticket.assignee_id = actor.id
        service.log(session, ticket, "assign", now, actor, new=actor.key)
    ticket.data = {**(ticket.data or {}), "solution": {"text": text, "url": url, "by": actor.key,
                                                        "at": now.isoformat()}}
    await service.change_state(session, desk, ticket, State.RESOLVED, actor, reason="solution", tell=False)
    kb.add(session, ticket, text, url, actor.id, now)
    # the solution is the agent's answer to the requester
    service.log(session, ticket, "reply", now, actor, new="solution", body=text, public=True)
    ask = await ask_feedback(session, desk, ticket, text)
    if not ask:
        service.tell_requester(session, desk, ticket, "closing.solution", kind=MessageKind.SOLUTION,
                               who=actor.display_name, text=text)
    for key in (ticket.data or {}).get("merged") or []:
        duplicate = await service.get(session, key)
        if duplicate is not None:
            service.tell_requester(session, desk, duplicate, "closing.solution_of_merged", kind=MessageKind.SOLUTION,
                                   into=ticket.key, text=text)
    return ask


async def ask_feedback(session: AsyncSession, desk: Desk, ticket: Ticket, text: str | None) -> bool:
    """With ``[resolution] ask_feedback``: a resolved ticket goes to ``feedback``, the requester is asked
    whether ``text`` (the solution; None where none was written up) helped, and the wait starts.
    Returns whether it asked."""
    resolution = desk.settings.resolution
    if resolution is None or not resolution.ask_feedback:
        return False
    now = desk.clock.now()
    await service.change_state(session, desk, ticket, State.FEEDBACK, None, reason="asked", tell=False)
    ticket.data = {**(ticket.data or {}), "asked_at": now.isoformat()}
    _question(session, desk, ticket, text)
    await _cancel_timer(session, ticket)
    session.add(Timer(ticket_id=ticket.id, kind=FEEDBACK_TIMER, due_at=now + resolution.feedback_wait,
                      data={"asked_at": now.isoformat()}))
    return True


def _buttons(lang: str, ticket: Ticket) -> tuple[Button, ...]:
    return (Button(action=SATISFIED, label=t(lang, "closing.button_satisfied"), value=ticket.key),
            Button(action=NOT_FIXED, label=t(lang, "closing.button_not_fixed"), value=ticket.key))


def _question(session: AsyncSession, desk: Desk, ticket: Ticket, text: str | None) -> None:
    platform = Platform(ticket.origin_platform)
    lang = ticket.language
    prefix = desk.prefixes.get(platform, "/")
    buttons = _buttons(lang, ticket) if desk.offers_buttons(platform) else ()
    if service.is_for_contact(ticket):
        # an outside contact answers by mail (the mail runtime reads the reply) or on the phone (the team records it)
        service.to_requester(session, desk, ticket, t(lang, "contact.question", key=ticket.key, text=text or "—"),
                             kind=MessageKind.FEEDBACK, buttons=_buttons(lang, ticket))
        return
    enqueue(session, desk.clock.now(), service.space_target(ticket),
            t(lang, "closing.question", informal=desk.informal, key=ticket.key, text=text, prefix=prefix)
            if text is not None else t(lang, "closing.question_plain", informal=desk.informal, key=ticket.key,
                                       prefix=prefix),
            kind=MessageKind.FEEDBACK, visibility=Visibility.PRIVATE, ticket=ticket.key, buttons=buttons)


async def _cancel_timer(session: AsyncSession, ticket: Ticket) -> None:
    await session.execute(update(Timer).where(Timer.ticket_id == ticket.id, Timer.kind == FEEDBACK_TIMER,
                                              Timer.fired_at.is_(None)).values(cancelled=True))


async def set_aside(session: AsyncSession, ticket: Ticket) -> None:
    """A solved ticket goes back to work (reopened, or set back by an agent): its solution no longer counts
    for ``resolved`` (it stays in the history and the knowledge base), and the open question lapses."""
    data = dict(ticket.data or {})
    solution = data.pop("solution", None)
    if solution is not None:
        data["earlier_solutions"] = [*(data.get("earlier_solutions") or []), solution]
    ticket.data = data
    await _cancel_timer(session, ticket)


def _pending(ticket: Ticket) -> bool:
    return ticket.state in (State.FEEDBACK.value, State.RESOLVED.value)


async def satisfied(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person) -> None:
    if not _pending(ticket):
        raise Refused("closing.no_question", key=ticket.key, state=state_word(State(ticket.state)))
    ticket.data = {**(ticket.data or {}), "satisfaction": SATISFIED}
    service.log(session, ticket, "feedback", desk.clock.now(), actor, new=SATISFIED, public=True)
    await _cancel_timer(session, ticket)
    await service.change_state(session, desk, ticket, State.CLOSED, actor, reason="satisfied", tell=False)
    service.tell_requester(session, desk, ticket, "closing.thanks")


async def not_fixed(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person, text: str | None) -> None:
    if not _pending(ticket):
        raise Refused("closing.no_question", key=ticket.key, state=state_word(State(ticket.state)))
    ticket.data = {k: v for k, v in {**(ticket.data or {}), "satisfaction": NOT_FIXED}.items() if k != "solution"}
    service.log(session, ticket, "feedback", desk.clock.now(), actor, new=NOT_FIXED, body=text, public=True)
    await _cancel_timer(session, ticket)
    # it did not help: it is no knowledge to find again
    await session.execute(delete(Solution).where(Solution.ticket_id == ticket.id))
    await service.change_state(session, desk, ticket, State.IN_PROGRESS, actor, reason="not fixed", tell=False)
    service.tell_requester(session, desk, ticket, "closing.reopened")
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    if assignee is not None:
        await tell(session, desk, assignee.key, "closing.not_fixed_agent", key=ticket.key,
                   who=actor.display_name, text=text or "—", ticket=ticket.key)
    else:
        service.notify_duty(session, desk, "closing.not_fixed_agent", ticket, kind=MessageKind.NOTICE,
                            who=actor.display_name, text=text or "—")


def _current(data: dict, timer_data: dict) -> bool:
    if "asked_at" in timer_data:
        return timer_data["asked_at"] == data.get("asked_at")
    # a timer from before "asked_at" carries the solution's time
    return timer_data.get("solved_at") == (data.get("solution") or {}).get("at")


async def feedback_timeout(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    ticket = await session.get(Ticket, timer.ticket_id)
    if ticket is None or ticket.state != State.FEEDBACK.value:
        return
    if not _current(ticket.data or {}, timer.data or {}):
        return  # the question of an earlier resolution
    ticket.data = {**(ticket.data or {}), "satisfaction": "no_answer"}
    await service.change_state(session, desk, ticket, State.CLOSED, None, reason="no answer", tell=False)
    prefix = desk.prefixes.get(Platform(ticket.origin_platform), "/")
    service.tell_requester(session, desk, ticket, "closing.closed_no_answer", prefix=prefix)
