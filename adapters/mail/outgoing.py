"""Mails the bot sends: the core's outbox messages to an address (a requester's receipt, an agent's reply, the
satisfaction question), threaded into the ticket's mail thread.

- Subject ``[HW-42] <the request's subject>``; ``Message-ID`` derived from the outbox row (a retried delivery
  carries the same id); ``In-Reply-To`` and ``References`` from the thread, so mail programs thread it.
- Every mail carries ``Auto-Submitted`` (RFC 3834): ``auto-replied`` for an answer to a mail, else
  ``auto-generated``; and ``X-Auto-Response-Suppress: All`` so out-of-office robots stay quiet.
- Never sent: to robots (mailer-daemon, noreply, …), into a thread that an automatic mail began, and answers
  beyond ``[mail] answers_per_hour`` to one address (agents' replies and the satisfaction question excepted).
- Buttons become words to answer with; a reply whose first line is one of them presses it (see runtime).
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from datetime import datetime, timedelta
from email.message import EmailMessage

from adapters.mail.threads import Thread
from bot.core.types import Button, MessageKind, OutboundMessage
from bot.i18n import t

# answers the bot gives by itself to a mail: rate-limited per address, marked auto-replied
ANSWER_KINDS = frozenset({MessageKind.RECEIPT, MessageKind.ERROR, MessageKind.AUTO_ANSWER, MessageKind.LIMITED,
                          MessageKind.INTAKE})
# what people wrote (an agent's reply, the solution, the satisfaction question): never held back by the limit
PERSONAL_KINDS = frozenset({MessageKind.REPLY, MessageKind.SOLUTION, MessageKind.FEEDBACK, MessageKind.FORWARD})
_ROBOT = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(\+[^@]*)?@|\.invalid$", re.I)
_RE = re.compile(r"^\s*((re|aw|sv|antw|ответ)\s*:\s*)+", re.I)


def robot(address: str) -> bool:
    return bool(_ROBOT.search(address))


def message_id(message: OutboundMessage, to: str, domain: str) -> str:
    digest = hashlib.sha256(f"{message.id}:{to}".encode()).hexdigest()[:16]
    return f"<dutydesk.{message.id}.{digest}@{domain}>"


def ticket_subject(key: str, subject: str) -> str:
    base = _RE.sub("", subject).strip()
    base = re.sub(r"\[" + re.escape(key) + r"\]\s*", "", base).strip()
    return f"[{key}] {base}".strip()


def within_limit(sent: list[str], now: datetime, limit: int) -> tuple[bool, list[str]]:
    """Whether one more answer may go to an address that got answers at ``sent`` (ISO instants); the
    instants of the last hour, with this one when it may."""
    recent = [at for at in sent if _parse(at) is not None and now - _parse(at) < timedelta(hours=1)]  # type: ignore[operator]
    if len(recent) >= limit:
        return False, recent
    return True, [*recent, now.isoformat()]


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def body(message: OutboundMessage, lang: str, desk: str) -> str:
    parts = [message.text.strip()]
    if message.buttons:
        parts.append(t(lang, "mail.choices", choices=" / ".join(b.label for b in message.buttons)))
    if message.ticket:
        parts.append("-- \n" + t(lang, "mail.footer", desk=desk, key=message.ticket))
    return "\n\n".join(parts) + "\n"


def compose(message: OutboundMessage, *, sender: str, sender_name: str, to: str, subject: str, thread: Thread | None,
            lang: str, now: datetime, personal: bool = False) -> EmailMessage:
    """The mail for ``message``. ``personal``: a mail a person had the bot send (the report to the vendor, on an
    authorised person's command): ``Auto-Submitted: no`` (RFC 3834), so the vendor's system answers it with its
    ticket id, and no footer that asks to answer in chat."""
    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((sender_name, sender))
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = email.utils.format_datetime(now)
    mail["Message-ID"] = message_id(message, to, sender.rpartition("@")[2] or "dutydesk.invalid")
    references = thread.references() if thread is not None else []
    if references:
        mail["In-Reply-To"] = references[-1]
        mail["References"] = " ".join(references)
    if personal:
        mail["Auto-Submitted"] = "no"
        mail.set_content(message.text.strip() + "\n")
        return mail
    mail["Auto-Submitted"] = "auto-replied" if message.kind in ANSWER_KINDS else "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(body(message, lang, sender_name))
    return mail


def pressed(text: str, buttons: list[Button]) -> Button | None:
    """The button a reply presses: its first line is the button's label or action (any case)."""
    first = next((line.strip().strip(".!").lower() for line in text.splitlines() if line.strip()), "")
    for button in buttons:
        if first in (button.label.lower(), button.action.lower()):
            return button
    return None
