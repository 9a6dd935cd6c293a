"""The configuration (docs/configuration.md): a TOML file, overridden by ``DUTYDESK_…`` variables.

This module only composes: each section's model lives next to its feature and checks itself, references
to other sections included (bot/core/config.py says how). Here the file is read, the environment merged in,
secrets refused in the file, and every problem turned into one line that names the file and the key — all
of them in one run, with "did you mean …" for a misspelt key or choice.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, cast, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.access.config import AccessConfig, PersonConfig, SenderRule
from bot.calendar.config import CalendarConfig
from bot.core.config import ENV_PREFIX, PROBLEMS, DeskConfig, did_you_mean, loading
from bot.duty.config import DutyConfig
from bot.infra.config import HaConfig, OpsConfig, StorageConfig
from bot.infra.platforms import E2E_INSTALL, MailConfig, MailServer, MatrixConfig, SlackConfig, e2e_installed
from bot.privacy.config import ChannelsConfig
from bot.reports.config import ReportsConfig
from bot.sla.config import SlaPolicyConfig
from bot.tickets.config import LimitsConfig
from bot.workflow.config import (
    CategoryConfig,
    DeferralConfig,
    DeletionConfig,
    FaqEntry,
    Intake,
    ResolutionConfig,
    RoutingRule,
    TriageConfig,
    VendorConfig,
)

CONTRACT = "docs/configuration.md"

# the adapters reach the configuration through this module only (the import contracts in pyproject.toml)
__all__ = ["E2E_INSTALL", "ChannelsConfig", "ConfigError", "MailConfig", "MailServer", "Settings", "e2e_installed",
           "load_settings", "settings_from_data"]


class ConfigError(Exception):
    """A config that cannot run; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """The whole configuration; build it with :func:`load_settings`. One field per section."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )

    desk: DeskConfig = Field(default_factory=DeskConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    calendars: dict[str, CalendarConfig] = Field(default_factory=dict)
    sla: dict[str, SlaPolicyConfig] = Field(default_factory=dict)
    people: dict[str, PersonConfig] = Field(default_factory=dict)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    duty: DutyConfig | None = None
    routing: list[RoutingRule] = Field(default_factory=list)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    vendor: VendorConfig | None = None
    # the handbooks' processes (bot/workflow/config.py)
    access: AccessConfig = Field(default_factory=AccessConfig)
    senders: list[SenderRule] = Field(default_factory=list)
    intake: Intake = Field(default_factory=list)
    triage: TriageConfig | None = None
    categories: dict[str, CategoryConfig] = Field(default_factory=dict)
    faq: dict[str, FaqEntry] = Field(default_factory=dict)
    deferral: DeferralConfig | None = None
    deletion: DeletionConfig | None = None
    resolution: ResolutionConfig | None = None
    slack: SlackConfig = Field(default_factory=SlackConfig)
    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    mail: MailConfig = Field(default_factory=MailConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    ha: HaConfig = Field(default_factory=HaConfig)

    # where the settings came from, for messages; not a config key
    source: str = Field(default="(defaults)", exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment overrides the file, which is handed in as init kwargs
        return (env_settings, init_settings)

    @model_validator(mode="wrap")
    @classmethod
    def _with_the_whole_config(cls, data: Any, handler: Any) -> Settings:
        # the sections' validators check names against other sections of this same config (bot/core/config.py)
        with loading(data if isinstance(data, dict) else {}):
            return cast(Settings, handler(data))

    @model_validator(mode="after")
    def _desk_zone(self) -> Settings:
        # times are shown in the desk's zone: unless [desk] timezone says otherwise, the calendar's
        if "timezone" not in self.desk.model_fields_set:
            zone = self.calendar_zone()
            if zone is not None:
                self.desk.timezone = zone
        return self

    def calendar_zone(self) -> str | None:
        """The zone of the desk's calendar: [desk] calendar, else [duty] calendar, else the only zone of all."""
        for name in (self.desk.calendar, self.duty.calendar if self.duty is not None else None):
            if name and name in self.calendars:
                return self.calendars[name].timezone
        zones = {calendar.timezone for calendar in self.calendars.values()}
        return zones.pop() if len(zones) == 1 else None

    def warnings(self) -> list[str]:
        """What loads but is likely not meant: printed by ``check-config``."""
        found = []
        if self.desk.timezone == "UTC" and "timezone" not in self.desk.model_fields_set:
            found.append('[desk] timezone: not set and no calendar to take it from, so times are shown in UTC; set '
                         'it to the desk\'s zone, e.g. timezone = "Europe/Berlin"')
        found += self.forgeable_mail()
        if self.mail.vendor and self.vendor is None:
            found.append(f"[mail] vendor: reports would go to {self.mail.vendor}, but there is no [vendor] section "
                         "(who may report, the vendor's hours), so /ticket vendor refuses every report; add [vendor]")
        if self.mail.vendor_ticket and not self.mail.vendor:
            found.append("[mail] vendor_ticket: set, but without [mail] vendor no vendor's mail is recognised")
        return found

    def forgeable_mail(self) -> list[str]:
        """The team's mail addresses: nothing checks a mail's sender, so a mail that says it is from one of them
        counts as theirs (the team's word in a ticket) whoever sent it."""
        return [f"people.{key}.email: a mail's sender is not checked, so anybody can send mail as {person.email} "
                f"and the ticket shows it as {person.name or key}'s, the support team's word (it runs no commands); "
                "set email only where your mail server rejects forged mail from that domain (DMARC p=reject), "
                "or leave it out" for key, person in self.people.items() if person.email]

    @property
    def slack_enabled(self) -> bool:
        return self.slack.enabled

    @property
    def matrix_enabled(self) -> bool:
        return self.matrix.enabled

    @property
    def mail_enabled(self) -> bool:
        return self.mail.enabled

    def person_key_for(self, platform: str, user_id: str) -> str | None:
        for key, person in self.people.items():
            if platform == "mail" and person.email and person.email.strip().lower() == user_id.strip().lower():
                return key
            if platform == "slack" and person.slack == user_id:
                return key
            if platform == "matrix" and person.matrix == user_id:
                return key
        return None


