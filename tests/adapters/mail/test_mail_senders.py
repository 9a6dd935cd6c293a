"""The sender check (handbook 003, 2.5) on the real mail servers: with senders = "known" only [people] addresses and
[[senders]] rules open tickets; a stranger gets one polite answer and no ticket."""

from __future__ import annotations

import asyncio

from mail_harness import MailHarness
from mail_harness import mail as make_mail
from test_mail_robust import _settle


async def test_only_known_senders_open_tickets_and_a_stranger_hears_it_once(mail: MailHarness) -> None:
    await mail.start(mail={"senders": "known"}, senders=[{"address": "*@club.example.org", "name": "club members"}])
    await mail.deliver(make_mail("Stranger <stranger@example.net>", "Help", "My login fails."))
    [answer] = await mail.sent(1)
    assert answer.rcpt_tos == ["stranger@example.net"]
    assert "registered" in answer.message.get_content()
    assert answer.message["Auto-Submitted"] == "auto-replied"
    await mail.deliver(make_mail("Stranger <stranger@example.net>", "Help!!", "Still failing."))
    await _settle(mail)
    assert await mail.tickets() == []
    # a staff member's configured address and a member of a registered group open tickets
    await mail.deliver(make_mail("Carla <Carla@Example.org>", "Printer", "Jammed."))
    await mail.deliver(make_mail("Member <m@club.example.org>", "Forum", "Cannot post."))
    tickets = await mail.ticket_count(2)
    assert sorted(t.title for t in tickets) == ["Forum", "Printer"]
    await _settle(mail)
    await asyncio.sleep(0.5)
    # the stranger got one answer for two mails
    assert sum("stranger@example.net" in r.rcpt_tos for r in mail.smtp.received) == 1
