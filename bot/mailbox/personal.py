"""Whether a mail addresses a colleague personally (``[mail] personal``): their ``[people]`` address in To or Cc,
or a greeting of ``[mail] salutations`` followed by their name on the mail's first lines ("Hallo Paul,", "Dear
Paul", "Здравствуйте, Павел"). Names are ``[people.X] name``, its first word, and ``[mail] names``. A pure function
of the configuration and the mail: no database, no clock."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.settings import Settings

FIRST_LINES = 4       # the subject and the first lines of the text: where a salutation stands
_TITLES = r"(?:(?:herr|frau|mr\.?|mrs\.?|ms\.?|dr\.?)\s+)?"


def names_of(settings: Settings, key: str) -> list[str]:
    """What the colleague ``key`` is greeted by, longest first (a full name before its first word)."""
    person = settings.people.get(key)
    found: list[str] = []
    if person is not None and person.name:
        found += [person.name.strip(), person.name.split()[0]]
    found += [name.strip() for name in settings.mail.names.get(key, [])]
    return sorted({n for n in found if n}, key=len, reverse=True)


def _staff(settings: Settings) -> Iterable[str]:
    return (key for key, person in settings.people.items() if person.roles)


def by_address(settings: Settings, recipients: Iterable[str]) -> str | None:
    """The first colleague whose ``[people] email`` is among ``recipients`` (To and Cc)."""
    wanted = [r.strip().lower() for r in recipients]
    own = (settings.mail.address or "").lower()
    for address in wanted:
        if address == own:
            continue
        for key in _staff(settings):
            email = settings.people[key].email
            if email and email.strip().lower() == address:
                return key
    return None


def by_salutation(settings: Settings, text: str) -> str | None:
    """The colleague a greeting on the first lines of ``text`` names."""
    greetings = sorted({g.strip().lower() for g in settings.mail.salutations if g.strip()}, key=len, reverse=True)
    if not greetings:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()][:FIRST_LINES]
    opening = "|".join(re.escape(g) for g in greetings)
    for key in _staff(settings):
        names = names_of(settings, key)
        if not names:
            continue
        pattern = re.compile(rf"^(?:{opening})\s*,?\s+{_TITLES}(?:{'|'.join(re.escape(n) for n in names)})(?!\w)",
                             re.IGNORECASE)
        if any(pattern.match(line) for line in lines):
            return key
    return None


def addressed(settings: Settings, recipients: Iterable[str], text: str) -> str | None:
    """The ``[people]`` key of the colleague the mail addresses personally, or None."""
    ways = settings.mail.personal
    key = by_address(settings, recipients) if "to" in ways else None
    if key is None and "salutation" in ways:
        key = by_salutation(settings, text)
    return key
