"""The Head of Mailbox on a real Dovecot and a real SMTP server (issue #18): a mail to a colleague personally waits
for the mailbox holder in chat — once, even when it arrives twice — and the holder's choice goes out by SMTP."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email.utils import parseaddr

from mail_harness import MailHarness
from mail_harness import mail as make_mail
from sqlalchemy import select

from bot.core.types import ChannelRef, InboundEvent, MessageKind, Platform, UserRef
from storage.models import HeldMail

_PRESSES = itertools.count(1)
# Anna alone on the rota: she holds the mailbox in the duty window, and as its owner outside it
SECTIONS = {
    "people": {"anna": {"name": "Anna", "roles": ["agent"]},
               "carla": {"name": "Carla", "roles": ["agent", "coordinator"], "email": "carla@example.org"},
               "paul": {"name": "Paul", "roles": ["agent"], "email": "paul@example.org"}},
    "duty": {"window": "mon-sun 00:00-24:00", "roles": ["phone", "mailbox"], "members": ["anna"],
             "anchor": "2026-11-23", "mailbox": "anna"},
}


async def press(mail: MailHarness, who: str, action: str, value: str) -> None:
    assert mail.bot is not None
    await mail.bot.handle(InboundEvent(
        kind="action", event_id=f"press-{next(_PRESSES)}", name=action, value=value,
        actor=UserRef(platform=Platform.SIM, user_id=who, display_name=who.title()),
        channel=ChannelRef(platform=Platform.SIM, channel_id=f"@{who}", is_direct=True, is_private=True),
        received_at=datetime.now(UTC)))


async def held(mail: MailHarness) -> list[HeldMail]:
    assert mail.bot is not None
    async with mail.bot.desk.sessions() as session:
        return list((await session.scalars(select(HeldMail).order_by(HeldMail.id))).all())


def cards(mail: MailHarness) -> list[str]:
    return [m.text for m in mail.chat.sent if m.kind == MessageKind.MAIL_HELD and m.target.user_id == "anna"
            and m.updates is None]


async def test_a_mail_to_paul_waits_for_the_holder_once_and_is_forwarded_by_smtp(mail: MailHarness) -> None:
    await mail.start(**SECTIONS)
    original = make_mail("Maria Huber <maria@example.com>", "Angebot", "Hallo Paul,\nwie besprochen das Angebot.")
    original["Cc"] = "paul@example.org"
    await mail.deliver(original)
    await mail.deliver(original)   # the same mail twice (a client's retry): held once

    async def shown() -> list[str]:
        return cards(mail)

    async def both_taken() -> bool:
        flags = mail.dovecot.flags()
        return len(flags) == 2 and all("\\Seen" in f for f in flags)

    await mail.until(both_taken, what="both copies taken in")
    [card] = await mail.until(shown, what="the mailbox holder's message")
    assert "M1" in card and "for Paul" in card and "maria@example.com" in card
    [row] = await mail.until(lambda: held(mail), what="the held mail")
    assert row.state == "held" and row.colleague == "paul"
    assert await mail.tickets() == []
    assert mail.smtp.received == []   # no receipt: the holder decides first
    # a coordinator may decide in the holder's place; a second press (the holder's) is refused
    await press(mail, "carla", "mailbox-forward", "M1")
    [forwarded] = await mail.sent(1)
    message = forwarded.message
    assert forwarded.rcpt_tos == ["paul@example.org"]
    assert message["Subject"] == "Fwd: Angebot"
    assert message["Auto-Submitted"] == "auto-generated"
    assert parseaddr(message["Reply-To"])[1] == "maria@example.com"
    assert parseaddr(message["From"])[1] == "support@example.org"
    body = message.get_body(preferencelist=("plain",)).get_content()
    # the mail itself goes with it (its files too), as the mailbox keeps it
    [attached] = [part for part in message.iter_attachments() if part.get_content_type() == "message/rfc822"]
    assert attached.get_content()["Message-ID"] == original["Message-ID"]
    assert "> Hallo Paul," in body and "> wie besprochen das Angebot." in body and "Carla forwards" in body
    await press(mail, "anna", "mailbox-forward", "M1")
    await mail.command("anna", "mailbox list")

    async def told_twice() -> bool:
        return any("handled already" in text for text in mail.chat_texts())

    await mail.until(told_twice, what="the second press refused")
    assert [r.state for r in await held(mail)] == ["forwarded"]
    assert len(mail.smtp.received) == 1 and await mail.tickets() == []


async def test_the_holder_opens_a_ticket_and_the_receipt_goes_to_the_sender(mail: MailHarness) -> None:
    await mail.start(**SECTIONS)
    await mail.deliver(make_mail("Maria Huber <maria@example.com>", "Rechnung", "Dear Paul, the invoice is wrong."))
    await mail.until(lambda: held(mail), what="the held mail")
    await press(mail, "paul", "mailbox-ticket", "M1")     # the colleague himself is not the holder
    await press(mail, "maria@example.com", "mailbox-ticket", "M1")   # nor is anybody outside the team
    await press(mail, "anna", "mailbox-ticket", "M1")
    [ticket] = await mail.ticket_count(1)
    [receipt] = await mail.sent(1)
    assert receipt.rcpt_tos == ["maria@example.com"]
    assert receipt.message["Subject"] == "[HW-1] Rechnung"
    assert receipt.message["Auto-Submitted"] == "auto-replied"
    rows = await held(mail)
    assert [(r.state, r.ticket_key) for r in rows] == [("ticket", "HW-1")]
    assert ticket.assignee_id is not None
    texts = mail.chat_texts()
    assert any("Only the mailbox holder (Anna)" in text for text in texts)
    assert any("Anna assigned HW-1 (P2) to you." in text for text in texts)
