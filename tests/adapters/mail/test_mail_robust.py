"""The mailbox under stress, on a real Dovecot and SMTP server: automatic mails, bounces, restarts, the server
away, a full folder at first start, malformed mail, encoded words and 8-bit garbage, files, no IDLE."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mail_harness import MailHarness
from mail_harness import mail as make_mail
from mail_servers import Dovecot, SmtpSink
from sqlalchemy import select

from storage.models import Attachment, OutboxMessage


async def _settle(harness: MailHarness, passes: int = 2) -> None:
    """Lets the intake complete ``passes`` more passes (everything in the folder now is taken in)."""
    assert harness.runtime is not None and harness.runtime.intake is not None
    intake = harness.runtime.intake
    target = intake.passes + passes

    async def done() -> bool:
        intake.wake.set()
        return intake.passes >= target

    await harness.until(done, what="intake passes")
    await harness.bot.inbox.idle()  # type: ignore[union-attr]


async def test_automatic_mails_get_no_answer_and_bounces_land_on_their_ticket(mail: MailHarness) -> None:
    await mail.start()
    await mail.deliver(make_mail("Maria <maria@example.com>", "Printer", "Broken."))
    [receipt] = await mail.sent(1)
    # an out-of-office reply to the receipt, and a bounce quoting it: recorded on HW-1, never answered
    await mail.deliver(make_mail("Maria <maria@example.com>", "Out of office", "I am away.",
                                 in_reply_to=receipt.message["Message-ID"], headers={"Auto-Submitted": "auto-replied"}))
    bounce = make_mail("MAILER-DAEMON@example.com", "Undelivered Mail Returned to Sender",
                       f"Could not deliver.\n\nMessage-ID: {receipt.message['Message-ID']}\n")
    bounce["X-Failed-Recipients"] = "maria@example.com"
    await mail.deliver(bounce)
    # automatic mails that belong to no ticket: a list mail becomes a ticket without an answer, a noreply too
    await mail.deliver(make_mail("News <news@lists.example.com>", "Weekly digest", "News.",
                                 headers={"List-Id": "<news.lists.example.com>", "Precedence": "list"}))
    await mail.deliver(make_mail("noreply@shop.example.com", "Your order", "Shipped."))
    await mail.deliver(make_mail("Bot <bot@example.com>", "Alert", "Disk full.",
                                 headers={"Auto-Submitted": "auto-generated"}))
    await _settle(mail)

    async def recorded() -> bool:
        return sum(e.kind == "mail_automatic" for e in await mail.events("HW-1")) == 2

    await mail.until(recorded, what="two automatic mails on HW-1")
    await mail.ticket_count(4)
    await asyncio.sleep(0.5)   # what would be sent is sent right after the commit
    assert len(mail.smtp.received) == 1, [str(r.message["Subject"]) for r in mail.smtp.received]


async def test_a_restart_mid_poll_neither_loses_nor_repeats_a_mail(mail: MailHarness) -> None:
    await mail.start()
    for i in range(5):
        await mail.deliver(make_mail(f"P{i} <p{i}@example.com>", f"Request {i}", "Text."))
    await mail.ticket_count(1)
    await mail.stop()          # mid-way: some stored, some not yet
    for i in range(5, 8):
        await mail.deliver(make_mail(f"P{i} <p{i}@example.com>", f"Request {i}", "Text."))
    # the worst case: the last UID was not saved after the mails were stored (a crash between the two)
    await mail.start()
    await mail.ticket_count(8)

    async def all_read() -> dict | None:  # type: ignore[type-arg]
        async with mail.bot.ports.state.read() as tx:  # type: ignore[union-attr]
            stored = json.loads(await tx.get("mail:uid:INBOX") or "{}")
        return stored if stored.get("last") == 8 else None

    stored = await mail.until(all_read, what="the last UID saved")
    async with mail.bot.ports.state.write() as tx:  # type: ignore[union-attr]
        await tx.put("mail:uid:INBOX", json.dumps({**stored, "last": 0}))
    await mail.stop()
    await mail.start()
    tickets = await mail.ticket_count(8)
    await _settle(mail)
    tickets = await mail.tickets()
    assert sorted(t.title for t in tickets) == sorted(f"Request {i}" for i in range(8))
    # never lost: every ticket has its one receipt, sent or waiting. A receipt whose send a stop cut off waits out
    # the outbox backoff (longer after several tries on a loaded machine): the test waits as long as the rows say
    async with mail.bot.desk.sessions() as session:
        queued = (await session.execute(select(OutboxMessage.ticket_key, OutboxMessage.status,
                                               OutboxMessage.next_attempt_at)
                                        .where(OutboxMessage.kind == "receipt"))).all()
    assert sorted(key for key, _, _ in queued) == sorted(t.key for t in tickets)
    assert {status for _, status, _ in queued} <= {"pending", "sent"}
    now = mail.bot.desk.clock.now()
    due = [at.replace(tzinfo=at.tzinfo or now.tzinfo) for _, status, at in queued if status == "pending"]
    wait = max([(at - now).total_seconds() for at in due], default=0.0)
    receipts = await mail.sent(8, timeout=max(wait, 0.0) + 30)
    await asyncio.sleep(0.5)
    assert len(mail.smtp.received) == 8, [r.rcpt_tos for r in receipts]   # never doubled


async def test_the_server_going_away_and_coming_back(mail: MailHarness) -> None:
    await mail.start()
    await mail.deliver(make_mail("A <a@example.com>", "First", "Text."))
    await mail.ticket_count(1)
    await asyncio.to_thread(mail.dovecot.stop)
    assert mail.runtime is not None and mail.runtime.intake is not None
    mail.runtime.intake.wake.set()

    async def told(words: str) -> bool:
        return any(words in text for text in mail.chat_texts())

    await mail.until(lambda: told("cannot be read"), what="the duty channel told of the mailbox")
    await asyncio.sleep(5)   # several retries with backoff: the duty channel was told once
    assert sum("cannot be read" in text for text in mail.chat_texts()) == 1
    await asyncio.to_thread(mail.dovecot.start)
    await mail.deliver(make_mail("B <b@example.com>", "Second", "Text."))
    await mail.ticket_count(2, timeout=40)
    assert len(await mail.tickets()) == 2
    await mail.until(lambda: told("can be read again"), what="the duty channel told it works again")


class CuttingProxy:
    """A TCP relay to the IMAP server that cuts the connection the moment the client starts IDLE (the server's
    "+ idling" never comes) and takes no connection after that: the server going away at the worst instant."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cut = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"imap://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, watch: bool) -> None:
            while data := await source.read(65536):
                if watch and b" IDLE\r\n" in data.upper():
                    self.cut.set()
                    assert self.server is not None
                    self.server.close()
                    break
                sink.write(data)
            client_out.close()
            server_out.close()

        await asyncio.gather(pump(client_in, server_out, True), pump(server_in, client_out, False),
                             return_exceptions=True)


