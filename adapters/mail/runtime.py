"""The mail runtime of `dutydesk run` (a bot/core/ports.py Runtime): the support mailbox as a platform.

Intake (adapters/mail/intake.py): every new mail becomes an inbound event — a new request (``dm``: subject and
text, its files), or, when it answers a mail of a ticket (``In-Reply-To``/``References``, else ``[HW-42]`` in the
subject), a message in that ticket's conversation. Automatic mails (auto-replies, bounces, lists) that belong to
a ticket are recorded on it and never answered; those that belong to none are logged and left alone when they
are bounces, and become tickets without any answer otherwise.

Delivery (adapters/mail/outgoing.py): the core's messages to a mail requester or to a mail ticket's space go to
the requester's address over SMTP, in the ticket's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from email.message import EmailMessage

import aiosmtplib
import structlog

from adapters.mail.connect import MailboxError, open_smtp
from adapters.mail.intake import MailIntake
from adapters.mail.message import InboundMail
from adapters.mail.outgoing import PERSONAL_KINDS, compose, pressed, robot, ticket_subject, within_limit
from adapters.mail.threads import Thread, get_json, mid, put_json, save_thread, thread_of, ticket_of
from bot.core.ports import Backoff, DeliveryError, Ports, supervise
from bot.core.types import (
    AUTOMATIC_MAIL,
    Attachment,
    Button,
    Capability,
    ChannelRef,
    InboundEvent,
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
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
        if ticket is None and mail.ticket_in_subject and not (mail.automatic or mail.bounce):
            summary = await ports.tickets.summary(mail.ticket_in_subject, Platform.MAIL)
            ticket = summary.key if summary is not None else None
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
        if ticket is not None and (mail.automatic or mail.bounce):
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
            event = InboundEvent(kind="dm", channel=channel, text=text, **common)
        async with ports.state.write() as tx:
            await put_json(tx, f"mail:msg:{mid(mail.message_id)}", {
                "subject": mail.subject, "sender": sender, "quiet": bool(mail.automatic or mail.bounce),
                "ids": [*mail.references[-18:], *mail.in_reply_to[:1], mail.message_id]})
        return event

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
        async with ports.state.read() as tx:
            origin = await get_json(tx, f"mail:msg:{mid(hint)}") if hint else None
            thread = await thread_of(tx, ticket) if ticket else None
            sent = await get_json(tx, f"mail:answers:{to}")
        origin = origin if isinstance(origin, dict) else {}
        if robot(to) or origin.get("quiet"):
            log.info("mail: no answer to an automatic mail or a robot", kind=message.kind.value)
            return "not-sent:automatic"
        now = ports.clock.now()
        allowed, recent = within_limit(sent if isinstance(sent, list) else [], now, self.config.answers_per_hour)
        if message.kind not in PERSONAL_KINDS and not allowed:
            log.warning("mail: answers to this address are over the hourly limit, not sent", kind=message.kind.value)
            return "not-sent:rate-limit"
        if thread is None:
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
        await self._deliver(mail, to, message)
        sent_id = str(mail["Message-ID"])
        thread.add(sent_id)
        async with ports.state.write() as tx:
            if ticket:
                await save_thread(tx, ticket, thread)
                await tx.put(f"mail:thread:{mid(sent_id)}", ticket)
                if message.buttons:
                    await put_json(tx, f"mail:buttons:{ticket}", [b.model_dump() for b in message.buttons])
            if message.kind not in PERSONAL_KINDS:
                await put_json(tx, f"mail:answers:{to}", recent)
        return sent_id

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
