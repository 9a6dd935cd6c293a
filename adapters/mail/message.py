"""One inbound mail, taken apart: who wrote it, what it answers, its text and pictures, and whether it is an
automatic mail that must never be answered (RFC 3834).

Nothing here trusts the mail: headers with encoded words in unknown charsets, 8-bit bytes where ASCII belongs,
a multipart without its boundary, or no headers at all give a :class:`InboundMail` with what could be read
(replacement characters for the rest), never an exception.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from html.parser import HTMLParser

MAX_TEXT = 20_000

_ID = re.compile(r"<[^<>\s]+>")
_TICKET = re.compile(r"\[([A-Z][A-Z0-9]{0,9}-\d{1,9})\]")
# addresses no person reads: their mails are never answered
_ROBOT = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|noreply-[^@]*)(\+[^@]*)?@", re.I)


@dataclass(frozen=True)
class File:
    """An attachment; the core keeps pictures (JPG, GIF, PNG) on the ticket and refuses the rest in its reply."""

    name: str
    mime_type: str
    size: int
    data: bytes = field(default=b"", repr=False, compare=False)   # the decoded bytes (sent on to the vendor)


@dataclass
class InboundMail:
    message_id: str              # "<id@host>", or "<sha256@dutydesk>" for a mail without one
    sender: str                  # the address, lower case ("" when none could be read)
    sender_name: str
    subject: str
    text: str                    # the new words: text part (or HTML as text), quotes and signature trimmed
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    to: tuple[str, ...] = ()     # To and Cc addresses, lower case
    files: list[File] = field(default_factory=list)
    automatic: str | None = None    # why it must not be answered (Auto-Submitted, a list, a robot), or None
    bounce: bool = False            # a delivery status notification
    malformed: bool = False         # the parser found defects (stored and reported, still handled)

    @property
    def ticket_in_subject(self) -> str | None:
        match = _TICKET.search(self.subject)
        return match[1] if match else None

    @property
    def tickets_in_subject(self) -> list[str]:
        """Every ``[KEY-N]`` of the subject, in order: another desk's id may come first ("[DL-4711] Re: [HW-1]")."""
        return [match[1] for match in _TICKET.finditer(self.subject)][:5]

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The mails this one answers, nearest first."""
        return self.in_reply_to + tuple(reversed(self.references))


def _header(message: Message, name: str) -> str:
    """A header as text, whatever its encoding: encoded words decoded, unknown charsets and 8-bit bytes
    replaced, folded lines joined."""
    try:
        value = message.get(name)
    except Exception:
        value = None
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        text = ""
    if not text:
        raw = message.get_all(name) or []
        try:
            text = str(make_header(decode_header(str(raw[0])))) if raw else ""
        except Exception:
            text = str(raw[0]) if raw else ""
    return re.sub(r"\s*\r?\n\s*", " ", text.encode("utf-8", "replace").decode("utf-8")).strip()


def _ids(value: str) -> tuple[str, ...]:
    return tuple(_ID.findall(value))


def _addresses(message: Message, *names: str) -> tuple[str, ...]:
    found = []
    for name in names:
        try:
            values = [str(v) for v in message.get_all(name) or []]
        except Exception:
            values = []
        for _, address in email.utils.getaddresses(values):
            if "@" in address:
                found.append(address.strip().lower())
    return tuple(found)


class _Text(HTMLParser):
    """HTML to plain text: blocks become lines, links keep their address, scripts and styles vanish."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._quote = 0
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag == "blockquote":
            self._quote += 1   # quoted history: trimmed like "> " lines
        elif tag == "a":
            self._href = dict(attrs).get("href")
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag == "blockquote":
            self._quote = max(0, self._quote - 1)
        elif tag == "a" and self._href and self._href.startswith(("http://", "https://")):
            self.parts.append(f" ({self._href})")
            self._href = None
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._quote:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", html)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# the line a mail program puts above the quoted mail ("On Tue, Maria wrote:", "Am … schrieb …:", "… написал(а):")
_ATTRIBUTION = re.compile(
    r"^(on .{0,200} wrote:|am .{0,200} schrieb .{0,200}:|.{0,200} (написал|написала|написал\(а\)):"
    r"|-{2,} ?(original message|ursprüngliche nachricht|исходное сообщение|forwarded message) ?-{2,}"
    r"|(from|von|от): .{0,200}$)", re.I)


def trim(text: str) -> str:
    """The new words of a reply: without the quoted history (``>`` lines, and everything below an attribution
    line) and without the signature (below ``-- ``)."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if line.rstrip() == "--" or line == "-- ":
            break   # the signature separator (RFC 3676)
        if _ATTRIBUTION.match(stripped) and kept:
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    result = "\n".join(kept).strip()
    return result or text.strip()


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        return str(content)
    except Exception:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            charset = part.get_content_charset() or "utf-8"
            try:
                return payload.decode(charset, "replace")
            except LookupError:
                return payload.decode("utf-8", "replace")
        return str(payload or "")


def _automatic(message: Message, sender: str) -> str | None:
    auto = _header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe"):
        if _header(message, name):
            return name
    if _header(message, "X-Auto-Response-Suppress").lower() in ("all", "autoreply", "oof"):
        return "X-Auto-Response-Suppress"
    if not sender or _ROBOT.match(sender):
        return f"sender {sender or '(none)'}"
    return None


def parse(raw: bytes) -> InboundMail:
    """Takes a mail apart; never raises."""
    try:
        message: Message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:
        message = email.message_from_bytes(raw)
    defects = list(getattr(message, "defects", []))
    message_ids = _ids(_header(message, "Message-ID"))
    # no Message-ID (or a broken one): the mail's own bytes name it, so the same mail fetched again is the same
    message_id = message_ids[0] if message_ids else f"<{hashlib.sha256(raw).hexdigest()[:40]}@dutydesk.invalid>"
    from_value = _header(message, "From")
    name, address = email.utils.parseaddr(from_value)
    address = address.strip().lower() if "@" in address else ""
    subject = _header(message, "Subject")
    content_type = message.get_content_type()
    bounce = content_type == "multipart/report" or bool(_header(message, "X-Failed-Recipients"))
    plain, html = "", ""
    files: list[File] = []
    try:
        parts = list(message.walk())
    except Exception:
        parts, defects = [message], [*defects, "walk"]
    for part in parts:
        if part.is_multipart():
            continue
        disposition = (part.get_content_disposition() or "").lower()
        filename = None
        try:
            filename = part.get_filename()
        except Exception:
            filename = "attachment"
        kind = part.get_content_type()
        if disposition == "attachment" or (filename and kind not in ("text/plain", "text/html")):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            shown = (filename or "attachment").replace("\n", " ")[:200]
            files.append(File(shown, kind, size, payload if isinstance(payload, bytes) else b""))
        elif kind == "text/plain" and not plain:
            plain = _part_text(part)
        elif kind == "text/html" and not html:
            html = _part_text(part)
        defects += list(getattr(part, "defects", []))
    body = plain if plain.strip() else html_to_text(html)
    text = trim(body)[:MAX_TEXT]
    return InboundMail(
        message_id=message_id, sender=address, sender_name=(name or "").strip()[:200], subject=subject[:500],
        text=text, in_reply_to=_ids(_header(message, "In-Reply-To")), references=_ids(_header(message, "References")),
        to=_addresses(message, "To", "Cc"), files=files,
        automatic=_automatic(message, address), bounce=bounce, malformed=bool(defects),
    )


def headers_of(message: EmailMessage) -> dict[str, str]:
    return {key: str(value) for key, value in message.items()}
