"""The digest as a scheduled job: it runs in the unit of work that claims its slot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.digest.prio1 import post_digest
from bot.duty.escalation import duty_roles
from bot.duty.notify import name_of
from bot.duty.store import holder


async def digest_job(session: AsyncSession, desk: Desk, slot: datetime) -> None:
    phone_role, _ = duty_roles(desk)
    phone = await holder(session, desk, phone_role, slot) if phone_role else None
    await post_digest(session, desk, slot, f"@{name_of(desk, phone)}" if phone else None)
