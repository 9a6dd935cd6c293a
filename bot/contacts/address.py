"""What a staff member types as a contact: ``maria@example.com``, ``Maria Huber <maria@example.com>``, a phone
number (``+49 30 1234567``, ``030/1234567``), or a name with a number (``Maria Huber +49 30 1234567``).

Numbers are checked and kept with Google's numbering plans (``phonenumbers``): a number without its country code
is read in the desk's country (:func:`region_of`: ``[desk] country``, else the country of the desk calendar's
holidays), kept as E.164 (``+49301234567``) and shown for reading (``+49 30 1234567``, :func:`shown_phone`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING

import phonenumbers
from babel import Locale

from bot.core.errors import Refused, Worded

if TYPE_CHECKING:
    from bot.settings import Settings

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
        return self.name or self.email or shown_phone(self.phone) or "?"


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


def region_of(settings: Settings) -> str | None:
    """The country a number without its country code is read in: ``[desk] country``, else the country of the
    holidays of the desk's calendar (``DE-BE`` → ``DE``), else of the only calendar with holidays; else None."""
    if settings.desk.country:
        return settings.desk.country
    calendars = settings.calendars
    chosen = calendars.get(settings.desk.calendar or "") if settings.desk.calendar else None
    if chosen is None and settings.duty is not None:
        chosen = calendars.get(settings.duty.calendar or "")
    spec = chosen.holidays if chosen is not None else None
    if spec is None:
        countries = {c.holidays.partition("-")[0].upper() for c in calendars.values() if c.holidays}
        spec = countries.pop() if len(countries) == 1 else None
    region = spec.partition("-")[0].upper() if spec else None
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def normal_phone(text: str, region: str | None = None) -> str | None:
    """The number as E.164 (``+49301234567``; ``00`` counts as ``+``), or None where it is no number.
    Without its country code it is read in ``region``; without a region such a number is kept as its digits.
    Raises Refused (``contact.bad_phone``) for something that looks like a number but is none in its country."""
    raw = text.strip()
    if not _PHONE.fullmatch(raw) or raw.count("(") != raw.count(")"):
        return None
    digits = re.sub(r"\D", "", raw)
    plus = raw.startswith("+")
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    if not plus and region is None:
        return digits  # nothing to read it in: kept as typed, shown as typed
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, None if plus else region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        if region is None:
            raise Refused("contact.bad_phone_plain", text=raw[:40])
        raise Refused("contact.bad_phone", text=raw[:40], country=country_name(region))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def kept_forms(phone: str) -> list[str]:
    """How a number may be kept: as E.164, and (by contacts made before numbers were read in the desk's country)
    as the digits of its national form (``+49301234567`` → ``0301234567``)."""
    forms = [phone]
    if phone.startswith("+"):
        try:
            national = phonenumbers.format_number(phonenumbers.parse(phone, None),
                                                  phonenumbers.PhoneNumberFormat.NATIONAL)
        except phonenumbers.NumberParseException:
            return forms
        digits = re.sub(r"\D", "", national)
        if digits and digits != phone.lstrip("+"):
            forms.append(digits)
    return forms


def country_name(region: str) -> Worded:
    """``DE`` as the reader says it: Germany, Deutschland, Германия (CLDR, through Babel)."""
    return Worded(region, lambda lang: Locale.parse(lang).territories.get(region, region))


def shown_phone(number: str | None, region: str | None = None) -> str:
    """A kept number for reading: ``+49301234567`` → ``+49 30 1234567`` (international format; a number kept
    without its country code is read in ``region``); what cannot be read is shown as it is."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, None if number.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def parse(text: str, region: str | None = None) -> ContactAddress:
    """The contact in ``text`` (a number without its country code read in ``region``); Refused
    (``contact.invalid``) with what was typed when it is none, (``contact.bad_phone``) for a number that
    does not exist in its country."""
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
    phone = normal_phone(raw, region)
    if phone is not None:
        return ContactAddress(phone=phone)
    match = _NAME_AND_PHONE.fullmatch(raw)
    if match is not None:
        phone = normal_phone(match["phone"], region)
        if phone is not None:
            return ContactAddress(name=_name(match["name"]), phone=phone)
    raise Refused("contact.invalid", text=raw[:120])


def _name(text: str | None) -> str | None:
    name = (text or "").strip().strip('"').strip()
    return name[:MAX_NAME] or None
