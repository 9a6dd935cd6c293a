"""Rota changes from chat: swaps, vacations, sick reports and the weekly plan.

Each function works in the caller's unit of work (no commit here): it writes its rows and the
outbox rows that tell the people concerned. A request that cannot be done raises
:class:`~bot.core.errors.Refused` with a catalogue key, before anything is written.

Swaps follow the handbook: find a replacement yourself, tell the coordinator. A request goes to one
colleague (or, without one, to the duty channels for anyone); whoever accepts gets the shift, and the
coordinator is told, not asked. If the colleague already holds another role that date, the two
exchange roles, so both roles stay covered by two people. A request whose shift changed meanwhile
(another swap, a plan, a rota edit) goes ``stale`` instead of being applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.walltime import PLANNING_HORIZON
from bot.core.desk import Desk
from bot.core.errors import Refused, Worded
from bot.core.types import Button, MessageKind
from bot.duty.hooks import absence_recorded
from bot.duty.ledger import served_counts
from bot.duty.notify import day_text, hours_text, name_of, post_duty, role_name, tell
from bot.duty.resolve import absence_of
from bot.duty.rotation import rotation_holder
from bot.duty.store import DutyState, load_state, today, week_of, window_of
from storage.models import DutyAbsence, DutyOverride, DutyPlan, DutySwap, Timer

# vacation without a substitute: reminders to the person, then the coordinator, at 09:00 (duty zone)
# an absence longer than a year is noted in parts (its reminders and shifts are computed day by day)
MAX_ABSENCE_DAYS = 366
REMIND_PERSON_DAYS = (7, 3)
REMIND_COORDINATOR_DAYS = 2
REMIND_AT = time(9, 0)
# fair planning looks at this many past weeks of the ledger
FAIR_WEEKS = 8


def _role(role: str) -> Worded:
    return Worded(role, lambda lang: role_name(lang, role))


def _day(day: date, now: date | None = None) -> Worded:
    """A day worded for each reader; with the year when it lies far from ``now``."""
    return Worded(day.isoformat(), lambda lang: day_text(lang, day, now=now))


def _days(days: list[tuple[date, str]]) -> Worded:
    return Worded(", ".join(f"{d.isoformat()} {r}" for d, r in days),
                  lambda lang: ", ".join(f"{day_text(lang, d)} {role_name(lang, r)}" for d, r in days))


async def _state(session: AsyncSession, desk: Desk, first: date, last: date | None = None) -> DutyState:
    state = await load_state(session, desk, first, last)
    if state is None:
        raise Refused("duty.not_configured")
    return state


def _check_person(desk: Desk, key: str) -> str:
    key = key.removeprefix("@")
    if key not in desk.settings.people:
        raise Refused("duty.unknown_person", person=key, team=", ".join(sorted(desk.settings.people)))
    return key


def _day_over(state: DutyState, day: date, now: datetime) -> bool:
    windows = state.window.windows_on(day)
    return not windows or windows[-1][1] <= now


# --------------------------------------------------------------------------- swaps


def _request_buttons(desk: Desk, swap: DutySwap) -> tuple[Button, ...]:
    from bot.i18n import t

    lang = desk.language
    return (Button(action="duty-accept", label=t(lang, "duty.button_accept"), value=str(swap.id)),)


async def request_swap(session: AsyncSession, desk: Desk, requester: str, day: date, *, role: str | None = None,
                       colleague: str | None = None) -> DutySwap:
    """Asks ``colleague`` (or, without one, anyone in the duty channels) to take ``requester``'s shift."""
    state = await _state(session, desk, day)
    now = desk.clock.now()
    if not state.window.is_duty_day(day):
        raise Refused("duty.no_duty_day", day=_day(day))
    if day < today(desk, state.window) or _day_over(state, day, now):
        raise Refused("duty.past", day=_day(day))
    # the shifts the requester really has that day (also as a substitute or a fallback)
    held = [r for r in state.roles(day) if state.assignment(r, day).person == requester]
    if role is not None:
        if role not in state.roles(day):
            raise Refused("duty.unknown_role", role=role, roles=", ".join(state.roles(day)))
        if role not in held:
            raise Refused("duty.not_yours", role=_role(role), day=_day(day),
                              person=name_of(desk, state.assignment(role, day).person))
    elif not held:
        raise Refused("duty.no_shift", day=_day(day))
    role = role or held[0]
    if colleague is not None:
        colleague = _check_person(desk, colleague)
        if colleague == requester:
            raise Refused("duty.swap_self")
        if absence_of(state.facts, colleague, day) is not None:
            raise Refused("duty.colleague_away", person=name_of(desk, colleague), day=_day(day))
    existing = await session.scalar(select(DutySwap).where(
        DutySwap.state == "requested", DutySwap.requester == requester, DutySwap.day == day, DutySwap.role == role,
        DutySwap.kind == "swap"))
    if existing is not None and existing.colleague == colleague:
        raise Refused("duty.swap_exists", id=existing.id)
    swap = DutySwap(kind="swap", requester=requester, day=day, role=role, colleague=colleague, owner=requester,
                    state="requested", created_at=now)
    session.add(swap)
    await session.flush()
    hours = hours_text(state.window.windows_on(day), state.window.zone)
    values: dict[str, Any] = dict(id=swap.id, who=name_of(desk, requester), role=_role(role), day=_day(day),
                                  hours=hours)
    if colleague is not None:
        await tell(session, desk, colleague, "duty.swap_asked", kind=MessageKind.SWAP_REQUEST,
                   buttons=_request_buttons(desk, swap), **values)
    else:
        post_duty(desk, session, "duty.swap_asked_all", kind=MessageKind.SWAP_REQUEST,
                  buttons=_request_buttons(desk, swap), **values)
    return swap


