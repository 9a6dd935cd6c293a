"""A calendar edit recomputes the SLA of open tickets at start; closed tickets keep their stored deadline."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from adapters.sim import SimAdapter
from bot.app import build
from bot.core.clock import VirtualClock
from bot.core.types import ChannelRef, InboundEvent, Platform, UserRef
from bot.settings import settings_from_data
from storage.models import Ticket


def config(hours: str) -> dict:
    return {
        "desk": {"name": "Desk", "ticket_prefix": "HW", "sla": "support", "timezone": "Europe/Berlin"},
        "calendars": {"office": {"timezone": "Europe/Berlin", "hours": [hours]}},
        "sla": {"support": {"calendar": "office", "targets": {"resolve": {"within": "12h"}}}},
        "people": {"anna": {"name": "Anna", "roles": ["agent"]}},
        "channels": {"duty": ["#support-duty"]},
    }


def command(n: int, user: str, text: str, clock: VirtualClock) -> InboundEvent:
    return InboundEvent(kind="command", event_id=f"e{n}", text=text, received_at=clock.now(),
                        actor=UserRef(platform=Platform.SIM, user_id=user),
                        channel=ChannelRef(platform=Platform.SIM, channel_id="#general"))


async def due_of(bot, key: str) -> str | None:
    async with bot.desk.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.key == key))
        return ticket.data["sla"]["resolve"]["due"]


async def test_calendar_edit_recomputes_open_tickets_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    clock = VirtualClock(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))  # Tuesday 09:00 Berlin
    adapter = SimAdapter("slack", clock, io.StringIO(), {"#support-duty"})
    bot = await build(settings_from_data(config("mon-fri 08:00-18:00"), "a"), clock, [adapter], db_url=url)
    await bot.handle(command(1, "ben", "ticket printer one", clock))
    await bot.handle(command(2, "ben", "ticket printer two", clock))
    await bot.handle(command(3, "anna", "ticket close HW-2", clock))
    assert await due_of(bot, "HW-1") == "2026-11-25T11:00:00+01:00"
    closed_due = await due_of(bot, "HW-2")
    await bot.close()

    # the office now closes at 14:00: 12 business hours reach into Thursday
    bot = await build(settings_from_data(config("mon-fri 08:00-14:00"), "b"), clock, [adapter], db_url=url)
    try:
        assert await due_of(bot, "HW-1") == "2026-11-26T09:00:00+01:00"
        assert await due_of(bot, "HW-2") == closed_due
    finally:
        await bot.close()
