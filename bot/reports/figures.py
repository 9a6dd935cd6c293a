"""The desk's figures over a range of dates, from the ticket event log (issue #19, DESIGN.md ``dutydesk report``).

A report covers the dates ``first`` to ``last`` inclusive on the wall clock of the desk calendar's zone, i.e. the
instants ``[start, end)``. Every figure is what the log said at ``end`` (or now, for a range still running):
events after it are left out, so a report of last week reads the same next month.

- opened: tickets created in the range, by priority and topic (their priority at the end of the range);
- closed: tickets that went to ``closed`` in the range (each counted once);
- open at the end: tickets in an open state (bot.tickets.states.OPEN_STATES) at ``end``, the oldest of them, and
  the load per assignee (open at the end, closed in the range);
- SLA: each clock of the tickets opened in the range (bot.sla.tickets.derive on the log as of ``end``), per
  target: met, breached, running (still running, paused or held), stopped (the ticket was closed or merged before
  the clock met its target or was due);
- first response: business minutes on the desk calendar from the report to the first public answer of a human
  agent, median and p90 (nearest rank) over the tickets opened in the range that got one by ``end``;
- satisfaction: questions asked, satisfied, not fixed and closed without an answer, in the range.

How it stays fast at a million tickets: tickets by ``created_at`` and events by ``at`` are indexed (migration 0007);
the open tickets at ``end`` are counted by SQL among those open now, and only tickets with events after ``end``
(few, for a recent range) have their state at ``end`` rebuilt from their log.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.business import BusinessCalendar
from bot.calendar.hours import parse_weekly_hours
from bot.core.desk import Desk
from bot.sla.policy import SlaPolicy
from bot.sla.service import vendor_policy_of
from bot.sla.tickets import ENDED, TicketClock, derive, first_answer
from bot.tickets.states import OPEN_STATES
from storage.models import Person, Ticket, TicketEvent, table_of, ticket_is_open

OPEN = frozenset(s.value for s in OPEN_STATES)
SOLVED = frozenset({"resolved", "feedback", "closed"})
PRIORITIES = (1, 2, 3)
OLDEST = 5
CHUNK = 2000  # ids per IN list: far below SQLite's and PostgreSQL's limits on bound parameters
SLA_STATES = ("met", "breached", "running", "stopped")
SATISFACTION = ("asked", "satisfied", "not_fixed", "no_answer")


class RangeError(ValueError):
    """A range of dates that cannot be reported (the message says what to do)."""


@dataclass(frozen=True)
class TicketLine:
    """One ticket opened in the range, as of its end (a CSV row)."""

    key: str
    opened: datetime
    priority: int
    topic: str | None
    state: str
    assignee: str | None  # the people key
    first_response: datetime | None
    first_response_minutes: float | None
    resolved: datetime | None
    sla: dict[str, tuple[datetime | None, str]]  # target → (due, met | breached | running | stopped)
    satisfaction: str | None  # asked | satisfied | not_fixed | no_answer


@dataclass(frozen=True)
class OpenLine:
    key: str
    opened: datetime
    priority: int
    state: str
    assignee: str | None  # the display name


@dataclass(frozen=True)
class Day:
    day: date
    opened: int
    closed: int
    backlog: int  # open at the end of the day


@dataclass(frozen=True)
class Load:
    assignee: str | None  # the display name; None: nobody
    open: int
    closed: int


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    zone: ZoneInfo
    start: datetime
    end: datetime
    as_of: datetime
    opened: int
    closed: int
    open_at_end: int
    by_priority: dict[int, int]
    by_topic: dict[str, int]
    sla: dict[str, dict[str, int]]
    first_response_median: float | None
    first_response_p90: float | None
    satisfaction: dict[str, int]
    oldest_open: list[OpenLine]
    load: list[Load]
    days: list[Day]
    tickets: list[TicketLine] = field(repr=False)

    @property
    def empty(self) -> bool:
        """Nothing happened and nothing was open: the report says so."""
        return not (self.opened or self.closed or self.open_at_end or any(self.satisfaction.values()))

    def as_json(self) -> dict[str, object]:
        """The object of DESIGN.md (``dutydesk report --format json``), extended by topic, oldest open and load."""
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "opened": self.opened,
            "closed": self.closed,
            "open_at_end": self.open_at_end,
            "by_priority": {str(p): self.by_priority.get(p, 0) for p in PRIORITIES},
            "by_topic": dict(self.by_topic),
            "sla": {name: dict(counts) for name, counts in self.sla.items()},
            "first_response_minutes": {"median": _round(self.first_response_median),
                                       "p90": _round(self.first_response_p90)},
            "satisfaction": dict(self.satisfaction),
            "oldest_open": [{"ticket": o.key, "opened": o.opened.astimezone(self.zone).isoformat(),
                             "priority": o.priority, "state": o.state, "assignee": o.assignee}
                            for o in self.oldest_open],
            "load": [{"assignee": a.assignee, "open": a.open, "closed": a.closed} for a in self.load],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --------------------------------------------------------------------------- the range


def report_calendar(desk: Desk) -> BusinessCalendar:
    """The desk calendar: ``[desk] calendar``, else the calendar of the desk's SLA policy, else round the clock
    in ``[desk] timezone`` (a desk without a calendar counts every minute)."""
    settings = desk.settings.desk
    if settings.calendar and settings.calendar in desk.calendars:
        return desk.calendars[settings.calendar]
    policy = desk.policies.get(settings.sla) if settings.sla else None
    if policy is not None:
        return policy.calendar
    return BusinessCalendar("round-the-clock", ZoneInfo(settings.timezone), parse_weekly_hours(["mon-sun 00:00-24:00"]))


def bounds(zone: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC: midnight of ``first`` to midnight after ``last`` on the zone's wall clock."""
    if last < first:
        raise RangeError(f"the range ends ({last.isoformat()}) before it starts ({first.isoformat()})")
    if (last - first).days > 366:
        raise RangeError("a report covers at most 366 days; split a longer range")
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


