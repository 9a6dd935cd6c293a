"""Deferral (portal, handbook 003 2.7) and merging duplicates.

``/ticket defer ID REASON DATE [NOTE]``: the ticket waits (state ``deferred``, its resolution clock
stopped) for one of the reasons of ``[deferral] reasons`` until a review date; the requester is told
why and until when; on the review date (``review_at``, desk time) the assignee — or the duty channel —
is reminded. Without ``[deferral]`` any short reason is taken.

``/ticket merge A B``: B is a duplicate of A and becomes ``merged`` into it; both requesters are told
(without names); B's requester may follow A (``/ticket show A``) and gets A's solution.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.walltime import PLANNING_HORIZON
from bot.core.desk import Desk
from bot.core.errors import Refused, Worded
from bot.core.types import MessageKind
from bot.duty.notify import tell
from bot.i18n import format as fmt
from bot.tickets import service
from bot.tickets.states import State, check
from storage.models import Person, Ticket, Timer

REVIEW_TIMER = "workflow:review"


def reason_of(desk: Desk, text: str) -> tuple[str, str]:
    """(key, label) of a deferral reason: a key of ``[deferral] reasons`` or its number."""
    config = desk.settings.deferral
    word = text.strip()
    if config is None:
        if not word:
            raise Refused("defer.needs_reason")
        return word, word
    reasons = list(config.reasons.items())
    if word.isdigit() and 1 <= int(word) <= len(reasons):
        return reasons[int(word) - 1]
    if word.lower() in config.reasons:
        return word.lower(), config.reasons[word.lower()]
    listed = "; ".join(f"{n}. {key} — {label}" for n, (key, label) in enumerate(reasons, 1))
    raise Refused("defer.unknown_reason", reason=word[:40], reasons=listed)


def _day(day: date, today: date) -> Worded:
    return Worded(day.isoformat(), lambda lang: fmt.day(lang, day, now=today))


def review_instant(desk: Desk, day: date) -> datetime:
    config = desk.settings.deferral
    at = time.fromisoformat(config.review_at) if config is not None else time(9, 0)
    return datetime.combine(day, at, tzinfo=ZoneInfo(desk.settings.desk.timezone))


async def defer(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person, reason: str, day: date,
                note: str | None) -> tuple[str, datetime]:
    """Defers the ticket; returns the reason's label and the review instant."""
    key, label = reason_of(desk, reason)
    zone = ZoneInfo(desk.settings.desk.timezone)
    today = desk.clock.now().astimezone(zone).date()
    if day <= today:
        raise Refused("defer.date_past", date=_day(day, today), today=_day(today, today))
    if day > today + PLANNING_HORIZON:
        raise Refused("defer.date_far", date=_day(day, today), latest=_day(today + PLANNING_HORIZON, today))
    check(State(ticket.state), State.DEFERRED, has_assignee=ticket.assignee_id is not None)
    review = review_instant(desk, day)
    ticket.data = {**(ticket.data or {}), "deferral": {"reason": key, "label": label, "review": day.isoformat(),
                                                       "note": note or ""}}
    await service.change_state(session, desk, ticket, State.DEFERRED, actor, reason=f"{key}: {note or label}",
                               tell=False)
    session.add(Timer(ticket_id=ticket.id, kind=REVIEW_TIMER, due_at=review, data={"review": day.isoformat()}))
    service.tell_requester(session, desk, ticket, "defer.requester", reason=label, date=_day(day, today),
                           note=note or "—")
    # telling the requester why it waits is the agent's answer (first response)
    service.log(session, ticket, "reply", desk.clock.now(), actor, new="deferral", body=f"{label}: {note or ''}",
                public=True)
    return label, review


async def review_due(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """The review date of a deferred ticket: remind whoever has it."""
    ticket = await session.get(Ticket, timer.ticket_id)
    if ticket is None or ticket.state != State.DEFERRED.value:
        return
    deferral = (ticket.data or {}).get("deferral") or {}
    if deferral.get("review") != (timer.data or {}).get("review"):
        return  # deferred again since, with another date
    values = dict(key=ticket.key, reason=deferral.get("label", "?"), title=ticket.title)
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    if assignee is None or not await tell(session, desk, assignee.key, "defer.review_due", kind=MessageKind.REMINDER,
                                          ticket=ticket.key, **values):
        service.notify_duty(session, desk, "defer.review_due", ticket, kind=MessageKind.REMINDER,
                            reason=values["reason"], title=ticket.title)


async def merge(session: AsyncSession, desk: Desk, keep: Ticket, duplicate: Ticket, actor: Person) -> None:
    """``duplicate`` becomes ``merged`` into ``keep``."""
    if keep.id == duplicate.id:
        raise Refused("merge.same", key=keep.key)
    into = (keep.data or {}).get("merged_into")
    if keep.state == State.MERGED.value:
        raise Refused("merge.target_merged", key=keep.key, into=into or "?")
    if duplicate.state == State.MERGED.value:
        raise Refused("merge.already", key=duplicate.key, into=(duplicate.data or {}).get("merged_into") or "?")
    if keep.state == State.CLOSED.value:
        raise Refused("merge.target_closed", key=keep.key)
    check(State(duplicate.state), State.MERGED, has_assignee=duplicate.assignee_id is not None)
    duplicate.data = {**(duplicate.data or {}), "merged_into": keep.key}
    await service.change_state(session, desk, duplicate, State.MERGED, actor, reason=f"into {keep.key}", tell=False)
    service.log(session, duplicate, "merged", desk.clock.now(), actor, new=keep.key)
    data = dict(keep.data or {})
    data["merged"] = [*(data.get("merged") or []), duplicate.key]
    if duplicate.requester_id != keep.requester_id:
        data["watchers"] = sorted({*(data.get("watchers") or []), duplicate.requester_id})
    keep.data = data
    service.log(session, keep, "merged_in", desk.clock.now(), actor, new=duplicate.key)
    service.tell_requester(session, desk, duplicate, "merge.duplicate_requester", into=keep.key)
    service.tell_requester(session, desk, keep, "merge.keep_requester", duplicate=duplicate.key)
    solution = (keep.data or {}).get("solution")
    if solution and keep.state in (State.RESOLVED.value, State.FEEDBACK.value):
        # solved already: the duplicate's requester would otherwise never hear the solution
        service.tell_requester(session, desk, duplicate, "closing.solution_of_merged", kind=MessageKind.SOLUTION,
                               into=keep.key, text=solution.get("text", ""))
