"""The per-requester limit of new tickets ([limits], bot/tickets/limits.py) on both backends: what a requester
sends beyond it is kept on their newest ticket, and they hear when they may open a new one."""

from __future__ import annotations

from bot.i18n import t
from storage.models import Ticket, TicketEvent


async def test_beyond_the_limit_a_request_is_kept_on_the_newest_ticket_until_the_window_passes(make_harness
                                                                                              ) -> None:
    desk = await make_harness(limits={"tickets": 2, "per": "1h"})
    await desk.send("rita", "printer jams", dm=True)
    desk.advance(minutes=10)
    await desk.send("rita", "/ticket -p1 scanner is dead")
    desk.advance(minutes=10)
    answer = await desk.reply("rita", "/ticket -p1 and the coffee machine")
    assert answer.text == t("en", "limits.held", count=2, within="1 hour", key="HW-2", again="Tue 24 Nov, 15:50")
    [kept] = await desk.rows(TicketEvent, TicketEvent.kind == "limited")
    [second] = await desk.rows(Ticket, Ticket.key == "HW-2")
    assert (kept.ticket_id, kept.body, kept.public) == (second.id, "and the coffee machine", True)
    assert await desk.count(Ticket) == 2
    assert sum("limit" in m.text for m in desk.adapter.sent if m.target.channel_id == "#support-duty") == 1

    await desk.send("rita", "and the fax", dm=True)  # the duty channel heard it once in this window
    assert sum("limit" in m.text for m in desk.adapter.sent if m.target.channel_id == "#support-duty") == 1
    desk.advance(minutes=41)
    # (a DM now would be asked about: rita has open tickets, see tests/core/test_conversations.py)
    receipt = await desk.reply("rita", "/ticket the fax, really")
    assert receipt.text.startswith("Ticket HW-3 is open")


async def test_staff_are_not_limited(make_harness) -> None:
    desk = await make_harness(limits={"tickets": 1, "per": "1h"})
    for n in range(3):
        await desk.send("anna", f"/ticket server {n} needs a reboot")
    assert await desk.count(Ticket) == 3


async def test_the_count_read_with_the_requester_spares_the_check_its_query_only_below_the_limit(make_harness) -> None:
    """The dispatcher reads how many tickets the requester opened within the window with the requester
    (bot/access/people.resolve): below the limit the check asks nothing more; at it, the tickets are read as before;
    a ticket opened in the unit drops the count (it is one more now)."""
    from datetime import timedelta

    from bot.access.people import resolve
    from bot.core.types import Platform, UserRef
    from bot.core.uow import unit_of_work
    from bot.tickets import limits

    desk = await make_harness(limits={"tickets": 1, "per": "1h"})
    await desk.send("rita", "/ticket printer jams")
    bot_desk = desk.bot.desk
    now = bot_desk.clock.now()
    async with unit_of_work(bot_desk) as unit:
        person = await resolve(unit.session, UserRef(platform=Platform.SIM, user_id="rita"), now,
                               opened_since=now - timedelta(hours=1))
        assert unit.opened_since[person.id] == (now - timedelta(hours=1), 1)  # at the limit: the tickets are read
        assert [ticket.key for ticket in await limits.full(unit.session, bot_desk, person)] == ["HW-1"]
        unit.opened_since[person.id] = (now - timedelta(hours=1), 0)  # below it: no query, nothing held
        assert await limits.full(unit.session, bot_desk, person) == []
        unit.opened_since[person.id] = (now, 0)  # counted since a later instant than the window's start: not used
        assert [ticket.key for ticket in await limits.full(unit.session, bot_desk, person)] == ["HW-1"]
