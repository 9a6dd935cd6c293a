"""The support mailbox on a real Dovecot and a real SMTP server: mail in, ticket, receipt out, threads both ways."""

from __future__ import annotations

from email.utils import parseaddr

from mail_harness import MailHarness
from mail_harness import mail as make_mail

from bot.i18n import t


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
    async def told() -> bool:
        return any("HW-1" in text for text in mail.chat_texts())

    await mail.until(told, what="the duty channel told of HW-1")
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
    # and Anna is told where it went: by mail, not into a private space the ticket does not have
    assert t("en", "contact.replied", key="HW-1") + " " + t("en", "contact.way_mail", email="maria@example.com") \
        in mail.chat_texts()


async def test_the_start_warns_that_a_team_address_is_trusted_without_a_sender_check(mail: MailHarness,
                                                                                       caplog) -> None:
    """Carla's address is in [people]: a mail From it counts as hers, and nothing checks who sent it."""
    await mail.start()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "sender check" in r.getMessage()]
    assert len(warned) == 1 and "carla@example.org" in warned[0] and "DMARC" in warned[0]


async def test_the_satisfaction_question_is_answered_by_mail(mail: MailHarness) -> None:
    await mail.start(resolution={"ask_feedback": True})
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "VPN down", "I cannot connect."))
    await mail.ticket_count(1)
    await mail.sent(1)
    await mail.command("anna", "ticket take HW-1")
    await mail.command("anna", "ticket solve HW-1 Restart the router, then connect again.")
    async def asked() -> list:  # type: ignore[type-arg]
        return [r for r in mail.smtp.received if "Not fixed" in r.message.get_content()]

    [asking] = await mail.until(asked, what="the satisfaction question by mail")
    sent = list(mail.smtp.received)
    assert any("Restart the router" in r.message.get_content() for r in sent)
    question = asking.message
    assert "Satisfied" in question.get_content()
    assert question["Subject"] == "[HW-1] VPN down"
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "Re: [HW-1] VPN down",
                                 "Satisfied\n\n> Are you satisfied?", in_reply_to=question["Message-ID"]))

    async def closed() -> bool:
        [ticket] = await mail.tickets()
        return ticket.state == "closed"

    await mail.until(closed, what="HW-1 closed by the answer")
    [ticket] = await mail.tickets()
    assert (ticket.data or {}).get("satisfaction") == "satisfied"
    thanks = (await mail.sent(len(sent) + 1))[-1].message
    assert "HW-1" in thanks.get_content() and thanks["Subject"] == "[HW-1] VPN down"


async def test_a_stranger_who_quotes_a_ticket_in_the_subject_learns_nothing_of_it(mail: MailHarness) -> None:
    await mail.start()
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "Salary list leaked", "Secret details."))
    await mail.ticket_count(1)
    await mail.sent(1)
    await mail.deliver(make_mail("Eve <eve@evil.example>", "Re: [HW-1] hello", "What is this ticket about?"))

    async def recorded() -> bool:
        return any(e.kind == "message" and e.new == "outside" for e in await mail.events("HW-1"))

    await mail.until(recorded, what="the stranger's mail marked as from outside")
    await mail.command("anna", "ticket reply HW-1 We are on it.")
    sent = await mail.sent(2)
    # nothing of the ticket goes to the stranger: the agent's reply goes to the requester only
    assert all(r.rcpt_tos == ["maria@example.com"] for r in sent[:2])
    assert not any("eve@evil.example" in r.rcpt_tos for r in mail.smtp.received
                   if "Salary" in r.message.get_content() or "Secret" in r.message.get_content())
