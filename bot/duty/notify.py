"""Telling people about the rota: a direct message in the person's own language, or the duty channels."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import identity_of, person_by_key
from bot.core.desk import Desk
from bot.core.errors import Worded
from bot.core.mentions import mention
from bot.core.types import Button, MessageKind, Target, Visibility
from bot.i18n import format as fmt
from bot.i18n import t
from bot.infra.outbox import enqueue


def language_of(desk: Desk, key: str | None) -> str:
    person = desk.settings.people.get(key) if key else None
    return (person.language if person is not None else None) or desk.language


def zone_of(desk: Desk, key: str | None, default: ZoneInfo) -> ZoneInfo:
    person = desk.settings.people.get(key) if key else None
    if person is not None and person.timezone:
        return ZoneInfo(person.timezone)
    return default


def name_of(desk: Desk, key: str | None, lang: str | None = None) -> str:
    if key is None:
        return t(lang or desk.language, "duty.nobody")
    person = desk.settings.people.get(key)
    return (person.name if person is not None else None) or key


def mention_of(desk: Desk, key: str | None, *, at: bool = False) -> str:
    """The person ``key`` named so that their client notifies them where the platform has mentions
    (bot/core/mentions.py; ``at``: shown as ``@Name``); their plain name elsewhere, or "nobody"."""
    name = name_of(desk, key)
    if key is None or key not in desk.settings.people:
        return name
    return mention(key, f"@{name}" if at else name)


def role_name(lang: str, role: str) -> str:
    try:
        return t(lang, f"duty.role.{role}")
    except KeyError:
        return role


def day_text(lang: str, day: date, *, now: date | datetime | None = None) -> str:
    """``Mi., 25. Nov.``, ``Wed 25 Nov``: the reader's form (with the year when it is not near ``now``)."""
    return fmt.day(lang, day, now=now)


class Hours(Worded):
    """A shift's hours worded per reader: in their language, and (:meth:`in_zone`) in their own zone."""

    windows: list[tuple[datetime, datetime]]
    zone: ZoneInfo

    def in_zone(self, lang: str, zone: ZoneInfo) -> str:
        return ", ".join(fmt.hours(lang, start, end, zone) for start, end in self.windows)


def hours_text(windows: Iterable[tuple[datetime, datetime]], zone: ZoneInfo, lang: str | None = None) -> str:
    """``16:00–18:00`` in ``zone`` (several windows joined with commas); without ``lang`` an :class:`Hours`
    that each recipient's message words in their language and zone."""
    shown = list(windows)

    def text(language: str) -> str:
        return ", ".join(fmt.hours(language, start, end, zone) for start, end in shown)

    if lang is not None:
        return text(lang)
    hours = Hours(text("en"), text)
    hours.windows, hours.zone = shown, zone
    return hours


def for_reader(desk: Desk, key: str | None, lang: str, value: object) -> object:
    """``value`` as the person ``key`` reads it: shift hours in their own zone (``[people.X] timezone``), other
    worded values in their language."""
    if isinstance(value, Hours):
        return value.in_zone(lang, zone_of(desk, key, value.zone))
    return value(lang) if callable(value) else value


async def tell(session: AsyncSession, desk: Desk, key: str, text_key: str, /, *, kind: MessageKind = MessageKind.NOTICE,
               buttons: Iterable[Button] = (), ticket: str | None = None, **values: object) -> bool:
    """A direct message to the person ``key`` on the first running platform where they have an account.

    ``values`` may be callables taking the recipient's language (for names of roles and dates);
    ``prefix`` is the command prefix of the platform the message goes to."""
    person = await person_by_key(session, key)
    if person is None:
        return False
    lang = language_of(desk, key)
    filled = {name: for_reader(desk, key, lang, value) for name, value in values.items()}
    for platform in desk.platforms:
        user_id = await identity_of(session, person.id, platform)
        if user_id is None:
            continue
        shown = tuple(buttons) if desk.offers_buttons(platform) else ()
        # stripped: a sentence filled with an empty part ("{told}") ends without a blank
        text = t(lang, text_key, prefix=desk.prefixes.get(platform, "/"), **filled).strip()
        enqueue(session, desk.clock.now(), Target(kind="dm", platform=platform, user_id=user_id),
                text, kind=kind, visibility=Visibility.PRIVATE, buttons=shown, ticket=ticket)
        return True
    return False


def post_duty(desk: Desk, session: AsyncSession, text_key: str, /, *, kind: MessageKind = MessageKind.NOTICE,
              buttons: Iterable[Button] = (), ticket: str | None = None, **values: object) -> None:
    """A message to the duty channels (private), in the desk's language."""
    lang = desk.language
    filled = {name: (value(lang) if callable(value) else value) for name, value in values.items()}
    for target in desk.duty_targets():
        shown = tuple(buttons) if desk.offers_buttons(target.platform) else ()
        text = t(lang, text_key, prefix=desk.prefixes.get(target.platform, "/"), **filled).strip()
        enqueue(session, desk.clock.now(), target, text, kind=kind, visibility=Visibility.PRIVATE, buttons=shown,
                ticket=ticket)
