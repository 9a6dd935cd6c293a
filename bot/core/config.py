"""What every feature's settings model shares (docs/configuration.md).

- :class:`Section`: a table of ``dutydesk.toml`` that refuses keys it does not know.
- :func:`refuse` / :class:`Problems`: a validator reports one or several problems, each at a key below the
  field or model it validates (``members[1]``, ``lease_renew``); ``bot/settings.py`` turns them into lines.
- References between sections (``[duty] members`` name ``[people.*]`` keys, ``[desk] calendar`` a
  ``[calendars.*]`` name): while a config is validated, :func:`loading` holds its raw data, so a feature's
  validator checks a name against the other section (:func:`defined`, :func:`keys_of`) in the same pass as
  everything else, also when that other section has problems of its own. A model built outside a load (a
  test, a default) skips these checks.
- :func:`did_you_mean` for misspelt names; :func:`unknown` words an unknown reference.
- :class:`DeskConfig`, the ``[desk]`` section, and :data:`TimeZoneName`.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import timedelta
from typing import Annotated, Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, field_serializer, field_validator
from pydantic_core import PydanticCustomError

ENV_PREFIX = "DUTYDESK_"  # DUTYDESK_DESK__LANGUAGE=de overrides [desk] language
PROBLEMS = "dutydesk_problems"  # the error type of problems raised by refuse()
# a channel entry may name its platform: "slack:#support-duty" (a Matrix alias keeps its ":server" part)
PLATFORM_PREFIXES = ("slack", "matrix")

_LOADING: ContextVar[Mapping[str, Any] | None] = ContextVar("dutydesk_config_loading", default=None)


class Section(BaseModel):
    """A table of the config: unknown keys are problems (with "did you mean …")."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- problems


class Problems:
    """Problems one validator finds; ``at`` is the key below the validated field or model ("" for itself)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, at: str, message: str) -> None:
        self.found.append((at, message))

    def raise_any(self) -> None:
        if self.found:
            refuse(*self.found)


def refuse(*problems: tuple[str, str]) -> NoReturn:
    """Fails validation with each ``(at, message)`` as a line of its own."""
    raise PydanticCustomError(PROBLEMS, "{summary}", {"summary": "; ".join(m for _, m in problems),
                                                     "problems": tuple(problems)})


# --------------------------------------------------------------------------- the config being loaded


@contextlib.contextmanager
def loading(data: Mapping[str, Any]) -> Iterator[None]:
    """Makes ``data`` (the raw config, environment merged in) what :func:`defined` reads while it is validated."""
    token = _LOADING.set(data)
    try:
        yield
    finally:
        _LOADING.reset(token)


def defined(*path: str) -> Any:
    """The raw value at ``path`` of the config being loaded (None when absent, or outside a load)."""
    value: Any = _LOADING.get()
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def is_loading() -> bool:
    return _LOADING.get() is not None


def keys_of(*path: str) -> frozenset[str] | None:
    """The keys of the table at ``path`` of the config being loaded; None outside a load or when that is no
    table (its own problem, reported there; references to it are not checked then)."""
    if not is_loading():
        return None
    value = defined(*path)
    if value is None:
        return frozenset()
    return frozenset(str(key) for key in value) if isinstance(value, Mapping) else None


# --------------------------------------------------------------------------- names


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` is most likely a misspelling of, if any is close enough."""
    found = difflib.get_close_matches(word, [str(choice) for choice in choices], n=1, cutoff=0.6)
    return found[0] if found else None


def unknown(noun: str, value: str, known: Iterable[str], plural: str, *, add: str | None = None,
            of: str | None = None) -> str:
    """``unknown person "bbo"; did you mean "ben"? (people: anna, ben)``, or the list and what to add."""
    names = sorted(known)
    listed = ", ".join(names) or "none defined"
    what = f"unknown {noun} \"{value}\"" + (f" of {of}" if of else "")
    guess = did_you_mean(value, names)
    if guess is not None:
        return f"{what}; did you mean \"{guess}\"? ({plural}: {listed})"
    return f"{what} ({plural}: {listed})" + (f"; add {add}" if add else "")


def check_refs(values: str | list[str] | None, table: str, noun: str, plural: str) -> None:
    """Refuses each value that is no key of the config's ``[table.*]`` (list items at ``[i]``)."""
    known = keys_of(table)
    if known is None or values is None:
        return
    problems = Problems()
    items = [("", values)] if isinstance(values, str) else [(f"[{i}]", v) for i, v in enumerate(values)]
    for at, value in items:
        if value not in known:
            problems.add(at, unknown(noun, value, known, plural, add=f"[{table}.{value}]"))
    problems.raise_any()


def _refs(table: str, noun: str, plural: str) -> AfterValidator:
    def check(values: Any) -> Any:
        check_refs(values, table, noun, plural)
        return values

    return AfterValidator(check)


# references to other sections: a person (a [people.*] key), a calendar, an SLA policy
PersonKey = Annotated[str, _refs("people", "person", "people")]
PersonKeys = Annotated[list[str], _refs("people", "person", "people")]
CalendarName = Annotated[str, _refs("calendars", "calendar", "calendars")]
PolicyName = Annotated[str, _refs("sla", "SLA policy", "policies")]


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone {name!r}: use an IANA zone name, e.g. "Europe/Berlin" or "Europe/Moscow"'
        ) from None
    return name


TimeZoneName = Annotated[str, AfterValidator(check_zone)]
Language = Literal["de", "en", "ru"]


class DeskConfig(Section):
    """``[desk]``: the desk's name, language, ticket prefix, default calendar and SLA policy, display zone.

    ``timezone`` left out is the zone of the desk's calendar (of the duty's calendar, or of the one calendar the
    config has); only a desk without any calendar shows UTC, and ``check-config`` warns about it."""

    name: str = "dutydesk"
    language: Language = "en"
    ticket_prefix: str = "T"
    calendar: CalendarName | None = None
    sla: PolicyName | None = None
    timezone: TimeZoneName = "UTC"
    # de "Sie", ru "вы" in everything the bot says to requesters; false: "du", "ты" (the catalogues' informal:)
    formal: bool = True
    # a requester's DM within this time of their last message on their open ticket goes into that ticket;
    # a later one is asked about (bot/tickets/conversation.py)
    follow_up: timedelta = timedelta(minutes=30)
    # a closed ticket's private space is archived (Slack) or closed (Matrix: the requester leaves it) after the
    # bot's last words there; reopening the ticket makes it usable again
    archive_on_close: bool = True
    # the country a phone number without its country code is read in (ISO 3166 code, "DE"); default: the country
    # of the desk calendar's holidays (bot/contacts/address.py)
    country: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import phonenumbers

        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is no country with phone numbers; write its ISO 3166 code, e.g. \"DE\"")
        return code

    @field_validator("follow_up", mode="before")
    @classmethod
    def _follow_up(cls, value: Any) -> timedelta:
        # parsed as every wall-clock duration of the config; imported here: bot.sla's own config imports this module
        from pydantic import TypeAdapter

        from bot.sla.durations import WallDuration

        return TypeAdapter(WallDuration).validate_python(value)

    @field_serializer("follow_up", when_used="json")
    def _follow_up_text(self, value: timedelta) -> str:
        from bot.sla.durations import duration_text

        return duration_text(value)

    @field_validator("ticket_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", value):
            raise ValueError("must be 1 to 8 capital letters or digits, starting with a letter, e.g. \"HW\"")
        return value
