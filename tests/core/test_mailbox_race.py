"""The Head of Mailbox on both databases (#18): a mail is held once however often it arrives, and two presses at
the same moment decide it once — the row is locked (PostgreSQL: FOR UPDATE), the second press is told."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.core.types import ChannelRef, InboundEvent, Platform, UserRef
from storage.models import HeldMail, OutboxMessage, Ticket

# the test desk's people (tests/conftest.py DESK), and Paul
PEOPLE = {"anna": {"name": "Anna", "roles": ["agent", "lead"]}, "ben": {"name": "Ben"},
          "carla": {"name": "Carla", "roles": ["agent", "coordinator"]}, "root": {"name": "Root", "roles": ["admin"]},
          "paul": {"name": "Paul"}}
DUTY = {"window": "mon-fri 16:00-18:00", "roles": ["phone", "standby", "mailbox"], "members": ["anna", "ben"],
        "anchor": "2026-11-23", "mailbox": "carla"}


def mail_event(desk, message_id: str = "<m1@example.com>") -> InboundEvent:
    sender = UserRef(platform=Platform.MAIL, user_id="maria@example.com", display_name="Maria")
    return InboundEvent(kind="dm", event_id=message_id, actor=sender, text="Offer\n\nHallo Paul,\nthe offer, please.",
                        channel=ChannelRef(platform=Platform.MAIL, channel_id="maria@example.com",
                                           thread_id=message_id, is_direct=True),
                        received_at=desk.clock.now(), recipients=("support@example.org",))


async def test_a_mail_is_held_once_and_two_presses_at_once_decide_it_once(make_harness) -> None:
    desk = await make_harness(people=PEOPLE, duty=DUTY)
    await desk.bot.handle(mail_event(desk))
    await desk.bot.handle(mail_event(desk))   # the same mail again (IMAP fetched it twice): a duplicate
    [held] = await desk.rows(HeldMail)
    assert (held.state, held.colleague, held.holder) == ("held", "paul", "carla")
    # the owner (Carla, 15:50: before the duty window) and an admin press at the same moment
    presses = [desk.event("carla", kind="action", name="mailbox-ticket", value="M1", dm=True),
               desk.event("root", kind="action", name="mailbox-answered", value="M1", dm=True)]
    await asyncio.gather(*(desk.bot.handle(press) for press in presses))
    [held] = await desk.rows(HeldMail)
    assert held.state in ("ticket", "answered")
    assert await desk.count(Ticket) == (1 if held.state == "ticket" else 0)
    async with desk.sessions() as session:
        texts = list((await session.scalars(select(OutboxMessage.text))).all())
    assert len([t for t in texts if "handled already" in t]) == 1
    assert len([t for t in texts if t.startswith("Mail M1: ")]) == 1
