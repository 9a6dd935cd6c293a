"""``who(role, instant)``: the pure resolver of the duty rota.

Order, for a duty day (on any other date nobody has duty):

1. an override of that role on that date (the newest wins): accepted swaps and covers;
2. the week's confirmed plan for that date and role;
3. the rotation of the rota version in effect on that date (:mod:`bot.duty.rotation`).

The result is then checked against absences. A person away on that date is replaced by the
substitute of the absence (a vacation substitute), if that substitute is not away too; otherwise
the **fallback** decides (``[duty] fallback``, default ``team``):

- ``team``: another member of the rota version, in rota order after the absent one, who is not away
  and preferably holds no other role that day; in a two-person rota that is the colleague on the other
  role, who then holds both (better than nobody for a Prio-1 ping). No member available → the
  coordinator, if not away. Nobody → None.
- ``coordinator``: the coordinator, if not away; else None.
- ``none``: None (the shift stays open until someone takes it).

Everything here is a function of its arguments: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from bot.duty.model import (
    Absence,
    Assignment,
    DutyFacts,
    Fallback,
    Override,
    RotaHistory,
    RotaVersion,
    Source,
)
from bot.duty.rotation import rotation_holder
from bot.duty.window import DutyWindow


def _override(facts: DutyFacts, role: str, day: date) -> Override | None:
    found: Override | None = None
    for override in facts.overrides:
        if override.day == day and override.role == role and (found is None or override.seq >= found.seq):
            found = override
    return found


def absence_of(facts: DutyFacts, person: str, day: date) -> Absence | None:
    """The newest absence of ``person`` that covers ``day``."""
    found: Absence | None = None
    for absence in facts.absences:
        if absence.person == person and absence.covers(day) and (found is None or absence.seq >= found.seq):
            found = absence
    return found


def planned_holder(facts: DutyFacts, role: str, day: date, window: DutyWindow
                   ) -> tuple[str | None, Source, Override | None]:
    """Who holds ``role`` on ``day`` before absences: override, else plan, else rotation."""
    version = facts.rota.at(day)
    if version is None or role not in version.roles:
        return None, "none", None
    override = _override(facts, role, day)
    if override is not None:
        return override.person, "override", override
    planned = facts.plans.get((day, role))
    if planned is not None:
        return planned, "plan", None
    person = rotation_holder(version, role, day, window)
    return person, ("rotation" if person else "none"), None


def _available(facts: DutyFacts, person: str | None, day: date) -> bool:
    return person is not None and absence_of(facts, person, day) is None


def _without_fallback(facts: DutyFacts, role: str, day: date, window: DutyWindow) -> str | None:
    person, _, _ = planned_holder(facts, role, day, window)
    if person is None:
        return None
    absence = absence_of(facts, person, day)
    if absence is None:
        return person
    if absence.substitute and _available(facts, absence.substitute, day):
        return absence.substitute
    return None


def _fallback(facts: DutyFacts, version: RotaVersion, role: str, day: date, window: DutyWindow,
              absent: str) -> str | None:
    if facts.fallback == "none":
        return None
    if facts.fallback == "team":
        members = list(version.members)
        start = members.index(absent) + 1 if absent in members else 0
        ordered = members[start:] + members[:start]
        candidates = [m for m in ordered if m != absent and _available(facts, m, day)]
        busy = {_without_fallback(facts, other, day, window) for other in version.roles if other != role}
        free = [m for m in candidates if m not in busy]
        if free:
            return free[0]
        if candidates:
            return candidates[0]
    coordinator = facts.coordinator
    if coordinator and coordinator != absent and _available(facts, coordinator, day):
        return coordinator
    return None


def assignment_on(role: str, day: date, facts: DutyFacts, window: DutyWindow) -> Assignment:
    """Who holds ``role`` on the duty date ``day``, and why (see the module docstring)."""
    if not window.is_duty_day(day):
        return Assignment(day, role, None, "none")
    version = facts.rota.at(day)
    planned, source, override = planned_holder(facts, role, day, window)
    if planned is None or version is None:
        return Assignment(day, role, None, "none", override=override)
    absence = absence_of(facts, planned, day)
    if absence is None:
        return Assignment(day, role, planned, source, planned=planned, override=override)
    if absence.substitute and absence.substitute != planned and _available(facts, absence.substitute, day):
        return Assignment(day, role, absence.substitute, "substitute", planned=planned, absent=absence,
                          override=override)
    person = _fallback(facts, version, role, day, window, planned)
    return Assignment(day, role, person, "fallback" if person else "none", planned=planned, absent=absence,
                      override=override)


def assignments_on(day: date, facts: DutyFacts, window: DutyWindow) -> dict[str, Assignment]:
    """Every role of the rota version in effect on ``day``, in the version's role order."""
    version = facts.rota.at(day)
    roles = version.roles if version is not None else ()
    return {role: assignment_on(role, day, facts, window) for role in roles}


def who_on(role: str, day: date, facts: DutyFacts, window: DutyWindow) -> str | None:
    return assignment_on(role, day, facts, window).person


def who(
    role: str,
    instant: datetime,
    *,
    rota: RotaHistory | RotaVersion | Sequence[RotaVersion],
    plans: Mapping[tuple[date, str], str] | None = None,
    overrides: Iterable[Override] = (),
    absences: Iterable[Absence] = (),
    window: DutyWindow,
    coordinator: str | None = None,
    fallback: Fallback = "team",
) -> str | None:
    """The people key of whoever holds ``role`` at ``instant``; None outside the duty windows,
    on days without duty, for an unknown role, or when nobody can cover (see the module docstring)."""
    day = window.duty_date_of(instant)
    if day is None:
        return None
    facts = DutyFacts.build(rota, plans=dict(plans or {}), overrides=overrides, absences=absences,
                            coordinator=coordinator, fallback=fallback)
    return who_on(role, day, facts, window)