# --------------------------------------------------------------------------- a ticket as of an instant


@dataclass
class _Log:
    """A ticket and its events before the report's ``as_of``, with each actor's staff flag."""

    ticket: Ticket
    events: list[TicketEvent] = field(default_factory=list)
    staff: set[int] = field(default_factory=set)


def _state_at(log: _Log) -> str:
    state = "new"
    for event in log.events:
        if event.kind in ("created", "state") and event.new:
            state = event.new
    return state


def _assignee_at(log: _Log, people_keys: dict[int, str], later: Sequence[TicketEvent]) -> str | None:
    """The assignee's key at the end: the last assignment before it; without one, the one before the first
    assignment after it; without any, the ticket's current assignee."""
    for event in reversed(log.events):
        if event.kind == "assign":
            return event.new
    first_later = next((e for e in later if e.kind == "assign"), None)
    if first_later is not None:
        return first_later.old
    return people_keys.get(log.ticket.assignee_id) if log.ticket.assignee_id else None


def _state_before(ticket: Ticket, later: Sequence[TicketEvent]) -> str:
    """A ticket's state at the end from its row now and the events after the end: the first state change after it
    left that state (``old``); without one it is the state it has now."""
    first_later = next((e for e in later if e.kind == "state" and e.old), None)
    return first_later.old if first_later is not None and first_later.old else ticket.state


def _priority_before(ticket: Ticket, later: Sequence[TicketEvent]) -> int:
    first_later = next((e for e in later if e.kind == "priority"), None)
    if first_later is not None and first_later.old and first_later.old.isdigit():
        return int(first_later.old)
    return ticket.priority


def _assignee_now_or_before(ticket: Ticket, people_keys: dict[int, str], later: Sequence[TicketEvent]) -> str | None:
    first_later = next((e for e in later if e.kind == "assign"), None)
    if first_later is not None:
        return first_later.old
    return people_keys.get(ticket.assignee_id) if ticket.assignee_id else None


def _priority_at(log: _Log, later: Sequence[TicketEvent]) -> int:
    for event in reversed(log.events):
        if event.kind == "priority" and event.new and event.new.isdigit():
            return int(event.new)
    first_later = next((e for e in later if e.kind == "priority"), None)
    if first_later is not None and first_later.old and first_later.old.isdigit():
        return int(first_later.old)
    return log.ticket.priority


@dataclass(frozen=True, slots=True)
class _TicketAt:
    """The ticket as it stood at the end (what derive() reads of it): a plain value, not a mapped Ticket, whose
    construction costs SQLAlchemy's instrumentation (a third of a second for a week at a million tickets)."""

    id: int
    key: str
    requester_id: int
    created_at: datetime
    priority: int
    state: str
    data: dict[str, Any]
    topic: str | None


