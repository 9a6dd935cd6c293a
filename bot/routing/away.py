"""Re-routing when an assignee goes away (``/duty away``, ``/duty sick``): their open tickets that routing
gave them move on, as a new ticket for the same topic would.

- An absence that covers today moves the tickets at once (in the unit of work that writes it); one that
  starts later leaves a ``routing:absence`` timer at 00:00 of its first day (desk zone: the day from
  which :func:`bot.routing.pick` counts the person as away), so a restart does not lose it.
- Which tickets: open ones whose assignee is still the one routing chose (``ticket.data["routed"]``).
  A ticket someone assigned by hand was a person's decision and stays; the duty channel hears of those.
- Where to: the first of the topic's people (``[[routing]] assignees``; for a deletion the
  ``[deletion] accounting``) who is not away, else the substitute the absent person named
  (``/duty away FROM TO @SUBSTITUTE``). The new assignee is told by DM; the requester hears nothing,
  since the state does not change and who stands in is the desk's internal matter.
- Nobody available: the ticket goes back to the team (unassigned, so ``/queue`` lists it; one in
  progress returns to triage, and its requester is told of that state change as of any other), and the
  duty channel and the coordinators (``[duty] coordinator``, people with the coordinator role) are told.
- When the person is back nothing moves back: the new assignee has the customer's conversation by
  then (as Zammad's and Freshdesk's out-of-office reassignment keep the new owner); they are told so,
  and how to hand a ticket back by agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import person_by_key
from bot.core.desk import Desk
from bot.duty.notify import day_text, name_of, post_duty, tell
from bot.routing import ROUTED, pick, today
from bot.tickets import service
from bot.tickets.states import OPEN_STATES, State
from storage.models import DutyAbsence, Ticket, Timer

ABSENCE_TIMER = "routing:absence"


@dataclass(frozen=True)
class Moved:
    ticket: str
    to: str | None  # the new assignee's key; None: nobody available, back to the team


def candidates(desk: Desk, topic: str | None, absent: str) -> list[str]:
    """The people of a routed topic in config order (the config as it is now, not as it was)."""
    settings = desk.settings
    if settings.deletion is not None and topic == settings.deletion.topic:
        return list(settings.deletion.accounting)
    rule = next((rule for rule in settings.routing if rule.topic == topic), None)
    # a topic whose rule is gone: only the substitute the absent person named can take it
    return list(rule.assignees) if rule is not None and rule.assignees else [absent]


def coordinators(desk: Desk, absent: str) -> list[str]:
    duty = desk.settings.duty
    keys = [duty.coordinator] if duty is not None and duty.coordinator else []
    keys += [key for key, person in desk.settings.people.items() if "coordinator" in person.roles]
    return [key for key in dict.fromkeys(keys) if key != absent]


def starts_at(desk: Desk, absence: DutyAbsence) -> datetime:
    return datetime.combine(absence.first_day, time(0), tzinfo=ZoneInfo(desk.settings.desk.timezone))


async def absence_recorded(session: AsyncSession, desk: Desk, absence: DutyAbsence) -> None:
    """Moves the tickets now if the absence covers today, else sets the timer for its first day."""
    day = today(desk)
    if absence.cancelled or absence.last_day < day:
        return
    if absence.first_day <= day:
        await hand_over(session, desk, absence)
        return
    pending = (await session.scalars(select(Timer).where(
        Timer.kind == ABSENCE_TIMER, Timer.fired_at.is_(None), Timer.cancelled.is_(False)))).all()
    if not any((timer.data or {}).get("absence") == absence.id for timer in pending):
        session.add(Timer(kind=ABSENCE_TIMER, due_at=starts_at(desk, absence), data={"absence": absence.id}))


async def absence_starts(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """The ``routing:absence`` timer: the absence begins today."""
    absence = await session.get(DutyAbsence, (timer.data or {}).get("absence"))
    # fired late (the bot was down past the whole absence) or called off: nothing to move
    if absence is None or absence.cancelled or not absence.first_day <= today(desk) <= absence.last_day:
        return
    await hand_over(session, desk, absence)


async def hand_over(session: AsyncSession, desk: Desk, absence: DutyAbsence) -> list[Moved]:
    """Moves the absent person's routed open tickets (see the module docstring); returns what moved."""
    key = absence.person
    person = await person_by_key(session, key)
    if person is None:
        return []
    # their tickets, and the unassigned ones (few: the queue's "unassigned" list) that may have been
    # given back to the team earlier in this absence
    tickets = (await session.scalars(select(Ticket).where(
        or_(Ticket.assignee_id == person.id, Ticket.assignee_id.is_(None)),
        Ticket.state.in_([s.value for s in OPEN_STATES])).order_by(Ticket.id))).all()
    moved: list[Moved] = []
    by_hand: list[str] = []
    for ticket in tickets:
        routed = (ticket.data or {}).get(ROUTED) or {}
        if ticket.assignee_id is None:
            # nobody could take it then; a substitute named since (the absence noted again) takes it now
            if routed.get("released_from") == key:
                topic, chosen = await _substitute(session, desk, ticket, routed, key)
                if chosen is not None and await _move(session, desk, ticket, absence, chosen, topic, old=None):
                    moved.append(Moved(ticket.key, chosen))
            continue
        if routed.get("assignee") != key:
            by_hand.append(ticket.key)
            continue
        topic, chosen = await _substitute(session, desk, ticket, routed, key)
        if chosen is not None and await _move(session, desk, ticket, absence, chosen, topic, old=key):
            moved.append(Moved(ticket.key, chosen))
        else:
            await _release(session, desk, ticket, absence, topic)
            moved.append(Moved(ticket.key, None))
    await _report(session, desk, absence, moved, by_hand)
    return moved


