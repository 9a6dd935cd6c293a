"""The vendor by mail (#18, the party desk) on a real Dovecot and a real SMTP server: an authorised person's
``/ticket vendor`` sends the documented report with the ticket's mailed screenshot to ``[mail] vendor``; the
vendor's answer in that thread comes back into the ticket for the team only, with its ticket id read from the
subject; nobody else's mail can pose as the vendor's."""

from __future__ import annotations

from mail_harness import MailHarness
from mail_harness import mail as make_mail

from bot.i18n import t

VENDOR = "tickets@vendor.example"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
SECTIONS = {
    "people": {"dave": {"name": "Dave", "roles": ["agent"]}},
    "vendor": {"name": "Hosting vendor", "authorised": ["dave"]},
    "mail": {"vendor": VENDOR, "vendor_ticket": r"\[(VT-\d+)\]"},
}


async def reported(mail: MailHarness) -> tuple:  # type: ignore[type-arg]
    """Maria's mail with a screenshot, taken by Dave and reported to the vendor; the report mail."""
    await mail.start(**SECTIONS)
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "The printer is on fire", "It smokes.",
                                 attachments=[("screen.png", "image/png", PNG)]))
    await mail.ticket_count(1)
    await mail.sent(1)
    await mail.command("dave", "ticket take HW-1")
    await mail.command("dave", "ticket vendor HW-1")
    (report,) = [r for r in await mail.sent(3) if r.rcpt_tos == [VENDOR]]
    return report, [r for r in mail.smtp.received if r.rcpt_tos == ["maria@example.com"]]


async def test_the_report_goes_by_mail_with_the_screenshot_and_the_answer_is_the_teams(mail: MailHarness) -> None:
    report, to_maria = await reported(mail)
    message = report.message
    assert message["Subject"] == "[HW-1] The printer is on fire"
    assert message["Auto-Submitted"] == "no"  # a person's report: the vendor's system may answer it
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "HW-1" in body and "It smokes." in body and "Dave" in body and "screen.png" in body
    assert "maria" not in body.lower()  # the requester is ours, not the vendor's
    (attached,) = list(message.iter_attachments())
    assert (attached.get_filename(), attached.get_content_type(), attached.get_content()) == (
        "screen.png", "image/png", PNG)
    assert any(t("en", "vendor.mailed", address=VENDOR) in text for text in mail.chat_texts())
    # the vendor's ticket system confirms in the thread, with its own id in the subject
    await mail.deliver(make_mail(f"Vendor Desk <{VENDOR}>", "[VT-99] Re: [HW-1] The printer is on fire",
                                 "We track this as VT-99.", in_reply_to=message["Message-ID"],
                                 headers={"Auto-Submitted": "auto-replied"}))

    async def recorded() -> bool:
        [ticket] = await mail.tickets()
        return (ticket.data.get("vendor") or {}).get("ticket") == "VT-99"

    await mail.until(recorded, what="the vendor's ticket id recorded")
    (answer,) = [e for e in await mail.events("HW-1") if e.kind == "vendor_mail"]
    assert not answer.public and answer.body == "We track this as VT-99."
    # Dave, who has the ticket, reads it in chat; Maria never gets it, and the vendor's robot is not answered
    assert any("We track this as VT-99." in m.text for m in mail.chat.sent
               if m.target.kind == "dm" and m.target.user_id == "dave")
    mails = list(mail.smtp.received)
    assert [r for r in mails if r.rcpt_tos == ["maria@example.com"]] == to_maria
    assert not [r for r in mails if "VT-99" in r.message.get_body(preferencelist=("plain",)).get_content()]
    assert [r.rcpt_tos for r in mails].count([VENDOR]) == 1


async def test_nobody_else_poses_as_the_vendor(mail: MailHarness) -> None:
    """A stranger forges the vendor's subject pattern; another one even answers the report's thread (a copy
    reached them): neither is the vendor's, neither records an id, neither reaches the ticket's conversation."""
    report, _to_maria = await reported(mail)
    await mail.deliver(make_mail("Eve <eve@evil.example>", "[VT-666] Re: [HW-1] The printer is on fire",
                                 "Vendor here: send us the admin password."))
    await mail.deliver(make_mail("Mallory <mallory@other.example>", "[VT-667] Re: [HW-1] The printer is on fire",
                                 "Vendor here, too.", in_reply_to=report.message["Message-ID"]))

    async def both() -> list:  # type: ignore[type-arg]
        found = [e for e in await mail.events("HW-1") if e.kind == "message" and e.new == "outside"]
        return found if len(found) == 2 else []

    await mail.until(both, what="both mails kept outside the ticket")
    [ticket] = await mail.tickets()
    assert not (ticket.data.get("vendor") or {}).get("ticket")
    assert not [e for e in await mail.events("HW-1") if e.kind in ("vendor_mail", "vendor_id")]
    assert len(await mail.tickets()) == 1


async def test_only_the_authorised_report_to_the_vendor_by_mail(mail: MailHarness) -> None:
    await mail.start(**SECTIONS)
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "VPN down", "No connection."))
    await mail.ticket_count(1)
    await mail.sent(1)
    await mail.command("anna", "ticket take HW-1")
    await mail.command("anna", "ticket vendor HW-1")
    assert any(t("en", "vendor.not_authorised", vendor="Hosting vendor", who="Dave") in text
               for text in mail.chat_texts())
    # the refusal is the command's answer: by then nothing was queued for the vendor; a later mail proves the
    # outbox ran past where a report would have been
    await mail.command("anna", "ticket reply HW-1 We look into it.")
    sent = await mail.sent(2)
    assert not [r for r in sent if VENDOR in r.rcpt_tos]
    [ticket] = await mail.tickets()
    assert ticket.state != "vendor"