# --------------------------------------------------------------------------- the model, walked


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The section models an annotation holds (through Optional, Annotated, list items and dict values)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _models(get_args(annotation)[0])
    elif origin in (Union, UnionType, list, dict):
        args = get_args(annotation)
        for arg in args[1:] if origin is dict else args:
            yield from _models(arg)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation of what is at ``part`` below a value of ``annotation`` (None: nothing known)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _step(get_args(annotation)[0], part)
    if origin in (Union, UnionType):
        return next((found for arg in get_args(annotation) if (found := _step(arg, part)) is not None), None)
    if origin is list:
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    return None


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the section at ``loc`` knows (for "did you mean" on an unknown key)."""
    annotation: Any = Settings
    for part in loc:
        annotation = _step(annotation, part)
    if annotation is None:
        return []
    while get_origin(annotation) in (Annotated, Union, UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not NoneType)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [name for name in annotation.model_fields if name != "source"]
    return []


def secret_keys() -> dict[str, tuple[str, ...]]:
    """The secrets of each section: its ``SecretStr`` fields, read only from the environment."""
    found: dict[str, tuple[str, ...]] = {}
    for section, field in Settings.model_fields.items():
        for model in _models(field.annotation):
            keys = tuple(key for key, f in model.model_fields.items() if SecretStr in (f.annotation,
                                                                                      *get_args(f.annotation)))
            if keys:
                found[section] = keys
    return found


# --------------------------------------------------------------------------- problems as lines


def _format_loc(loc: tuple[str | int, ...], *, brackets: bool = False) -> str:
    # a key with a line break or another invisible character is shown quoted, so a problem stays one line;
    # dutydesk's own problems write list items as [i] (duty.members[1]), pydantic's keep its form
    text = ""
    for part in loc:
        if brackets and isinstance(part, int):
            text += f"[{part}]"
            continue
        shown = str(part) if str(part).isprintable() else json.dumps(str(part))
        text += ("." if text else "") + shown
    return text


def _join(key: str, at: str) -> str:
    if not at:
        return key
    return key + at if at.startswith("[") or not key else f"{key}.{at}"


def _one_line(message: str) -> str:
    return message.removeprefix("Value error, ").replace("\r", "\\r").replace("\n", "\\n")


def _lines(source: str, err: ErrorDetails) -> list[str]:
    """One line per problem of a validation error (one of ours may carry several)."""
    loc = tuple(err["loc"])
    if err["type"] == PROBLEMS:
        key = _format_loc(loc, brackets=True)
        return [f"{source}: {_join(key, at)}: {_one_line(message)}" for at, message in err["ctx"]["problems"]]
    message = _one_line(err["msg"])
    if err["type"] == "extra_forbidden":
        guess = did_you_mean(str(loc[-1]), _keys_at(loc[:-1]))
        message = f"unknown key; did you mean \"{guess}\"?" if guess else \
            f"unknown key; check the spelling against {CONTRACT}"
    elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
        guess = did_you_mean(err["input"], re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", ""))))
        message += f"; did you mean '{guess}'?" if guess else ""
    return [f"{source}: {_format_loc(loc)}: {message}"]


# --------------------------------------------------------------------------- loading


# a config is a few kilobytes; anything this large is a wrong path (or /dev/zero), not a config
MAX_CONFIG_BYTES = 1_000_000


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML; a file that cannot be one (a device, too large, not UTF-8, nested too deeply) is a
    ConfigError that says so, never a hang or a traceback."""
    try:
        if path.exists() and not path.is_file():
            raise ConfigError([f"{path}: not a regular file; pass the config file with --config"])
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}: larger than {MAX_CONFIG_BYTES // 1_000_000} MB, which no config is; "
                               "check the path"])
        return tomllib.loads(raw.decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file; pass an existing file with --config"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid TOML: its tables or arrays are nested too deeply"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from None


def _without_secrets(data: dict[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """The file's data without secrets, and a problem for each secret found in it."""
    data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in data.items()}
    problems = []
    for section, keys in secret_keys().items():
        table = data.get(section)
        if isinstance(table, dict):
            for key in keys:
                if table.pop(key, None) is not None:
                    env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
                    problems.append(f"{source}: {section}.{key}: secrets are not read from the config file; "
                                    f"remove it and set the environment variable {env}")
    if data.pop("source", None) is not None:
        problems.append(f"{source}: source: unknown key; check the spelling against {CONTRACT}")
    return data, problems


def load_settings(path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Reads the config file (if any) and the environment; raises :class:`ConfigError` on any problem."""
    if path is None:
        return settings_from_data({}, "(environment)", env=env)
    return settings_from_data(_read_toml(Path(path)), str(path), env=env)


def settings_from_data(data: dict[str, Any], source: str, *, env: dict[str, str] | None = None) -> Settings:
    """Builds settings from already parsed config data (a scenario's inline config, say); ``env`` replaces
    the process environment while it is read."""
    data, problems = _without_secrets(data, source)
    if env is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
    try:
        settings = Settings(**data, source=source)
    except ValidationError as exc:
        for err in exc.errors():
            problems += _lines(source, err)
        raise ConfigError(problems) from None
    finally:
        if env is not None:
            os.environ.clear()
            os.environ.update(saved)
    if problems:
        raise ConfigError(problems)
    return settings
