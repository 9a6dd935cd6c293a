"""A ticket the phone duty opens for an e-mail address (#18 "the phone", ``/ticket --for``) on a real Dovecot and
a real SMTP server: the receipt, the agent's replies and the satisfaction question reach the contact by mail in
one thread, the contact's answers by mail thread back into the ticket, and the team's confirmations say so."""

from __future__ import annotations

from mail_harness import MailHarness
from mail_harness import mail as make_mail

from bot.i18n import t

MARIA = "maria@example.com"


async def test_a_contacts_ticket_runs_by_mail_both_ways(mail: MailHarness) -> None:
    await mail.start(resolution={"ask_feedback": True})
    await mail.command("anna", 'ticket --for "Maria Huber <Maria@Example.com>" The printer jams on floor 3')
    [ticket] = await mail.ticket_count(1)
    assert ticket.origin_platform == "sim" and ticket.opener_id is not None
    assert any(t("en", "contact.how_mail", email=MARIA) in text for text in mail.chat_texts())
    [receipt] = await mail.sent(1)
    assert receipt.rcpt_tos == [MARIA]
    assert receipt.message["Subject"] == "[HW-1] The printer jams on floor 3"
    assert "HW-1" in receipt.message.get_content()

    await mail.command("anna", "ticket reply HW-1 Which tray is it?")
    reply = (await mail.sent(2))[1].message
    assert reply["Subject"] == "[HW-1] The printer jams on floor 3"
    assert receipt.message["Message-ID"] in reply["References"]
    assert "Which tray is it?" in reply.get_content()
    said = t("en", "contact.replied", key="HW-1") + " " + t("en", "contact.way_mail", email=MARIA)
    assert said in mail.chat_texts()
    assert not [text for text in mail.chat_texts() if "private space" in text]

    # her answer by mail goes into the ticket as the requester's, not into a new ticket
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "Re: [HW-1] The printer jams on floor 3",
                                 "The left one.\n\n> Which tray is it?", in_reply_to=reply["Message-ID"]))

    async def answered() -> bool:
        return any(e.kind == "message" and e.new == "requester" and e.body == "The left one."
                   for e in await mail.events("HW-1"))

    await mail.until(answered, what="the contact's answer in the ticket")
    assert len(await mail.tickets()) == 1

    await mail.command("anna", "ticket take HW-1")
    await mail.command("anna", "ticket solve HW-1 Cleared the paper path of the left tray.")

    async def asked() -> list:  # type: ignore[type-arg]
        return [r for r in mail.smtp.received if "Satisfied" in r.message.get_content()]

    [question] = await mail.until(asked, what="the satisfaction question by mail")
    assert question.rcpt_tos == [MARIA] and question.message["Subject"] == "[HW-1] The printer jams on floor 3"
    assert any(t("en", "contact.asked_mail", email=MARIA) in text for text in mail.chat_texts())
    # nobody in chat is asked in her place
    assert not [m for m in mail.chat.sent if m.kind == "feedback"]
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "Re: [HW-1] The printer jams on floor 3",
                                 "Satisfied\n\n> Are you satisfied?", in_reply_to=question.message["Message-ID"]))

    async def closed() -> bool:
        [ticket] = await mail.tickets()
        return ticket.state == "closed"

    await mail.until(closed, what="HW-1 closed by her answer by mail")
    [ticket] = await mail.tickets()
    assert ticket.data.get("satisfaction") == "satisfied"
    assert all(r.rcpt_tos == [MARIA] for r in mail.smtp.received)
