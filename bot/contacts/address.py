"""What a staff member types as a contact: ``maria@example.com``, ``Maria Huber <maria@example.com>``, a phone
number (``+49 30 1234567``, ``030/1234567``), or a name with a number (``Maria Huber +49 30 1234567``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

from bot.core.errors import Refused

# an address the bot can write to: one @, a dotted domain, no spaces, no angle brackets or quotes
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
# what people write in a number: digits, one leading +, spaces, dashes, dots, slashes and brackets
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]*[0-9]")
_NAME_AND_PHONE = re.compile(r"(?P<name>.*?[^\d\s+()./-].*?)\s+(?P<phone>\+?[0-9][0-9 ()./-]*[0-9])")
# E.164 allows 15 digits; fewer than 5 is an extension, not a number to call back
MIN_DIGITS, MAX_DIGITS = 5, 15
MAX_EMAIL = 254  # RFC 5321's path limit
MAX_NAME = 200


@dataclass(frozen=True)
class ContactAddress:
    """A parsed contact: at least one of ``email`` (lower case) and ``phone`` (``+4930…`` or ``030…``)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def label(self) -> str:
        """How the contact is named to the team: the name, else the address, else the number."""
        return self.name or self.email or self.phone or "?"


def normal_email(text: str) -> str | None:
    """The address in lower case, or None where ``text`` is no address the bot can write to."""
    address = text.strip()
    if len(address) > MAX_EMAIL or not _EMAIL.fullmatch(address):
        return None
    local, _, _domain = address.rpartition("@")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    # the local part may be case-sensitive in theory; in practice no mailbox is, and one contact per mailbox
    # matters more than that theory
    return address.lower()


def normal_phone(text: str) -> str | None:
    """The number with only its digits and a leading ``+`` (``00`` becomes ``+``), or None where it is none."""
    raw = text.strip()
    if not _PHONE.fullmatch(raw) or raw.count("(") != raw.count(")"):
        return None
    digits = re.sub(r"\D", "", raw)
    plus = raw.startswith("+")
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    return ("+" if plus else "") + digits


def parse(text: str) -> ContactAddress:
    """The contact in ``text``; Refused (``contact.invalid``) with what was typed when it is none."""
    raw = " ".join(text.split())
    if not raw:
        raise Refused("contact.invalid", text=text)
    if "@" in raw:
        name, address = parseaddr(raw)
        email = normal_email(address) if address else None
        # parseaddr is lenient: "a b@c.de" gives "b@c.de" — the whole input must be the address or Name <address>
        whole = raw == address or raw.endswith(f"<{address}>")
        if email is None or not whole:
            raise Refused("contact.invalid", text=raw[:120])
        return ContactAddress(name=_name(name), email=email)
    phone = normal_phone(raw)
    if phone is not None:
        return ContactAddress(phone=phone)
    match = _NAME_AND_PHONE.fullmatch(raw)
    if match is not None:
        phone = normal_phone(match["phone"])
        if phone is not None:
            return ContactAddress(name=_name(match["name"]), phone=phone)
    raise Refused("contact.invalid", text=raw[:120])


def _name(text: str | None) -> str | None:
    name = (text or "").strip().strip('"').strip()
    return name[:MAX_NAME] or None
