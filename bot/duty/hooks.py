"""What other parts of the bot do when a duty absence is written: a hook registry, so the duty package
does not depend on them (routing moves the absent person's tickets, :mod:`bot.routing.away`).

A hook runs in the unit of work that writes the absence (``/duty away``, ``/duty sick``), after the
row is flushed; it may run again for the same absence (the same vacation noted twice), so hooks are
idempotent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from storage.models import DutyAbsence

AbsenceHook = Callable[[AsyncSession, Desk, DutyAbsence], Awaitable[None]]
ABSENCE_HOOKS: list[AbsenceHook] = []


def on_absence(hook: AbsenceHook) -> AbsenceHook:
    """Registers ``hook`` (once, however often its module is imported)."""
    if hook not in ABSENCE_HOOKS:
        ABSENCE_HOOKS.append(hook)
    return hook


async def absence_recorded(session: AsyncSession, desk: Desk, absence: DutyAbsence) -> None:
    for hook in ABSENCE_HOOKS:
        await hook(session, desk, absence)
