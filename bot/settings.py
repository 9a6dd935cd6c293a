"""The configuration contract of DESIGN.md: a TOML file, overridden by ``DUTYDESK_…`` variables.

Secrets (tokens, passwords) come only from the environment. Every problem in a config is
reported as one line that names the file and the key, and all of them are reported at once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.calendar.config import CalendarConfig
from bot.sla.config import SlaPolicyConfig
from bot.workflow.config import (
    AccessConfig,
    CategoryConfig,
    DeferralConfig,
    DeletionConfig,
    FaqEntry,
    IntakeRule,
    ResolutionConfig,
    TriageConfig,
)
from bot.workflow.config import check as check_workflows

ENV_PREFIX = "DUTYDESK_"
DEFAULT_DB_URL = "sqlite+aiosqlite:///dutydesk.db"
LANGUAGES = ("de", "en", "ru")
STAFF_ROLES = ("agent", "lead", "coordinator", "admin")
PLATFORM_PREFIXES = ("slack", "matrix")
SECRET_KEYS = {
    "slack": ("bot_token", "app_token", "signing_secret", "user_token"),
    "matrix": ("password", "access_token"),
}


class ConfigError(Exception):
    """A config that cannot run; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeskConfig(Section):
    name: str = "dutydesk"
    language: Literal["de", "en", "ru"] = "en"
    ticket_prefix: str = "T"
    calendar: str | None = None
    sla: str | None = None
    timezone: str = "UTC"

    @field_validator("ticket_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", value):
            raise ValueError("must be 1 to 8 capital letters or digits, starting with a letter, e.g. \"HW\"")
        return value


class StorageConfig(Section):
    url: str = DEFAULT_DB_URL

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "must be an async URL: sqlite+aiosqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
            )
        return value


class PersonConfig(Section):
    name: str | None = None
    slack: str | None = None
    matrix: str | None = None
    timezone: str | None = None
    language: Literal["de", "en", "ru"] | None = None
    roles: list[Literal["agent", "lead", "coordinator", "admin"]] = Field(default_factory=lambda: ["agent"])
    phone: str | None = None


class ChannelsConfig(Section):
    duty: list[str] = Field(default_factory=list)
    guarded: list[str] = Field(default_factory=list)
    privacy_mode: Literal["move", "suggest", "off"] = "suggest"
    # per-channel override of privacy_mode, e.g. {"#general" = "move"}
    modes: dict[str, Literal["move", "suggest", "off"]] = Field(default_factory=dict)
    # the problem-report detector: extra, exclude (patterns per language "de"/"en"/"ru"/"*"),
    # disable_defaults, threshold
    detector: dict[str, Any] = Field(default_factory=dict)

    def duty_entries(self) -> list[tuple[str | None, str]]:
        """Each duty channel as (platform or None for every platform, channel); a Matrix alias keeps its
        server part (``#duty:example.org``), only ``slack:`` and ``matrix:`` are platform prefixes."""
        entries: list[tuple[str | None, str]] = []
        for entry in self.duty:
            prefix, sep, channel = entry.partition(":")
            entries.append((prefix, channel) if sep and prefix in PLATFORM_PREFIXES else (None, entry))
        return entries

    def mode_for(self, channel: str) -> str | None:
        """The privacy mode of a guarded channel; None when the channel is not guarded."""
        if channel not in self.guarded:
            return None
        return self.modes.get(channel, self.privacy_mode)


class DigestConfig(Section):
    every: str = "1h"
    priorities: list[int] = Field(default_factory=lambda: [1])
    post_when_empty: bool = True


class EscalateConfig(Section):
    repeat: str = "15m"
    coordinator: str = "30m"


class DutyConfig(Section):
    calendar: str | None = None
    window: str = "mon-fri 16:00-18:00"
    roles: list[str] = Field(default_factory=lambda: ["phone", "standby"])
    rotation: Literal["alternate-daily", "weekly"] = "alternate-daily"
    members: list[str] = Field(default_factory=list)
    anchor: date | None = None
    coordinator: str | None = None
    digest: DigestConfig = Field(default_factory=DigestConfig)
    escalate: EscalateConfig = Field(default_factory=EscalateConfig)
    handover_ack: str = "30m"
    # what the automatic answer outside duty and office hours tells a requester to call in an emergency
    emergency_phone: str | None = None
    # the mailbox owner who hands over phone and inbox watch at the start of duty (a people key)
    mailbox: str | None = None
    # who covers an absent person's shift without a substitute: team | coordinator | none (see bot/duty/resolve.py)
    fallback: Literal["team", "coordinator", "none"] = "team"


