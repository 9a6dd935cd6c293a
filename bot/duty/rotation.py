"""The generated rotations: who a rota version gives a role to on a date, before plans and exceptions.

``alternate-daily`` (DESIGN.md): on the k-th duty day after ``anchor`` (k from
:meth:`DutyWindow.duty_day_index`, the anchor is 0, dates before it negative; weekends, holidays and
closed dates are skipped and do not count) roles[j] is held by members[(j + k) mod len(members)].

``weekly``: a whole calendar week (Monday to Sunday) per role; the week w after the anchor's week
(w = 0 for the anchor's week, negative before) gives roles[j] to members[(j + w) mod len(members)].
Weeks count on the calendar, also weeks without a duty day, so everybody can tell their weeks ahead.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.duty.model import RotaVersion
from bot.duty.window import DutyWindow


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def rotation_holder(version: RotaVersion, role: str, day: date, window: DutyWindow) -> str | None:
    """The member the rotation gives ``role`` on ``day``; None for an unknown role or no members."""
    if role not in version.roles or not version.members:
        return None
    j = version.roles.index(role)
    n = len(version.members)
    if version.rotation == "weekly":
        step = (monday_of(day) - monday_of(version.anchor)).days // 7
    else:
        step = window.duty_day_index(day, version.anchor)
    return version.members[(j + step) % n]
