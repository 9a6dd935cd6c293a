"""Plain, frozen values the resolver works on; ``bot.duty.store`` builds them from the database.

People are people keys (``[people.KEY]``). Dates are duty dates in the duty calendar's zone.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Rotation = Literal["alternate-daily", "weekly"]
Fallback = Literal["team", "coordinator", "none"]
# where an answer came from, most specific first
Source = Literal["override", "plan", "rotation", "substitute", "fallback", "none"]

ALWAYS = date(1970, 1, 1)  # valid_from of the first rota version: it answers for every earlier date too


@dataclass(frozen=True)
class RotaVersion:
    """The rotation in effect from ``valid_from`` (a date) until the next version."""

    valid_from: date
    members: tuple[str, ...]
    roles: tuple[str, ...]
    rotation: Rotation = "alternate-daily"
    anchor: date = date(2026, 1, 5)

    def same_rule(self, other: RotaVersion) -> bool:
        return (self.members, self.roles, self.rotation, self.anchor) == (
            other.members, other.roles, other.rotation, other.anchor)


@dataclass(frozen=True)
class RotaHistory:
    """Every version of the rotation, oldest first; an edit appends, it never replaces."""

    versions: tuple[RotaVersion, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.versions, key=lambda v: v.valid_from))
        object.__setattr__(self, "versions", ordered)

    @classmethod
    def of(cls, rota: RotaHistory | RotaVersion | Sequence[RotaVersion]) -> RotaHistory:
        if isinstance(rota, RotaHistory):
            return rota
        if isinstance(rota, RotaVersion):
            return cls((rota,))
        return cls(tuple(rota))

    def at(self, day: date) -> RotaVersion | None:
        """The version in effect on ``day``; the first version also answers for dates before it."""
        if not self.versions:
            return None
        index = bisect_right([v.valid_from for v in self.versions], day) - 1
        # the latest of several versions with one valid_from wins (sorted() is stable)
        return self.versions[max(index, 0)]

    def edited(self, version: RotaVersion) -> RotaHistory:
        """A new history with ``version`` in effect from its ``valid_from`` on."""
        return RotaHistory((*self.versions, version))


@dataclass(frozen=True)
class Override:
    """``person`` holds ``role`` on ``day``; among several, the newest (highest ``seq``) wins."""

    day: date
    role: str
    person: str
    reason: str = "manual"  # swap | cover | manual
    replaced: str | None = None
    seq: int = 0


@dataclass(frozen=True)
class Absence:
    """``person`` is away on every date from ``first`` through ``last``."""

    person: str
    first: date
    last: date
    kind: Literal["vacation", "sick"] = "vacation"
    substitute: str | None = None
    seq: int = 0

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Assignment:
    """Who holds ``role`` on ``day`` and why.

    ``planned`` is the holder before absences are looked at (from an override, the plan or the
    rotation); ``person`` is who really has it. ``absent`` is set when ``planned`` is away.
    """

    day: date
    role: str
    person: str | None
    source: Source
    planned: str | None = None
    absent: Absence | None = None
    override: Override | None = None

    @property
    def covered_for(self) -> str | None:
        """The planned holder this person stands in for, if any."""
        return self.planned if self.absent is not None and self.person != self.planned else None


@dataclass(frozen=True)
class DutyFacts:
    """Everything the resolver looks at besides the window: rota, plans, overrides, absences."""

    rota: RotaHistory
    plans: dict[tuple[date, str], str] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    absences: tuple[Absence, ...] = ()
    coordinator: str | None = None
    fallback: Fallback = "team"

    @classmethod
    def build(
        cls,
        rota: RotaHistory | RotaVersion | Sequence[RotaVersion],
        *,
        plans: dict[tuple[date, str], str] | None = None,
        overrides: Iterable[Override] = (),
        absences: Iterable[Absence] = (),
        coordinator: str | None = None,
        fallback: Fallback = "team",
    ) -> DutyFacts:
        return cls(RotaHistory.of(rota), dict(plans or {}), tuple(overrides), tuple(absences), coordinator,
                   fallback)