async def _substitute(session: AsyncSession, desk: Desk, ticket: Ticket, routed: dict[str, str | None],
                      absent: str) -> tuple[str | None, str | None]:
    """(topic, who takes it now or None) for a ticket routing gave ``absent``."""
    topic = routed.get("topic") or ticket.topic
    chosen, _skipped = await pick(session, desk, candidates(desk, topic, absent))
    return topic, chosen if chosen != absent else None


async def _move(session: AsyncSession, desk: Desk, ticket: Ticket, absence: DutyAbsence, to: str,
                topic: str | None, *, old: str | None) -> bool:
    """``old``: who had it, for the history (the absent person, or None for a ticket given back earlier)."""
    person = await person_by_key(session, to)
    if person is None:
        return False
    now = desk.clock.now()
    ticket.assignee_id = person.id
    data = {**(ticket.data or {}), ROUTED: {"topic": topic, "assignee": to}}
    if (data.get("deletion") or {}).get("accounting") == absence.person:
        data["deletion"] = {**data["deletion"], "accounting": to}  # the deletion order is with them now
    ticket.data = data
    service.log(session, ticket, "assign", now, None, old=old, new=to)
    service.log(session, ticket, "route", now, None, new=topic,
                body=f"substitute:{absence.person}:{absence.last_day.isoformat()}")
    await tell(session, desk, to, "routing.moved_to_you", key=ticket.key, priority=ticket.priority,
               topic=topic or "—", title=ticket.title, who=name_of(desk, absence.person),
               last=lambda lang: day_text(lang, absence.last_day), back=absence.person, ticket=ticket.key)
    return True


async def _release(session: AsyncSession, desk: Desk, ticket: Ticket, absence: DutyAbsence,
                   topic: str | None) -> None:
    """Nobody can take it: unassigned, for the team; work in progress waits in triage again."""
    now = desk.clock.now()
    ticket.assignee_id = None
    ticket.data = {**(ticket.data or {}), ROUTED: {"topic": topic, "assignee": None, "released_from": absence.person}}
    service.log(session, ticket, "assign", now, None, old=absence.person, new=None)
    service.log(session, ticket, "route", now, None, new=topic,
                body=f"away:{absence.person}:{absence.last_day.isoformat()}")
    if ticket.state == State.IN_PROGRESS.value:
        # in progress needs someone working on it; the requester hears of the change as of any other
        await service.change_state(session, desk, ticket, State.TRIAGE, None, reason="assignee away")


async def _report(session: AsyncSession, desk: Desk, absence: DutyAbsence, moved: list[Moved],
                  by_hand: list[str]) -> None:
    """One message to the duty channel per outcome; the coordinators hear of tickets nobody could take."""
    who = name_of(desk, absence.person)

    def last(lang: str) -> str:
        return day_text(lang, absence.last_day)

    to_people = ", ".join(f"{m.ticket} → {name_of(desk, m.to)}" for m in moved if m.to is not None)
    nobody = ", ".join(m.ticket for m in moved if m.to is None)
    if to_people:
        post_duty(desk, session, "routing.away_moved", who=who, last=last, moves=to_people)
    if by_hand:
        post_duty(desk, session, "routing.away_by_hand", who=who, last=last, keys=", ".join(by_hand))
    if nobody:
        post_duty(desk, session, "routing.away_nobody", who=who, last=last, keys=nobody)
        for key in coordinators(desk, absence.person):
            await tell(session, desk, key, "routing.away_nobody", who=who, last=last, keys=nobody)