@dataclass(frozen=True)
class Accepted:
    swap: DutySwap
    exchanged: str | None  # the actor's own role that the requester takes in exchange
    hours: str


async def _stale(session: AsyncSession, desk: Desk, swap: DutySwap, holder: str | None, now: datetime) -> None:
    swap.state, swap.decided_at = "stale", now
    await tell(session, desk, swap.requester, "duty.request_stale_requester", kind=MessageKind.NOTICE, id=swap.id,
               role=_role(swap.role), day=_day(swap.day), person=name_of(desk, holder))


async def accept(session: AsyncSession, desk: Desk, actor: str, swap_id: int) -> Accepted:
    """``actor`` takes the shift of request ``swap_id`` (a swap or a cover request)."""
    swap = await session.get(DutySwap, swap_id)
    if swap is None:
        raise Refused("duty.unknown_request", id=swap_id)
    if swap.state != "requested":
        raise Refused("duty.request_closed", id=swap.id, state=swap.state)
    if actor == swap.requester:
        raise Refused("duty.own_request", id=swap.id)
    if swap.colleague is not None and actor != swap.colleague:
        raise Refused("duty.not_for_you", id=swap.id, person=name_of(desk, swap.colleague))
    state = await _state(session, desk, swap.day)
    now = desk.clock.now()
    # a swap is about who really has the shift; a cover request about the sick person's planned shift
    if swap.kind == "cover":
        holder = state.planned(swap.role, swap.day)
    else:
        holder = state.assignment(swap.role, swap.day).person
    if _day_over(state, swap.day, now) or holder != swap.owner:
        await _stale(session, desk, swap, holder, now)
        raise Refused("duty.request_stale", id=swap.id, role=_role(swap.role), day=_day(swap.day),
                          person=name_of(desk, holder))
    if absence_of(state.facts, actor, swap.day) is not None:
        raise Refused("duty.you_are_away", day=_day(swap.day))
    exchanged = None
    if swap.kind == "swap":
        exchanged = next((r for r in state.roles(swap.day)
                          if r != swap.role and state.assignment(r, swap.day).person == actor), None)
    session.add(DutyOverride(day=swap.day, role=swap.role, person=actor, replaced=swap.owner, reason=swap.kind,
                             swap_id=swap.id, created_by=actor, created_at=now))
    if exchanged is not None:
        session.add(DutyOverride(day=swap.day, role=exchanged, person=swap.requester, replaced=actor,
                                 reason="swap", swap_id=swap.id, created_by=actor, created_at=now))
    swap.state, swap.decided_at, swap.decided_by = "accepted", now, actor
    await session.flush()
    hours = hours_text(state.window.windows_on(swap.day), state.window.zone)
    values: dict[str, Any] = dict(id=swap.id, who=name_of(desk, actor), requester=name_of(desk, swap.requester),
                                  role=_role(swap.role), day=_day(swap.day), hours=hours)
    if swap.kind == "cover":
        await tell(session, desk, swap.requester, "duty.cover_taken_requester", **values)
        post_duty(desk, session, "duty.cover_taken", **values)
    elif exchanged is not None:
        await tell(session, desk, swap.requester, "duty.swap_exchanged_requester", other=_role(exchanged), **values)
    else:
        await tell(session, desk, swap.requester, "duty.swap_accepted_requester", **values)
        if swap.colleague is None:
            post_duty(desk, session, "duty.swap_taken", **values)
    coordinator = desk.settings.duty.coordinator if desk.settings.duty else None
    if coordinator and coordinator not in (actor, swap.requester):
        key = "duty.cover_fyi" if swap.kind == "cover" else (
            "duty.swap_fyi_exchange" if exchanged else "duty.swap_fyi")
        await tell(session, desk, coordinator, key, other=_role(exchanged or swap.role), **values)
    return Accepted(swap, exchanged, hours)