def _as_of(log: _Log, state: str, priority: int) -> Ticket:
    t = log.ticket
    return cast(Ticket, _TicketAt(t.id, t.key, t.requester_id, t.created_at, priority, state, dict(t.data or {}),
                                  t.topic))


def _clock_state(clock: TicketClock, due: datetime | None, log: _Log, state: str, as_of: datetime) -> str:
    """The verdict of a clock whose due instant is ``due`` (``clock.due``, computed once by the caller: it walks the
    business calendar each time it is asked)."""
    if clock.stopped_at is not None:
        return "breached" if due is not None and clock.stopped_at > due else "met"
    if state in ENDED:
        ended = max((e.at for e in log.events if e.kind == "state" and e.new in ENDED), default=as_of)
        return "breached" if due is not None and due <= ended else "stopped"
    if due is not None and due <= as_of:
        return "breached"
    return "running"


_ANSWERS = {"satisfied": "satisfied", "notfixed": "not_fixed"}


def _satisfaction_of(event: TicketEvent) -> str | None:
    kind = event.kind
    if kind == "state":
        new = event.new
        if new == "feedback":
            return "asked"
        if new == "closed" and event.body == "no answer":
            return "no_answer"
        return None
    if kind == "feedback":
        return _ANSWERS.get(event.new or "")
    return None


def _resolved_at(log: _Log, state: str) -> datetime | None:
    if state not in SOLVED:
        return None
    since: datetime | None = None
    for event in log.events:
        if event.kind == "state":
            if event.new in SOLVED and event.old not in SOLVED:
                since = event.at
            elif event.new not in SOLVED:
                since = None
    return since


