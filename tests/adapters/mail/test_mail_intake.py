"""The support mailbox on a real Dovecot and a real SMTP server: mail in, ticket, receipt out, threads both ways."""

from __future__ import annotations

from email.utils import parseaddr

from mail_harness import MailHarness
from mail_harness import mail as make_mail


async def test_a_mail_becomes_a_ticket_with_a_threaded_receipt(mail: MailHarness) -> None:
    await mail.start()
    original = make_mail("Maria Huber <maria@example.com>", "The printer is on fire", "It smokes since this morning.")
    await mail.deliver(original)
    [ticket] = await mail.ticket_count(1)
    assert ticket.title == "The printer is on fire"
    assert "It smokes since this morning." in ticket.description
    assert ticket.origin_platform == "mail"
    [receipt] = await mail.sent(1)
    message = receipt.message
    assert receipt.rcpt_tos == ["maria@example.com"]
    assert message["Subject"] == "[HW-1] The printer is on fire"
    assert message["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in message["References"]
    assert message["Auto-Submitted"] == "auto-replied"
    assert parseaddr(message["From"])[1] == "support@example.org"
    assert "HW-1" in message.get_content()
    # the team hears of it in the duty channel; the request's own words are not mailed back as a space note
    assert any("HW-1" in text for text in mail.chat_texts())
    # seen on the server once stored
    assert "\\Seen" in mail.dovecot.flags()[0]


async def test_a_reply_by_mail_goes_into_the_ticket_and_an_agent_reply_goes_back_by_mail(mail: MailHarness) -> None:
    await mail.start()
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "VPN down", "I cannot connect."))
    await mail.ticket_count(1)
    [receipt] = await mail.sent(1)
    answer = make_mail("Maria Huber <maria@example.com>", "Re: [HW-1] VPN down",
                        "It says error 809.\n\nOn Tue, support wrote:\n> Ticket HW-1 is open",
                        in_reply_to=receipt.message["Message-ID"])
    await mail.deliver(answer)

    async def answered() -> bool:
        return any(e.kind == "message" and e.body == "It says error 809." for e in await mail.events("HW-1"))

    await mail.until(answered, what="the reply in the ticket")
    assert len(await mail.tickets()) == 1
    await mail.command("anna", "ticket reply HW-1 Please restart the router.")
    sent = await mail.sent(2)
    reply = sent[1].message
    assert sent[1].rcpt_tos == ["maria@example.com"]
    assert reply["Subject"] == "[HW-1] VPN down"
    assert answer["Message-ID"] in reply["References"] or receipt.message["Message-ID"] in reply["References"]
    assert "Please restart the router." in reply.get_content()
    assert reply["Auto-Submitted"] == "auto-generated"


async def test_the_start_warns_that_a_team_address_is_trusted_without_a_sender_check(mail: MailHarness,
                                                                                       caplog) -> None:
    """Carla's address is in [people]: a mail From it counts as hers, and nothing checks who sent it."""
    await mail.start()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "sender check" in r.getMessage()]
    assert len(warned) == 1 and "carla@example.org" in warned[0] and "DMARC" in warned[0]