async def decline(session: AsyncSession, desk: Desk, actor: str, swap_id: int) -> DutySwap:
    swap = await session.get(DutySwap, swap_id)
    if swap is None:
        raise Refused("duty.unknown_request", id=swap_id)
    if swap.state != "requested":
        raise Refused("duty.request_closed", id=swap.id, state=swap.state)
    if swap.colleague != actor:
        raise Refused("duty.decline_not_yours", id=swap.id)
    swap.state, swap.decided_at, swap.decided_by = "declined", desk.clock.now(), actor
    await tell(session, desk, swap.requester, "duty.swap_declined_requester", id=swap.id, who=name_of(desk, actor),
               role=_role(swap.role), day=_day(swap.day))
    return swap


# --------------------------------------------------------------------------- absences


def shifts_of(state: DutyState, person: str, first: date, last: date) -> list[tuple[date, str]]:
    """The (date, role) shifts ``person`` is planned for (override, plan or rotation) in the range."""
    found = []
    for day in state.window.duty_days(max(first, state.first), min(last, state.last)):
        found += [(day, role) for role in state.roles(day) if state.planned(role, day) == person]
    return found


def uncovered(state: DutyState, person: str, first: date, last: date) -> list[tuple[date, str]]:
    """``person``'s shifts in the range that nobody was arranged for (only a fallback, or nobody)."""
    return [(d, r) for d, r in shifts_of(state, person, first, last)
            if state.assignment(r, d).source in ("fallback", "none")]


@dataclass(frozen=True)
class Away:
    absence: DutyAbsence
    shifts: list[tuple[date, str]]
    # when the person is reminded of shifts still uncovered
    reminders: list[datetime] = field(default_factory=list)
    updated: bool = False
    # the coordinator, when one was told now (a substitute arranged) …
    coordinator_told: str | None = None
    # … or will be told at ``coordinator_at`` if shifts are still uncovered then
    coordinator_at: datetime | None = None


def _at_nine(state: DutyState, day: date) -> datetime:
    return datetime.combine(day, REMIND_AT, tzinfo=state.window.zone)


def coordinator_of(desk: Desk, person: str | None = None) -> str | None:
    """The desk's coordinator, unless that is ``person`` (nobody tells themselves)."""
    coordinator = desk.settings.duty.coordinator if desk.settings.duty else None
    return coordinator if coordinator != person else None


async def go_away(session: AsyncSession, desk: Desk, person: str, first: date, last: date,
                  substitute: str | None = None) -> Away:
    """Notes a vacation; with a substitute they stand in for all of it, without one reminders are set."""
    window = window_of(desk)
    if window is None:
        raise Refused("duty.not_configured")
    now_day = today(desk, window)
    if last < first:
        raise Refused("duty.away_order", first=_day(first, now_day), last=_day(last, now_day))
    if last < now_day:
        raise Refused("duty.away_past", last=_day(last, now_day))
    if (last - first).days >= MAX_ABSENCE_DAYS:
        raise Refused("duty.away_too_long", count=MAX_ABSENCE_DAYS)
    if first > now_day + PLANNING_HORIZON:
        raise Refused("duty.away_too_far", first=_day(first, now_day), latest=_day(now_day + PLANNING_HORIZON, now_day))
    if substitute is not None:
        substitute = _check_person(desk, substitute)
        if substitute == person:
            raise Refused("duty.substitute_self")
    state = await _state(session, desk, first, last)
    if substitute is not None and absence_of(state.facts, substitute, first) is not None:
        raise Refused("duty.colleague_away", person=name_of(desk, substitute), day=_day(first))
    now = desk.clock.now()
    absence = await session.scalar(select(DutyAbsence).where(
        DutyAbsence.person == person, DutyAbsence.kind == "vacation", DutyAbsence.cancelled.is_(False),
        DutyAbsence.first_day == first, DutyAbsence.last_day == last))
    updated = absence is not None
    if absence is None:
        absence = DutyAbsence(person=person, first_day=first, last_day=last, kind="vacation",
                              substitute=substitute, created_by=person, created_at=now)
        session.add(absence)
    elif substitute is not None:
        absence.substitute = substitute
    await session.flush()
    await absence_recorded(session, desk, absence)
    shifts = shifts_of(state, person, first, last)
    values: dict[str, Any] = dict(who=name_of(desk, person), first=_day(first), last=_day(last), shifts=_days(shifts),
                                  count=len(shifts))
    reminders: list[datetime] = []
    coordinator = coordinator_of(desk, person)
    if absence.substitute and shifts:
        await tell(session, desk, absence.substitute, "duty.away_substitute", **values)
        told = coordinator is not None and coordinator != absence.substitute and await tell(
            session, desk, coordinator, "duty.away_fyi", substitute=name_of(desk, absence.substitute), **values)
        return Away(absence, shifts, updated=updated, coordinator_told=coordinator if told else None)
    coordinator_at = None
    if shifts:
        for days_before in REMIND_PERSON_DAYS:
            due = _at_nine(state, first - timedelta(days=days_before))
            if due > now:
                reminders.append(due)
                session.add(Timer(kind="duty:away-self", due_at=due, data={"absence": absence.id}))
        if coordinator is not None:
            coordinator_at = max(_at_nine(state, first - timedelta(days=REMIND_COORDINATOR_DAYS)), now)
            session.add(Timer(kind="duty:away-coord", due_at=coordinator_at, data={"absence": absence.id}))
    return Away(absence, shifts, reminders, updated, coordinator_at=coordinator_at)