class RoutingRule(Section):
    topic: str
    keywords: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)


class VendorConfig(Section):
    name: str = "vendor"
    authorised: list[str] = Field(default_factory=list)
    sla: str | None = None
    phone: str | None = None
    # offered outside the vendor's hours for emergencies (default: phone)
    emergency_phone: str | None = None


class SlackConfig(Section):
    mode: Literal["socket", "http"] = "socket"
    host: str = "0.0.0.0"
    port: int = 3000
    path: str = "/slack/events"
    api_base_url: str = "https://slack.com/api/"
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    user_token: SecretStr | None = None

    @field_validator("api_base_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class OpsConfig(Section):
    """``/healthz`` and Prometheus ``/metrics`` over HTTP while ``dutydesk run`` runs (also on the Slack
    HTTP endpoint's port in HTTP mode)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9469, ge=0, le=65535)


class HaConfig(Section):
    """Several replicas on one PostgreSQL database (README, "Operations"): the singletons (the Matrix
    sync, the scheduler) run on the replica that holds their lease in ``leases``; it renews the lease
    every ``lease_renew`` for ``lease_ttl``, so after a crash another replica takes over within
    ``lease_ttl + lease_renew``. Every ``recover_every`` each replica finishes inbox events that were
    stored but are still unhandled ``recover_after`` later (a replica died between the two)."""

    lease_ttl: str = "30s"
    lease_renew: str = "10s"
    recover_every: str = "30s"
    recover_after: str = "1m"

    def seconds(self, key: str) -> float:
        """A duration of this section in seconds (the config check has vetted its format)."""
        from bot.sla.durations import parse_duration

        return parse_duration(getattr(self, key)).business_time.total_seconds()


E2E_INSTALL = "pip install 'dutydesk[e2e]'"   # matrix-nio[e2e]: vodozemac and the peewee key store


def e2e_installed() -> bool:
    """Whether matrix-nio's E2EE extra is importable (nio itself only looks for vodozemac; its store needs peewee)."""
    return all(importlib.util.find_spec(name) is not None for name in ("vodozemac", "peewee"))


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite+aiosqlite:///FILE`` URL; None for PostgreSQL or an in-memory database."""
    if not url.startswith("sqlite+aiosqlite:///"):
        return None
    name = url.removeprefix("sqlite+aiosqlite:///").partition("?")[0]
    return Path(name) if name and name != ":memory:" else None


class MatrixConfig(Section):
    homeserver: str | None = None
    user_id: str | None = None
    device_id: str = "DUTYDESK"
    command_prefix: str = "!"
    # servers whose users may invite the bot into rooms; empty: the bot's own server only
    allowed_servers: list[str] = Field(default_factory=list)
    # end-to-end encryption: "auto" is on when the e2e extra is installed and store_path is set; "on" insists
    # (store_path defaults to a directory beside a SQLite database); "off" only tells encrypted rooms it cannot read
    e2ee: Literal["auto", "on", "off"] = "auto"
    # directory of nio's crypto store (the device's keys): on a persistent volume, owned by one process only
    store_path: str | None = None
    password: SecretStr | None = None
    access_token: SecretStr | None = None

    @field_validator("e2ee", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        # TOML `e2ee = true` and DUTYDESK_MATRIX__E2EE=false read as the switch they look like
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
            return "on" if value.strip().lower() in ("true", "yes", "1") else "off"
        return value

    def e2ee_store(self, storage_url: str) -> Path | None:
        """The crypto store directory when E2EE is on, None when it is off (see :meth:`e2ee_problems`)."""
        if self.e2ee == "off" or not e2e_installed():
            return None
        if self.store_path:
            return Path(self.store_path).expanduser()
        if self.e2ee == "auto":
            return None
        database = _sqlite_file(storage_url)
        return database.with_name(f"{database.stem}-matrix-store") if database is not None else None

    def e2ee_problems(self, src: str, storage_url: str) -> list[str]:
        """One line per reason ``e2ee = "on"`` cannot work (nothing for "auto": it falls back to off)."""
        if self.e2ee != "on":
            return []
        if not e2e_installed():
            return [f"{src}: matrix.e2ee: end-to-end encryption needs matrix-nio's e2e extra; install it with "
                    f"{E2E_INSTALL} (or set e2ee = \"off\")"]
        if self.e2ee_store(storage_url) is None:
            return [f"{src}: matrix.store_path: e2ee = \"on\" needs a directory for the encryption keys; set "
                    "matrix.store_path (it defaults to one beside the database only with a SQLite file)"]
        return []


class Settings(BaseSettings):
    """The whole configuration; build it with :func:`load_settings`."""

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
    vendor: VendorConfig | None = None
    # the handbooks' processes (bot/workflow/config.py)
    access: AccessConfig = Field(default_factory=AccessConfig)
    intake: list[IntakeRule] = Field(default_factory=list)
    triage: TriageConfig | None = None
    categories: dict[str, CategoryConfig] = Field(default_factory=dict)
    faq: dict[str, FaqEntry] = Field(default_factory=dict)
    deferral: DeferralConfig | None = None
    deletion: DeletionConfig | None = None
    resolution: ResolutionConfig | None = None
    slack: SlackConfig = Field(default_factory=SlackConfig)
    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
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

    @property
    def slack_enabled(self) -> bool:
        return self.slack.bot_token is not None

    @property
    def matrix_enabled(self) -> bool:
        return self.matrix.password is not None or self.matrix.access_token is not None

    def person_key_for(self, platform: str, user_id: str) -> str | None:
        for key, person in self.people.items():
            if platform == "slack" and person.slack == user_id:
                return key
            if platform == "matrix" and person.matrix == user_id:
                return key
        return None


def _format_loc(loc: tuple[Any, ...]) -> str:
    # a key with a line break or another invisible character is shown quoted, so a problem stays one line
    return ".".join(str(part) if str(part).isprintable() else json.dumps(str(part)) for part in loc)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file; pass an existing file with --config"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from None


def _secrets_in_file(data: dict[str, Any], source: str) -> list[str]:
    problems = []
    for section, keys in SECRET_KEYS.items():
        table = data.get(section)
        if isinstance(table, dict):
            for key in keys:
                if key in table:
                    env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
                    problems.append(
                        f"{source}: {section}.{key}: secrets are not read from the config file; "
                        f"remove it and set the environment variable {env}"
                    )
    return problems


def _cross_check(settings: Settings) -> list[str]:
    """Checks that span sections: references to people, calendars and policies."""
    src = settings.source
    problems: list[str] = []
    people = settings.people
    calendars = settings.calendars

    def need_person(key: str, where: str) -> None:
        if key not in people:
            known = ", ".join(sorted(people)) or "none defined"
            problems.append(f"{src}: {where}: unknown person \"{key}\" (people: {known}); add [people.{key}]")

    def need_calendar(name: str | None, where: str) -> None:
        if name is not None and name not in calendars:
            known = ", ".join(sorted(calendars)) or "none defined"
            problems.append(
                f"{src}: {where}: unknown calendar \"{name}\" (calendars: {known}); add [calendars.{name}]"
            )

    def need_policy(name: str | None, where: str) -> None:
        if name is not None and name not in settings.sla:
            known = ", ".join(sorted(settings.sla)) or "none defined"
            problems.append(f"{src}: {where}: unknown SLA policy \"{name}\" (policies: {known}); add [sla.{name}]")

    need_calendar(settings.desk.calendar, "desk.calendar")
    need_policy(settings.desk.sla, "desk.sla")
    for name, policy in settings.sla.items():
        need_calendar(policy.calendar, f"sla.{name}.calendar")
    for key, person in people.items():
        for zone_key, zone in (("timezone", person.timezone),):
            if zone is not None and not _is_zone(zone):
                problems.append(f"{src}: people.{key}.{zone_key}: unknown time zone \"{zone}\"; use an IANA name")
    if not _is_zone(settings.desk.timezone):
        problems.append(f"{src}: desk.timezone: unknown time zone \"{settings.desk.timezone}\"; use an IANA name")
    duty = settings.duty
    if duty is not None:
        need_calendar(duty.calendar, "duty.calendar")
        for i, member in enumerate(duty.members):
            need_person(member, f"duty.members[{i}]")
        if duty.coordinator is not None:
            need_person(duty.coordinator, "duty.coordinator")
        if duty.mailbox is not None:
            need_person(duty.mailbox, "duty.mailbox")
        problems.extend(_check_window(duty.window, src))
        for key in ("every",):
            problems.extend(_check_duration(getattr(duty.digest, key), f"duty.digest.{key}", src))
        problems.extend(_check_duration(duty.escalate.repeat, "duty.escalate.repeat", src))
        problems.extend(_check_duration(duty.escalate.coordinator, "duty.escalate.coordinator", src))
        problems.extend(_check_duration(duty.handover_ack, "duty.handover_ack", src))
    for i, rule in enumerate(settings.routing):
        for j, person in enumerate(rule.assignees):
            need_person(person, f"routing[{i}].assignees[{j}]")
    if settings.vendor is not None:
        for i, person in enumerate(settings.vendor.authorised):
            need_person(person, f"vendor.authorised[{i}]")
        need_policy(settings.vendor.sla, "vendor.sla")
    problems.extend(check_workflows(settings))
    for i, channel in enumerate(settings.channels.duty):
        if channel in settings.channels.guarded:
            problems.append(
                f"{src}: channels.duty[{i}]: \"{channel}\" is also a guarded public channel; "
                "the duty channel shows ticket titles and must be private"
            )
    try:
        from bot.privacy.detector import ProblemDetector

        ProblemDetector.from_config(settings.channels.detector)
    except (ValueError, TypeError) as exc:
        problems.append(f"{src}: channels.detector: {exc}")
    for channel in settings.channels.modes:
        if channel not in settings.channels.guarded:
            problems.append(
                f"{src}: channels.modes.\"{channel}\": not a guarded channel; add it to channels.guarded first"
            )
    if settings.slack_enabled:
        if settings.slack.mode == "socket" and settings.slack.app_token is None:
            problems.append(
                f"{src}: slack.mode: socket mode needs the app-level token; set {ENV_PREFIX}SLACK__APP_TOKEN "
                "or use mode = \"http\""
            )
        if settings.slack.mode == "http" and settings.slack.signing_secret is None:
            problems.append(
                f"{src}: slack.mode: http mode needs the signing secret; set {ENV_PREFIX}SLACK__SIGNING_SECRET"
            )
    problems.extend(_check_ha(settings.ha, src))
    if settings.matrix_enabled and (settings.matrix.homeserver is None or settings.matrix.user_id is None):
        problems.append(f"{src}: matrix: set matrix.homeserver and matrix.user_id to connect to Matrix")
    problems.extend(settings.matrix.e2ee_problems(src, settings.storage.url))
    return problems


def _is_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_window(window: str, src: str) -> list[str]:
    from bot.calendar.config import CalendarConfig as _Cal

    try:
        _Cal(timezone="UTC", hours=[window])
    except ValidationError as exc:
        return [f"{src}: duty.window: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
    return []


def _check_ha(ha: HaConfig, src: str) -> list[str]:
    """Wall-clock durations ("10s", "1m"; no working days), and a renewal well inside the lease's TTL."""
    from bot.sla.durations import parse_duration

    problems = []
    for key in ("lease_ttl", "lease_renew", "recover_every", "recover_after"):
        try:
            if parse_duration(getattr(ha, key)).is_days:
                problems.append(f"{src}: ha.{key}: give seconds, minutes or hours (e.g. \"30s\"), not working days")
        except ValueError:
            problems.append(f"{src}: ha.{key}: {getattr(ha, key)!r} is not a duration; write e.g. \"30s\", \"1m\" "
                            "or \"1m30s\"")
    if not problems and ha.seconds("lease_renew") * 2 > ha.seconds("lease_ttl"):
        problems.append(f"{src}: ha.lease_renew: {ha.lease_renew} is more than half of ha.lease_ttl ({ha.lease_ttl}); "
                        "a holder must be able to renew at least twice before its lease runs out")
    return problems


def _check_duration(text: str, where: str, src: str) -> list[str]:
    from bot.sla.durations import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        return [f"{src}: {where}: {exc}"]
    return []


def load_settings(path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Reads the config file (if any) and the environment; raises :class:`ConfigError` on any problem."""
    if path is None:
        return settings_from_data({}, "(environment)", env=env)
    return settings_from_data(_read_toml(Path(path)), str(path), env=env)


def settings_from_data(data: dict[str, Any], source: str, *, env: dict[str, str] | None = None) -> Settings:
    """Builds settings from already parsed config data (a scenario's inline config, say)."""
    data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in data.items()}
    problems = _secrets_in_file(data, source)
    if "source" in data:
        data.pop("source")
        problems.append(f"{source}: source: unknown key; check the spelling against DESIGN.md's config contract")
    for section in SECRET_KEYS:
        table = data.get(section)
        if isinstance(table, dict):
            for key in SECRET_KEYS[section]:
                table.pop(key, None)
    if env is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
    try:
        settings = Settings(**data, source=source)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _format_loc(err["loc"])
            msg = err["msg"].removeprefix("Value error, ").replace("\r", "\\r").replace("\n", "\\n")
            if err["type"] == "extra_forbidden":
                msg = "unknown key; check the spelling against DESIGN.md's config contract"
            problems.append(f"{source}: {loc}: {msg}")
        raise ConfigError(problems) from None
    finally:
        if env is not None:
            os.environ.clear()
            os.environ.update(saved)
    problems.extend(_cross_check(settings))
    if problems:
        raise ConfigError(problems)
    return settings
