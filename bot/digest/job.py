"""The digest as a scheduled job: it runs in the unit of work that claims its slot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.digest.prio1 import post_digest
from bot.duty.escalation import duty_roles
from bot.duty.notify import mention_of
from bot.duty.store import holder


async def digest_job(session: AsyncSession, desk: Desk, slot: datetime) -> None:
    phone_role, _ = duty_roles(desk)
    phone = await holder(session, desk, phone_role, slot) if phone_role else None
    # the phone duty is mentioned: their client notifies them (a Matrix pill, where the platform has mentions)
    await post_digest(session, desk, slot, mention_of(desk, phone, at=True) if phone else None)