@dataclass(frozen=True)
class Sick:
    absence: DutyAbsence
    requests: list[DutySwap]
    # the colleagues asked directly to cover (the duty channels are asked too)
    asked: list[str]
    fallback: dict[str, str | None]
    # the coordinator, when one was told
    coordinator_told: str | None = None


async def report_sick(session: AsyncSession, desk: Desk, person: str) -> Sick:
    """Marks ``person`` absent today and asks the team and the coordinator, urgently, to cover."""
    window = window_of(desk)
    if window is None:
        raise Refused("duty.not_configured")
    day = today(desk, window)
    now = desk.clock.now()
    state = await _state(session, desk, day)
    existing = absence_of(state.facts, person, day)
    if existing is not None and existing.kind == "sick":
        raise Refused("duty.sick_already", day=_day(day))
    absence = DutyAbsence(person=person, first_day=day, last_day=day, kind="sick", created_by=person, created_at=now)
    session.add(absence)
    await session.flush()
    await absence_recorded(session, desk, absence)
    roles = [role for _, role in shifts_of(state, person, day, day)] if not _day_over(state, day, now) else []
    coordinator = coordinator_of(desk, person)
    team = [m for m in state.members(day) if m != person and absence_of(state.facts, m, day) is None]
    asking = [*team, *([coordinator] if coordinator and coordinator not in team else [])]
    told: set[str] = set()
    requests = []
    hours = hours_text(state.window.windows_on(day), state.window.zone)
    for role in roles:
        swap = DutySwap(kind="cover", requester=person, day=day, role=role, colleague=None, owner=person,
                        state="requested", absence_id=absence.id, created_at=now)
        session.add(swap)
        await session.flush()
        requests.append(swap)
        values: dict[str, Any] = dict(id=swap.id, who=name_of(desk, person), role=_role(role), day=_day(day),
                                      hours=hours)
        for key in asking:
            if await tell(session, desk, key, "duty.cover_asked", kind=MessageKind.COVER_REQUEST,
                          buttons=_request_buttons(desk, swap), **values):
                told.add(key)
        post_duty(desk, session, "duty.cover_asked_all", kind=MessageKind.COVER_REQUEST,
                  buttons=_request_buttons(desk, swap), **values)
    if not roles and coordinator and await tell(session, desk, coordinator, "duty.sick_fyi",
                                                who=name_of(desk, person), day=_day(day)):
        told.add(coordinator)
    # who covers meanwhile, by the fallback rule
    after = await _state(session, desk, day)
    fallback = {role: after.assignment(role, day).person for role in roles}
    asked = [key for key in team if key in told and key != coordinator]
    return Sick(absence, requests, asked, fallback, coordinator if coordinator in told else None)


# --------------------------------------------------------------------------- reminders


