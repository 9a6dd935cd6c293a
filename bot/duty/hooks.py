"""What other parts of the bot do when a duty absence is written (and when a duty window starts): a hook, so the
duty package does not depend on them (routing moves the absent person's tickets, :mod:`bot.routing.away`,
registered by its feature; the Head of Mailbox hands its waiting mails on, :mod:`bot.mailbox.service`).

A hook runs in the unit of work that writes the absence (``/duty away``, ``/duty sick``), after the
row is flushed; it may run again for the same absence (the same vacation noted twice), so hooks are
idempotent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.features import Hook
from storage.models import DutyAbsence

AbsenceHook = Callable[[AsyncSession, Desk, DutyAbsence], Awaitable[None]]
ABSENCE: Hook[AbsenceHook] = Hook("duty.absence")
# a duty window starts (its handover is posted): the Head of Mailbox hands the mails still waiting on (bot/mailbox)
HandoverHook = Callable[[AsyncSession, Desk, datetime], Awaitable[None]]
HANDOVER: Hook[HandoverHook] = Hook("duty.handover")


async def absence_recorded(session: AsyncSession, desk: Desk, absence: DutyAbsence) -> None:
    for hook in desk.features.hooked(ABSENCE):
        await hook(session, desk, absence)


async def handed_over(session: AsyncSession, desk: Desk, slot: datetime) -> None:
    for hook in desk.features.hooked(HANDOVER):
        await hook(session, desk, slot)