def _nearest_rank(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _sla_key(clock: TicketClock, desk_policy: SlaPolicy | None) -> str:
    # the desk policy's targets by name; the vendor policy's P1 … are told apart by its name
    name = clock.target.name
    return name if clock.policy is desk_policy else f"{clock.policy.name}:{name}"


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = sorted(ids)
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


# --------------------------------------------------------------------------- the report


async def _logs(session: AsyncSession, tickets: Iterable[Ticket], before: datetime,
                staff_ids: set[int]) -> dict[int, _Log]:
    """Each ticket's events before ``before``, as rows (read-only, with the events' attributes): ORM objects cost
    their identity map and instrumentation, most of a week's report at a million tickets. ``staff_ids``: the
    people who are staff (read once, not joined to every event)."""
    logs = {t.id: _Log(t) for t in tickets}
    events = table_of(TicketEvent)
    for ids in _chunks(logs):
        rows = (await session.execute(
            select(*events.c).where(events.c.ticket_id.in_(ids), events.c.at < before).order_by(events.c.id)
        )).all()
        for row in rows:
            log = logs[row.ticket_id]
            log.events.append(cast(TicketEvent, row))
            actor = row.actor_id
            if actor is not None and actor in staff_ids:
                log.staff.add(actor)
    return logs


def _ticket_columns(*, data: bool) -> list[Any]:
    """What the report reads of a ticket (not its title or description: no report shows them); ``data`` (JSON,
    decoded per row) only where the SLA clocks are derived."""
    c = table_of(Ticket).c
    columns = [c.id, c.key, c.requester_id, c.assignee_id, c.created_at, c.priority, c.state, c.topic]
    return [*columns, c.data] if data else columns


async def _tickets(session: AsyncSession, ids: Iterable[int]) -> list[Ticket]:
    """The tickets of ``ids`` as rows (read-only, with the tickets' attributes), like :func:`_logs`'s events."""
    tickets = table_of(Ticket)
    out: list[Ticket] = []
    for chunk in _chunks(ids):
        out += [cast(Ticket, row) for row in (await session.execute(
            select(*_ticket_columns(data=False)).where(tickets.c.id.in_(chunk)))).all()]
    return out


async def build_report(session: AsyncSession, desk: Desk, first: date, last: date) -> Report:
    """The figures for the dates ``first`` to ``last`` (inclusive) on the desk calendar."""
    calendar = report_calendar(desk)
    zone = calendar.zone
    start, end = bounds(zone, first, last)
    now = desk.clock.now()
    as_of = min(end, now)
    desk_policy = desk.policies.get(desk.settings.desk.sla) if desk.settings.desk.sla else None
    vendor_policy = vendor_policy_of(desk)
    people = {pid: (key, name) for pid, key, name in
              (await session.execute(select(Person.id, Person.key, Person.display_name)
                                     .where(Person.is_staff.is_(True)))).all()}
    keys = {pid: key for pid, (key, _) in people.items()}
    names_by_key = {key: name for key, name in people.values()}

    # events in the range that count on their own: closes, satisfaction, and every opening and closing for the
    # backlog line of the chart
    # (on the table's columns, not the mapped class's: the same rows without the ORM's loading per row)
    event_table = table_of(TicketEvent)
    range_events = (await session.execute(
        select(event_table.c.ticket_id, event_table.c.at, event_table.c.kind, event_table.c.old, event_table.c.new,
               event_table.c.body)
        .where(event_table.c.at >= start, event_table.c.at < as_of,
               event_table.c.kind.in_(("created", "state", "feedback")))
        .order_by(event_table.c.at, event_table.c.id)
    )).all()
    # what happened after the end to tickets opened before it: their state, assignee or priority at the end may
    # differ from now, and the first change after the end says what it was (its ``old``). One range of
    # ix_ticket_events_at, less the tickets opened after the end (one range of ix_tickets_created_at): reads that
    # grow with what happened since the end, not with the tables. (A join of the two let SQLite walk every ticket
    # opened before the end and probe its events, and a DISTINCT or an ORDER BY id its whole index of events by
    # ticket: seconds at a million tickets.)
    later: dict[int, list[TicketEvent]] = {}
    if as_of < now:
        events = table_of(TicketEvent)
        found = (await session.execute(
            select(events.c.id, events.c.ticket_id, events.c.at, events.c.kind, events.c.old, events.c.new)
            .where(events.c.at >= as_of))).all()
        for row in sorted(found, key=lambda r: r.id):
            later.setdefault(row.ticket_id, []).append(cast(TicketEvent, row))
        if later:
            for newer in (await session.scalars(select(Ticket.id).where(Ticket.created_at >= as_of))).all():
                later.pop(newer, None)
    changed = set(later)

    tickets = table_of(Ticket)
    opened_tickets = [cast(Ticket, row) for row in (await session.execute(
        select(*_ticket_columns(data=True)).where(tickets.c.created_at >= start, tickets.c.created_at < as_of)
        .order_by(tickets.c.created_at, tickets.c.id)
    )).all()]
    closed_ids = {row.ticket_id for row in range_events if row.kind == "state" and row.new == "closed"}
    known = {t.id: t for t in opened_tickets}
    known.update({t.id: t for t in await _tickets(session, (closed_ids | changed) - set(known))})
    # the whole log only of the tickets opened in the range (their SLA clocks and first response); of the others
    # the row as it is now and what changed after the end say enough
    logs = await _logs(session, opened_tickets, as_of, set(people))

    def assignee_key(ticket_id: int) -> str | None:
        log = logs.get(ticket_id)
        if log is not None:
            return _assignee_at(log, keys, later.get(ticket_id, ()))
        return _assignee_now_or_before(known[ticket_id], keys, later.get(ticket_id, ()))

    # ---------------------------------------------------------------- the tickets opened in the range
    lines: list[TicketLine] = []
    by_priority: Counter[int] = Counter()
    by_topic: Counter[str] = Counter()
    sla: dict[str, Counter[str]] = {}
    minutes: list[float] = []
    for ticket in opened_tickets:
        log = logs[ticket.id]
        state = _state_at(log)
        priority = _priority_at(log, later.get(ticket.id, ()))
        by_priority[priority] += 1
        by_topic[ticket.topic or "-"] += 1
        first_at = first_answer(log.events, log.staff)
        first_minutes = None
        if first_at is not None:
            first_minutes = calendar.business_time_between(ticket.created_at, first_at).total_seconds() / 60
            minutes.append(first_minutes)
        clocks = derive(_as_of(log, state, priority), log.events, log.staff, desk_policy, vendor_policy)
        per_target: dict[str, tuple[datetime | None, str]] = {}
        for clock in clocks:
            name = _sla_key(clock, desk_policy)
            due = clock.due
            verdict = _clock_state(clock, due, log, state, as_of)
            per_target[name] = (due, verdict)
            sla.setdefault(name, Counter())[verdict] += 1
        answer = None
        for event in log.events:
            answer = _satisfaction_of(event) or answer
        lines.append(TicketLine(ticket.key, ticket.created_at, priority, ticket.topic, state,
                                assignee_key(ticket.id), first_at, first_minutes, _resolved_at(log, state),
                                per_target, answer))

    # ---------------------------------------------------------------- satisfaction and closes in the range
    satisfaction = Counter({name: 0 for name in SATISFACTION})
    for row in range_events:
        answer = _satisfaction_of(row)  # type: ignore[arg-type]
        if answer is not None:
            satisfaction[answer] += 1

    # ---------------------------------------------------------------- open at the end
    unchanged = [Ticket.created_at < as_of, ticket_is_open()]
    if changed:
        # the open ones that changed after the end are counted below from their log
        for ids in _chunks(changed):
            unchanged.append(Ticket.id.not_in(ids))
    open_rows = (await session.execute(
        select(Ticket.assignee_id, func.count()).where(*unchanged).group_by(Ticket.assignee_id)
    )).all()
    open_by_assignee: Counter[str | None] = Counter()
    for assignee_id, count in open_rows:
        open_by_assignee[keys.get(assignee_id) if assignee_id else None] += count
    open_lines: list[OpenLine] = [
        OpenLine(t.key, t.created_at, t.priority, t.state,
                 names_by_key.get(keys.get(t.assignee_id, "")) if t.assignee_id is not None else None)
        for t in (await session.scalars(
            select(Ticket).where(*unchanged).order_by(Ticket.created_at, Ticket.id).limit(OLDEST)
        )).all()
    ]
    for ticket_id in changed:
        if ticket_id not in known:
            continue  # erased meanwhile (its events with it)
        own = logs.get(ticket_id)
        ticket = known[ticket_id]
        after = later.get(ticket_id, ())
        state = _state_at(own) if own is not None else _state_before(ticket, after)
        if state in OPEN:
            key = assignee_key(ticket_id)
            open_by_assignee[key] += 1
            priority = _priority_at(own, after) if own is not None else _priority_before(ticket, after)
            open_lines.append(OpenLine(ticket.key, ticket.created_at, priority, state, names_by_key.get(key or "")))
    open_lines = sorted(open_lines, key=lambda o: (o.opened, o.key))[:OLDEST]
    open_at_end = sum(open_by_assignee.values())

    closed_by_assignee: Counter[str | None] = Counter(assignee_key(i) for i in closed_ids)
    load = [Load(names_by_key.get(key, key) if key else None, open_by_assignee.get(key, 0),
                 closed_by_assignee.get(key, 0))
            for key in sorted(set(open_by_assignee) | set(closed_by_assignee), key=lambda k: (k is None, k or ""))]

    return Report(
        first=first, last=last, zone=zone, start=start, end=end, as_of=as_of,
        opened=len(opened_tickets), closed=len(closed_ids), open_at_end=open_at_end,
        by_priority={p: by_priority.get(p, 0) for p in PRIORITIES}, by_topic=dict(sorted(by_topic.items())),
        sla={name: {s: counts.get(s, 0) for s in SLA_STATES} for name, counts in sorted(sla.items())},
        first_response_median=statistics.median(minutes) if minutes else None,
        first_response_p90=_nearest_rank(minutes, 0.9) if minutes else None,
        satisfaction=dict(satisfaction),
        oldest_open=open_lines,
        load=load,
        days=_days(zone, first, last, as_of, range_events, open_at_end),
        tickets=lines,
    )


def _days(zone: ZoneInfo, first: date, last: date, as_of: datetime, events: Sequence[object],
          open_at_end: int) -> list[Day]:
    """Opened and closed per day, and the backlog at each day's end, walked back from the open at the end."""
    opened: Counter[date] = Counter()
    closed: Counter[date] = Counter()
    delta: Counter[date] = Counter()  # change of the open count on each day
    for row in events:
        day = row.at.astimezone(zone).date()  # type: ignore[attr-defined]
        kind, old, new = row.kind, row.old, row.new  # type: ignore[attr-defined]
        if kind == "created":
            opened[day] += 1
            delta[day] += 1
        elif kind == "state":
            if new == "closed":
                closed[day] += 1
            if old in OPEN and new not in OPEN:
                delta[day] -= 1
            elif old not in OPEN and new in OPEN:
                delta[day] += 1
    days = []
    backlog = open_at_end
    last_day = min(last, as_of.astimezone(zone).date())
    day = last_day
    out: list[Day] = []
    while day >= first:
        out.append(Day(day, opened[day], closed[day], backlog))
        backlog -= delta[day]
        day -= timedelta(days=1)
    days = list(reversed(out))
    return days