async def away_reminder(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """A vacation reminder timer: tells the person (or the coordinator) about shifts still uncovered."""
    absence = await session.get(DutyAbsence, (timer.data or {}).get("absence"))
    if absence is None or absence.cancelled:
        return
    window = window_of(desk)
    if window is None:
        return
    first = max(absence.first_day, today(desk, window))
    if first > absence.last_day:
        return
    state = await _state(session, desk, first, absence.last_day)
    open_shifts = uncovered(state, absence.person, first, absence.last_day)
    if not open_shifts:
        return
    values: dict[str, Any] = dict(who=name_of(desk, absence.person), first=_day(absence.first_day),
                                  last=_day(absence.last_day), shifts=_days(open_shifts), count=len(open_shifts))
    if timer.kind == "duty:away-self":
        await tell(session, desk, absence.person, "duty.away_reminder", kind=MessageKind.REMINDER, **values)
    else:
        coordinator = desk.settings.duty.coordinator if desk.settings.duty else None
        if coordinator:
            await tell(session, desk, coordinator, "duty.away_coordinator", kind=MessageKind.REMINDER, **values)


# --------------------------------------------------------------------------- weekly plan


@dataclass(frozen=True)
class Proposal:
    week: date
    rows: list[tuple[date, str, str | None]]
    served: dict[str, int]
    state: DutyState


def next_week(desk: Desk) -> date:
    window = window_of(desk)
    if window is None:
        raise Refused("duty.not_configured")
    monday, _ = week_of(today(desk, window))
    return monday + timedelta(days=7)


async def propose_plan(session: AsyncSession, desk: Desk, actor: str, week: date | None = None) -> Proposal:
    """Next week's plan, fair by the ledger of the last weeks, aware of absences and holidays.

    For each duty day and role (in rota order) the available member with the fewest shifts in that
    role, then in all roles, gets it (ledger of the last :data:`FAIR_WEEKS` weeks plus the proposal so
    far); ties go to the member the rotation would pick, so a balanced ledger keeps the rotation.
    """
    monday = week or next_week(desk)
    sunday = monday + timedelta(days=6)
    state = await _state(session, desk, monday, sunday)
    counts = await served_counts(session, monday - timedelta(weeks=FAIR_WEEKS), monday - timedelta(days=1))
    served = {person: sum(roles.values()) for person, roles in counts.items()}
    rows: list[tuple[date, str, str | None]] = []
    for day in state.window.duty_days(monday, sunday):
        version = state.facts.rota.at(day)
        if version is None:
            continue
        taken: set[str] = set()
        for role in version.roles:
            default = rotation_holder(version, role, day, state.window)
            available = [m for m in version.members if absence_of(state.facts, m, day) is None]
            # nobody free: one of the available members holds two roles (as the team fallback would)
            free = [m for m in available if m not in taken] or available
            if not free:
                rows.append((day, role, None))
                continue

            def rank(member: str, role: str = role, default: str | None = default,
                     members: tuple[str, ...] = version.members) -> tuple[int, int, bool, int]:
                mine = counts.get(member, {})
                return (mine.get(role, 0), sum(mine.values()), member != default, members.index(member))

            pick = min(free, key=rank)
            counts.setdefault(pick, {}).setdefault(role, 0)
            counts[pick][role] += 1
            taken.add(pick)
            rows.append((day, role, pick))
    await session.execute(delete(DutyPlan).where(DutyPlan.week == monday, DutyPlan.status == "proposed"))
    now = desk.clock.now()
    for day, role, person in rows:
        if person is not None:
            session.add(DutyPlan(week=monday, day=day, role=role, person=person, status="proposed",
                                 created_by=actor, created_at=now))
    return Proposal(monday, rows, served, state)


async def confirm_plan(session: AsyncSession, desk: Desk, actor: str, week: date | None = None) -> list[DutyPlan]:
    """Makes the latest proposal for next week the plan; the duty channels and the coordinator are told."""
    monday = week or next_week(desk)
    rows = list((await session.scalars(select(DutyPlan).where(
        DutyPlan.week == monday, DutyPlan.status == "proposed").order_by(DutyPlan.day, DutyPlan.id))).all())
    if not rows:
        raise Refused("duty.plan_none", week=_day(monday))
    await session.execute(update(DutyPlan).where(DutyPlan.id.in_([r.id for r in rows])).values(status="confirmed"))

    def lines(lang: str) -> str:
        by_day: dict[date, list[str]] = {}
        for row in rows:
            by_day.setdefault(row.day, []).append(f"{role_name(lang, row.role)} {name_of(desk, row.person)}")
        return "\n".join(f"{day_text(lang, d)}: {' · '.join(parts)}" for d, parts in sorted(by_day.items()))

    post_duty(desk, session, "duty.plan_posted", week=_day(monday), who=name_of(desk, actor), lines=lines)
    coordinator = desk.settings.duty.coordinator if desk.settings.duty else None
    if coordinator and coordinator != actor:
        await tell(session, desk, coordinator, "duty.plan_fyi", week=_day(monday), who=name_of(desk, actor),
                   lines=lines)
    return rows
