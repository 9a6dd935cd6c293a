"""The processes' per-ticket timers (rows, so they survive restarts): a report queued for the vendor's
opening, the review date of a deferred ticket, and the wait for the requester's satisfaction answer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.infra.timers import handles
from bot.sla import service as sla_service
from bot.workflow.closing import FEEDBACK_TIMER, feedback_timeout
from bot.workflow.defer import REVIEW_TIMER, review_due
from bot.workflow.vendor import VENDOR_TIMER, opening
from storage.models import Timer

_HANDLERS = {VENDOR_TIMER: opening, REVIEW_TIMER: review_due, FEEDBACK_TIMER: feedback_timeout}


@handles("workflow")
async def workflow_timer(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    handler = _HANDLERS.get(timer.kind)
    if handler is not None:
        await handler(session, desk, timer)
        # the ticket changed outside the dispatcher: its SLA clocks follow in the same commit
        await sla_service.refresh_touched(session, desk)