async def test_the_connection_cut_as_idle_starts(mail: MailHarness) -> None:
    # aioimaplib leaves IDLE's start waiting for ever when the connection is lost before the server's answer
    proxy = CuttingProxy(mail.dovecot.port)
    await mail.start(mail={"imap": await proxy.start()})
    await asyncio.wait_for(proxy.cut.wait(), 20)

    async def told() -> bool:
        return any("cannot be read" in text for text in mail.chat_texts())

    await mail.until(told, what="the duty channel told of the mailbox")


async def test_a_thousand_old_mails_at_first_start(dovecot: Dovecot, smtp: SmtpSink, tmp_path: Path) -> None:
    old = [make_mail(f"P <p{i}@example.com>", f"Old {i}", "Text.").as_bytes() for i in range(1000)]
    await asyncio.to_thread(dovecot.deliver_many, old[:990], seen=True)
    await asyncio.to_thread(dovecot.deliver_many, old[990:])
    # "none": nothing of what is there is taken, only what comes after
    harness = MailHarness(dovecot, smtp, f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    try:
        await harness.start(mail={"backlog": "none"})
        await _settle(harness)
        assert await harness.tickets() == []
        await harness.deliver(make_mail("N <n@example.com>", "New one", "Text."))
        [ticket] = await harness.ticket_count(1)
        assert ticket.title == "New one"
        await _settle(harness)   # marked seen
    finally:
        await harness.close()
    # "unseen": the ten unseen old ones (and the new one), not the 990 read ones
    harness = MailHarness(dovecot, smtp, f"sqlite+aiosqlite:///{tmp_path / 'unseen.db'}")
    try:
        await harness.start(mail={"backlog": "unseen"})
        await harness.ticket_count(10, timeout=60)
        await _settle(harness)
        titles = {t.title for t in await harness.tickets()}
        assert titles == {f"Old {i}" for i in range(990, 1000)}   # "New one" was seen by the first bot
    finally:
        await harness.close()


async def test_malformed_mail_encoded_words_and_8bit_garbage(mail: MailHarness) -> None:
    await mail.start()
    encoded = (b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>\r\n"
               b"To: support@example.org\r\nSubject: =?iso-8859-1?q?Dr=FCcker_kaputt?=\r\n"
               b"Message-ID: <enc1@example.de>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               b"Der Dr\xc3\xbccker druckt nicht.\r\n")
    garbage = (b"From: \xff\xfe Garbage <garbage@example.net>\r\nSubject: Caf\xe9 \xff broken\r\n"
               b"Message-ID: <garbage1@example.net>\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
               b"Bytes \xff\xfe\x00 here\r\n")
    broken = (b"From: broken@example.net\r\nSubject: multipart without boundary\r\n"
              b"Content-Type: multipart/mixed\r\n\r\nno parts at all\r\n")
    for raw in (encoded, garbage, broken, b"\r\n\r\n"):
        await mail.deliver(raw)
    await mail.ticket_count(3)
    await _settle(mail)
    titles = [t.title for t in await mail.tickets()]
    assert "Drücker kaputt" in titles
    assert any(title.startswith("Caf") for title in titles)
    # nothing crashed: every mail was taken and marked seen
    assert all("\\Seen" in flags for flags in mail.dovecot.flags())


async def test_pictures_are_kept_and_other_files_refused_in_the_receipt(mail: MailHarness) -> None:
    await mail.start()
    await mail.deliver(make_mail("Maria <maria@example.com>", "Screenshot", "See attached.",
                                 attachments=[("screen.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 2048),
                                              ("tool.exe", "application/octet-stream", b"MZ" * 100)]))
    sent = "\n".join(r.message.get_content() for r in await mail.sent(2))
    assert "tool.exe" in sent and "JPG" in sent
    async with mail.bot.desk.sessions() as session:  # type: ignore[union-attr]
        from sqlalchemy import select

        rows = (await session.scalars(select(Attachment))).all()
    assert [(r.file_name, r.mime_type) for r in rows] == [("screen.png", "image/png")]


async def test_polling_where_the_server_has_no_idle(dovecot_no_idle: Dovecot, smtp: SmtpSink, tmp_path: Path) -> None:
    harness = MailHarness(dovecot_no_idle, smtp, f"sqlite+aiosqlite:///{tmp_path / 'poll.db'}")
    try:
        await harness.start()
        await _settle(harness, 1)
        assert harness.runtime is not None and harness.runtime.intake is not None
        assert harness.runtime.intake.idle is False
        await asyncio.to_thread(dovecot_no_idle.deliver, make_mail("A <a@example.com>", "Polled", "Text."))
        [ticket] = await harness.ticket_count(1)
        assert ticket.title == "Polled"
    finally:
        await harness.close()


async def test_answers_to_one_address_are_limited_per_hour(mail: MailHarness) -> None:
    await mail.start(mail={"answers_per_hour": 2})
    for i in range(4):
        await mail.deliver(make_mail("Flood <flood@example.com>", f"Spam {i}", "Text."))
    await _settle(mail)

    async def all_handled() -> bool:
        async with mail.bot.desk.sessions() as session:  # type: ignore[union-attr]
            from sqlalchemy import func, select

            from storage.models import ProcessedEvent
            return await session.scalar(select(func.count()).select_from(ProcessedEvent).where(
                ProcessedEvent.status == "done")) == 4

    await mail.until(all_handled, what="four mails handled")
    await asyncio.sleep(0.5)
    assert 1 <= len(mail.smtp.received) <= 2
