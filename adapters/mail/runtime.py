"""The mail runtime of `dutydesk run` (a bot/core/ports.py Runtime): the support mailbox as a platform.

Intake (adapters/mail/intake.py): every new mail becomes an inbound event — a new request (``dm``: subject and
text, its files), or, when it answers a mail of a ticket (``In-Reply-To``/``References``, else ``[HW-42]`` in the
subject), a message in that ticket's conversation. Automatic mails (auto-replies, bounces, lists) that belong to
a ticket are recorded on it and never answered; those that belong to none are logged and left alone when they
are bounces, and become tickets without any answer otherwise.

Delivery (adapters/mail/outgoing.py): the core's messages to a mail requester or to a mail ticket's space go to
the requester's address over SMTP, in the ticket's thread.

The vendor by mail (``[mail] vendor``): a ticket's report to the vendor (kind ``vendor``) goes in a thread of its
own (``[HW-42] title``, never the requester's thread), with the ticket's files that came by mail attached (fetched
from the mailbox; files from chat are named in the text). A mail from the vendor's address (or domain) that
answers a mail of that thread (``In-Reply-To``/``References``) is a ``VENDOR_MAIL`` event: internal on the
ticket, with the vendor's ticket id read from its subject by ``[mail] vendor_ticket``. Anybody else's mail, and a
vendor mail outside that thread, is what it always is (a stranger's words are kept outside the ticket).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email
import email.policy
import re
from email.message import EmailMessage

import aioimaplib
import aiosmtplib
import structlog

from adapters.mail.connect import MailboxError, close_imap, open_imap, open_smtp
from adapters.mail.intake import MailIntake
from adapters.mail.message import InboundMail, parse
from adapters.mail.outgoing import PERSONAL_KINDS, compose, pressed, robot, ticket_subject, within_limit
from adapters.mail.threads import Thread, get_json, mid, put_json, save_thread, thread_of, ticket_of
from bot.core.ports import Backoff, DeliveryError, Ports, stop, supervise
from bot.core.types import (
    AUTOMATIC_MAIL,
    VENDOR_MAIL,
    Attachment,
    Button,
    Capability,
    ChannelRef,
    InboundEvent,
    MessageKind,
    OutboundMessage,
    Platform,
    Removal,
    UserRef,
)
from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)

_OUR_IDS = re.compile(rb"<dutydesk\.-?\d+\.[0-9a-f]{16}@[^<>\s]+>")
NO_SENDER = "unknown@sender.invalid"


class MailRuntime:
    platform = Platform.MAIL
    # buttons are offered as words to answer with (outgoing.body, pressed)
    capabilities = frozenset({Capability.DMS, Capability.BUTTONS})

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.mail
        self.ports: Ports | None = None
        self.intake: MailIntake | None = None
        self._task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()

    # ------------------------------------------------------------------ Runtime

    def bind(self, ports: Ports) -> None:
        """The core's ports, without reading the mailbox (the rehearsal hands mails in itself)."""
        self.ports = ports

    async def start(self, ports: Ports) -> str:
        self.bind(ports)
        self.intake = MailIntake(ports, self._take)
        for warning in ports.settings.forgeable_mail():
            log.warning("mail: a team address is trusted without a sender check", problem=warning)
        # stale on /healthz when no pass works within the stale span from now (a mailbox that never opens)
        ports.health.synced(Platform.MAIL.value, ports.clock.now())
        poll = self.config.poll.total_seconds()
        intake = self.intake

        async def one_pass() -> float:
            try:
                await intake.one_pass()
            except MailboxError:
                await ports.health.trouble(Platform.MAIL.value, True)
                raise
            await ports.health.trouble(Platform.MAIL.value, False)
            await intake.wait(poll)
            return 0.0

        self._task = asyncio.get_running_loop().create_task(
            supervise("mail: reading the mailbox", one_pass, every=poll, backoff=Backoff(2.0, 300.0)),
            name="mail-intake")
        return f"mail as {self.config.address}"

    async def stop(self) -> None:
        if self._task is not None:
            await stop(self._task)
            self._task = None
        if self.intake is not None:
            await self.intake.disconnect()

    async def close(self) -> None:
        await self.stop()

    async def remove(self, removal: Removal) -> str | None:
        raise DeliveryError("a mail cannot be taken back", permanent=True)

    # ------------------------------------------------------------------ intake

    async def _take(self, raw: bytes, mail: InboundMail) -> None:
        event = await self.convert(raw, mail)
        if event is not None:
            await self.ports.inbox.submit(event)  # type: ignore[union-attr]  # stored before the mail is marked seen

    async def convert(self, raw: bytes, mail: InboundMail) -> InboundEvent | None:
        """The event a mail is for the core (its thread state stored), or None for one that is left alone."""
        ports = self.ports
        assert ports is not None
        async with ports.state.read() as tx:
            ticket = await ticket_of(tx, list(mail.thread_ids))
            if ticket is None and mail.bounce:
                # a bounce quotes our mail (its headers or all of it) rather than answering it
                ticket = await ticket_of(tx, [m.decode("ascii", "replace") for m in _OUR_IDS.findall(raw)])
            buttons = await get_json(tx, f"mail:buttons:{ticket}") if ticket else None
        if ticket is None and not (mail.automatic or mail.bounce):
            for key in mail.tickets_in_subject:
                summary = await ports.tickets.summary(key, Platform.MAIL)
                if summary is not None:
                    ticket = summary.key
                    break
        if mail.malformed:
            log.warning("mail: a malformed mail, taken in as far as it could be read", message=mid(mail.message_id))
        if ticket is None and mail.bounce:
            log.warning("mail: a bounce for no mail of a ticket, not answered", message=mid(mail.message_id))
            return None
        sender = mail.sender or NO_SENDER
        now = ports.clock.now()
        common = {
            "event_id": mid(mail.message_id),
            "actor": UserRef(platform=Platform.MAIL, user_id=sender, display_name=mail.sender_name or None),
            "received_at": now,
            "attachments": tuple(Attachment(name=f.name, mime_type=f.mime_type, size=f.size,
                                            ref=f"{mail.message_id}#{i}") for i, f in enumerate(mail.files)),
        }
        channel = ChannelRef(platform=Platform.MAIL, channel_id=sender, thread_id=mail.message_id,
                             is_direct=ticket is None)
        vendor_thread = ticket is not None and not mail.bounce and self.from_vendor(sender) and \
            await self._in_vendor_thread(ticket, list(mail.thread_ids))
        if vendor_thread:
            # the vendor answers our report (its ticket system's confirmation, a question, the fix): the team's
            event = InboundEvent(kind="message", channel=channel, ticket=ticket, name=VENDOR_MAIL,
                                 text=(mail.text.strip() or mail.subject.strip())[:4000],
                                 value=self.config.vendor_ticket_in(mail.subject), **common)
        elif ticket is not None and (mail.automatic or mail.bounce):
            reason = "bounce" if mail.bounce else mail.automatic
            event = InboundEvent(kind="message", channel=channel, ticket=ticket, name=AUTOMATIC_MAIL,
                                 text=f"{reason}: {mail.subject}"[:500], **common)
        elif ticket is not None:
            button = pressed(mail.text, [Button.model_validate(b) for b in buttons or []])
            if button is not None:
                event = InboundEvent(kind="action", channel=channel, ticket=ticket, name=button.action,
                                     value=button.value, text=mail.text, **common)
            else:
                event = InboundEvent(kind="message", channel=channel, ticket=ticket, text=mail.text, **common)
        else:
            text = "\n\n".join(part for part in (mail.subject.strip(), mail.text.strip()) if part)
            event = InboundEvent(kind="dm", channel=channel, text=text, recipients=mail.to, **common)
        async with ports.state.write() as tx:
            await put_json(tx, f"mail:msg:{mid(mail.message_id)}", {
                "subject": mail.subject, "sender": sender, "quiet": bool(mail.automatic or mail.bounce),
                "ids": [*mail.references[-18:], *mail.in_reply_to[:1], mail.message_id]})
        return event

    def from_vendor(self, sender: str) -> bool:
        """The vendor's address, or another address of its domain (its staff answer from their own)."""
        vendor = self.config.vendor
        if not vendor or not sender:
            return False
        return sender == vendor or sender.rpartition("@")[2] == vendor.rpartition("@")[2]

    async def _in_vendor_thread(self, ticket: str, message_ids: list[str]) -> bool:
        """Whether one of ``message_ids`` is a mail the bot sent to the vendor about ``ticket``."""
        if not message_ids:
            return False
        async with self.ports.state.read() as tx:  # type: ignore[union-attr]
            found = await tx.get_many([f"mail:vendor:{mid(i)}" for i in message_ids])
        return ticket in found.values()

    # ------------------------------------------------------------------ delivery

    async def send(self, message: OutboundMessage) -> str | None:
        ports = self.ports
        if ports is None:
            raise DeliveryError("the mail runtime has not started")
        target = message.target
        to, hint = None, target.thread_id
        if target.kind in ("dm", "ephemeral"):
            to = target.user_id
        elif target.kind == "ticket" and target.ticket:
            summary = await ports.tickets.summary(target.ticket, Platform.MAIL)
            if summary is not None:
                to, hint = summary.requester_id, hint or summary.origin_thread
        if not to:
            raise DeliveryError("no mail address to send this to", permanent=True)
        ticket = message.ticket or target.ticket
        if message.kind == MessageKind.VENDOR and ticket:
            return await self._to_vendor(message, to, ticket)
        async with ports.state.read() as tx:
            origin = await get_json(tx, f"mail:msg:{mid(hint)}") if hint else None
            thread = await thread_of(tx, ticket) if ticket else None
            sent = await get_json(tx, f"mail:answers:{to}")
        origin = origin if isinstance(origin, dict) else {}
        # a forward goes to a colleague, whatever the mail was
        forward = message.kind == MessageKind.FORWARD
        if robot(to) or (origin.get("quiet") and not forward):
            log.info("mail: no answer to an automatic mail or a robot", kind=message.kind.value)
            return "not-sent:automatic"
        now = ports.clock.now()
        allowed, recent = within_limit(sent if isinstance(sent, list) else [], now, self.config.answers_per_hour)
        if message.kind not in PERSONAL_KINDS and not allowed:
            log.warning("mail: answers to this address are over the hourly limit, not sent", kind=message.kind.value)
            return "not-sent:rate-limit"
        if forward:
            # the Head of Mailbox forwards a mail to the colleague it was for: a new thread, answered to its sender
            thread = Thread(f"Fwd: {origin.get('subject') or ''}".strip(), [])
        elif thread is None:
            ids = [str(i) for i in origin.get("ids", [])]
            original = str(origin.get("subject") or "")
            if ticket:
                title = original
                if not title:
                    summary = await ports.tickets.summary(ticket, Platform.MAIL)
                    title = summary.title if summary is not None else ""
                thread = Thread(ticket_subject(ticket, title), ids)
            else:
                thread = Thread(f"Re: {original}" if original else self.settings.desk.name, ids)
        lang = self.settings.desk.language
        mail = compose(message, sender=self.config.address or "", sender_name=self.settings.desk.name, to=to,
                       subject=thread.subject, thread=thread, lang=lang, now=now)
        if forward:
            mail = await self._with_original(mail, origin, hint)
        await self._deliver(mail, to, message)
        sent_id = str(mail["Message-ID"])
        thread.add(sent_id)
        async with ports.state.write() as tx:
            if ticket and not forward:
                await save_thread(tx, ticket, thread)
                await tx.put(f"mail:thread:{mid(sent_id)}", ticket)
                if message.buttons:
                    await put_json(tx, f"mail:buttons:{ticket}", [b.model_dump() for b in message.buttons])
            if message.kind not in PERSONAL_KINDS:
                await put_json(tx, f"mail:answers:{to}", recent)
        return sent_id

    async def _to_vendor(self, message: OutboundMessage, to: str, ticket: str) -> str:
        """A ticket's report to the vendor, in the ticket's vendor thread, with its files that came by mail."""
        ports = self.ports
        assert ports is not None
        async with ports.state.read() as tx:
            thread = await thread_of(tx, f"vendor:{ticket}")
        if thread is None:
            summary = await ports.tickets.summary(ticket, Platform.MAIL)
            thread = Thread(ticket_subject(ticket, summary.title if summary is not None else ""))
        now = ports.clock.now()
        mail = compose(message, sender=self.config.address or "", sender_name=self.settings.desk.name, to=to,
                       subject=thread.subject, thread=thread, lang=self.settings.desk.language, now=now,
                       personal=True)
        for name, mime, data in await self._files_by_mail(ticket):
            maintype, _, subtype = mime.partition("/")
            mail.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                                filename=name)
        await self._deliver(mail, to, message)
        sent_id = str(mail["Message-ID"])
        thread.add(sent_id)
        async with ports.state.write() as tx:
            await save_thread(tx, f"vendor:{ticket}", thread)
            await tx.put(f"mail:thread:{mid(sent_id)}", ticket)
            await tx.put(f"mail:vendor:{mid(sent_id)}", ticket)
        return sent_id

    async def _files_by_mail(self, ticket: str) -> list[tuple[str, str, bytes]]:
        """The ticket's files that came by mail, read again from the mailbox (``<Message-ID>#n`` references);
        files from chat stay where they are (the report names them)."""
        ports = self.ports
        assert ports is not None
        wanted: dict[str, list[tuple[int, str]]] = {}
        for file in await ports.tickets.files(ticket):
            ref = file.ref or ""
            message_id, hash_, number = ref.rpartition("#")
            if hash_ and message_id.startswith("<") and number.isdigit():
                wanted.setdefault(message_id, []).append((int(number), file.name))
        if not wanted:
            return []
        originals = await self.originals(list(wanted))
        found: list[tuple[str, str, bytes]] = []
        for message_id, numbers in wanted.items():
            raw = originals.get(message_id)
            if raw is None:
                log.warning("mail: a file of the vendor report is no longer in the mailbox", ticket=ticket)
                continue
            files = parse(raw).files
            found += [(files[n].name, files[n].mime_type, files[n].data) for n, _name in numbers
                      if n < len(files) and files[n].data]
        return found

    async def _with_original(self, mail: EmailMessage, origin: dict[str, object], hint: str | None) -> EmailMessage:
        """A forward answers to the mail's sender and carries the mail itself (message/rfc822, with its files) where
        the mailbox still has it; its text quotes it either way."""
        if origin.get("sender"):
            mail["Reply-To"] = str(origin["sender"])
        raw = (await self.originals([hint])).get(hint) if hint else None
        if raw is None:
            return mail
        attached = copy.deepcopy(mail)
        try:
            attached.add_attachment(email.message_from_bytes(raw, policy=email.policy.default))
            attached.as_bytes()   # a mail that cannot be written out again (8-bit garbage) goes as its bytes
        except Exception:
            attached = copy.deepcopy(mail)
            attached.add_attachment(raw, maintype="application", subtype="octet-stream", filename="original.eml")
        return attached

    async def originals(self, message_ids: list[str]) -> dict[str, bytes]:
        """The mails of ``message_ids`` as the mailbox keeps them (those still there)."""
        try:
            imap = await open_imap(self.config)
        except MailboxError as exc:
            raise DeliveryError(exc.reason) from exc   # retried: the report goes with its files
        found: dict[str, bytes] = {}
        try:
            if (await imap.select(self.config.folder)).result != "OK":
                raise DeliveryError(f"the mailbox has no folder {self.config.folder!r}", permanent=True)
            for message_id in message_ids:
                raw = await self._original(imap, message_id)
                if raw is not None:
                    found[message_id] = raw
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise DeliveryError(f"reading the report's files from the mailbox failed ({type(exc).__name__})") from exc
        finally:
            await close_imap(imap)
        return found

    @staticmethod
    async def _original(imap: aioimaplib.IMAP4, message_id: str) -> bytes | None:
        if not re.fullmatch(r"<[^<>\s\"\\]{1,900}>", message_id):
            return None   # nothing that could break the search command
        answer = await imap.uid_search("HEADER", "Message-ID", f'"{message_id}"', charset=None)
        uids = [x for line in answer.lines[:1] for x in bytes(line).split() if x.isdigit()] \
            if answer.result == "OK" else []
        for uid in uids[:1]:
            fetched = await imap.uid("fetch", uid.decode(), "(BODY.PEEK[])")
            for line in fetched.lines:
                if isinstance(line, bytearray):
                    return bytes(line)
        return None

    async def _deliver(self, mail: EmailMessage, to: str, message: OutboundMessage) -> None:
        async with self._send_lock:
            try:
                smtp = await open_smtp(self.config)
            except MailboxError as exc:
                raise DeliveryError(exc.reason) from exc   # retried: a password fixed, a server back
            try:
                await smtp.send_message(mail, sender=self.config.address, recipients=[to])
            except aiosmtplib.SMTPRecipientsRefused as exc:
                raise DeliveryError(f"the mail server refused the address ({exc})", permanent=True) from exc
            except aiosmtplib.SMTPResponseException as exc:
                raise DeliveryError(f"the mail server refused the mail ({exc.code})",
                                    permanent=500 <= exc.code < 600) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise DeliveryError(f"sending the mail failed ({type(exc).__name__})") from exc
            finally:
                with contextlib.suppress(Exception):
                    await smtp.quit()


async def connect(settings: Settings) -> MailRuntime:
    return MailRuntime(settings)
