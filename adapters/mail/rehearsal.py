"""The support mailbox in `dutydesk simulate`: the mail runtime's own conversion and threading, without servers.

A scenario's ``mail:`` step becomes the raw mail a sender's program would send (:func:`raw_mail`), taken in as the
IMAP intake takes it in (``MailRuntime.convert``); every mail the bot sends is a transcript line
``{"to": "mail:maria@example.com", "subject": …, "id": "mail-1", …}`` instead of an SMTP delivery.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import Any

from adapters.mail.message import parse
from adapters.mail.runtime import MailRuntime
from bot.core.clock import Clock
from bot.core.types import InboundEvent, OutboundMessage, Visibility
from bot.settings import Settings

SIM_DOMAIN = "sim.dutydesk.invalid"


def raw_mail(*, sender: str, to: str, subject: str, text: str, message_id: str, in_reply_to: str | None,
             headers: Mapping[str, str], attachments: Sequence[Mapping[str, Any]], cc: Sequence[str] = ()) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in headers.items():
        message[name] = value
    message.set_content(text)
    for item in attachments:
        maintype, _, subtype = str(item.get("type") or "application/octet-stream").partition("/")
        message.add_attachment(b"\0" * int(item.get("bytes") or 0), maintype=maintype,
                               subtype=subtype or "octet-stream", filename=str(item["name"]))
    return message.as_bytes()


class RehearsalMailbox(MailRuntime):
    """The mail platform of a rehearsal: mails in from the scenario, mails out as transcript lines."""

    def __init__(self, settings: Settings, clock: Clock, emit: Callable[[dict[str, object]], None],
                 at: Callable[[], str]) -> None:
        super().__init__(settings)
        self.clock = clock
        self.emit = emit
        self.at = at
        self.names: dict[str, str] = {}      # a step's or a line's id → the Message-ID of that mail
        self.kept: dict[str, bytes] = {}     # the scenario's mails by Message-ID: the rehearsal's mailbox
        self._lines = itertools.count(1)

    @property
    def address(self) -> str:
        return self.config.address or f"support@{SIM_DOMAIN}"

    async def take(self, name: str, *, sender: str, subject: str, text: str, in_reply_to: str | None,
                   headers: Mapping[str, str], attachments: Sequence[Mapping[str, Any]],
                   cc: Sequence[str] = ()) -> InboundEvent | None:
        message_id = f"<{name}@{SIM_DOMAIN}>"
        self.names[name] = message_id
        raw = raw_mail(sender=sender, to=self.address, subject=subject, text=text, message_id=message_id,
                       in_reply_to=self.names.get(in_reply_to) if in_reply_to else None, headers=headers,
                       attachments=attachments, cc=cc)
        self.kept[message_id] = raw
        return await self.convert(raw, parse(raw))

    async def originals(self, message_ids: list[str]) -> dict[str, bytes]:
        return {i: self.kept[i] for i in message_ids if i in self.kept}

    async def _deliver(self, mail: EmailMessage, to: str, message: OutboundMessage) -> None:
        name = f"mail-{next(self._lines)}"
        self.names[name] = str(mail["Message-ID"])
        line: dict[str, object] = {"at": self.at(), "to": f"mail:{to}", "visibility": Visibility.PRIVATE.value,
                                   "kind": message.kind, "ticket": message.ticket, "subject": str(mail["Subject"]),
                                   "text": message.text, "id": name}
        if message.buttons:
            line["buttons"] = [b.action for b in message.buttons]
        files = [part for part in mail.iter_attachments()]
        if files:
            line["files"] = [{"name": part.get_filename(), "type": part.get_content_type(),
                              "bytes": len(part.get_payload(decode=True) or b"")} for part in files]
        self.emit(line)
