"""``[slack]``, ``[matrix]`` and ``[mail]``: how the adapters connect. The core owns these sections (``bot/`` imports no
adapter); the adapters read them. Secrets (``SecretStr`` fields) come only from the environment."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.core.config import ENV_PREFIX, PersonKey, Section, defined, refuse
from bot.infra.config import DEFAULT_DB_URL, sqlite_file
from bot.sla.durations import wall_duration

E2E_INSTALL = "pip install 'dutydesk[e2e]'"   # matrix-nio[e2e]: vodozemac and the peewee key store


def e2e_installed() -> bool:
    """Whether matrix-nio's E2EE extra is importable (nio itself only looks for vodozemac; its store needs peewee)."""
    return all(importlib.util.find_spec(name) is not None for name in ("vodozemac", "peewee"))


class SlackConfig(Section):
    """Enabled when ``DUTYDESK_SLACK__BOT_TOKEN`` is set."""

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

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None

    @model_validator(mode="after")
    def _tokens_for_the_mode(self) -> SlackConfig:
        if self.enabled and self.mode == "socket" and self.app_token is None:
            refuse(("mode", f"socket mode needs the app-level token; set {ENV_PREFIX}SLACK__APP_TOKEN or use "
                            "mode = \"http\""))
        if self.enabled and self.mode == "http" and self.signing_secret is None:
            refuse(("mode", f"http mode needs the signing secret; set {ENV_PREFIX}SLACK__SIGNING_SECRET"))
        return self


class MatrixConfig(Section):
    """Enabled when ``DUTYDESK_MATRIX__PASSWORD`` or ``DUTYDESK_MATRIX__ACCESS_TOKEN`` is set."""

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
    # the desk's Space (rooms of type m.space): false (none), true (the bot creates one, named after the desk, once)
    # or an alias ("#support-desk": that Space, created with the alias when there is none); ticket rooms are its
    # children, and the team is invited to it
    space: bool | str = False
    # the bot stays in at most this many closed tickets' rooms: beyond, it leaves (and forgets) the longest closed
    # ones; the team keeps them, the ticket keeps its history, and reopening such a ticket opens a new room
    closed_rooms: int = Field(default=500, ge=0, le=100_000)
    password: SecretStr | None = None
    access_token: SecretStr | None = None

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, value: Any) -> Any:
        # DUTYDESK_MATRIX__SPACE=true/false reads as the switch it looks like; anything else must be an alias
        if isinstance(value, str):
            word = value.strip()
            if word.lower() in ("true", "false", "yes", "no", "1", "0", ""):
                return word.lower() in ("true", "yes", "1")
            if not re.fullmatch(r"#[^:\s]+(:[^\s]+)?", word):
                raise ValueError(f"{value!r} is neither true/false nor a room alias; write space = true or "
                                 'space = "#support-desk"')
            return word
        return value

    @field_validator("e2ee", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        # TOML `e2ee = true` and DUTYDESK_MATRIX__E2EE=false read as the switch they look like
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
            return "on" if value.strip().lower() in ("true", "yes", "1") else "off"
        return value

    @property
    def enabled(self) -> bool:
        return self.password is not None or self.access_token is not None

    @model_validator(mode="after")
    def _can_connect(self) -> MatrixConfig:
        problems = []
        if self.enabled and (self.homeserver is None or self.user_id is None):
            problems.append(("", "set matrix.homeserver and matrix.user_id to connect to Matrix"))
        storage = defined("storage", "url")
        problems += self._e2ee_problems(storage if isinstance(storage, str) else DEFAULT_DB_URL)
        if problems:
            refuse(*problems)
        return self

    def e2ee_store(self, storage_url: str) -> Path | None:
        """The crypto store directory when E2EE is on, None when it is off (see :meth:`e2ee_problems`)."""
        if self.e2ee == "off" or not e2e_installed():
            return None
        if self.store_path:
            return Path(self.store_path).expanduser()
        if self.e2ee == "auto":
            return None
        database = sqlite_file(storage_url)
        return database.with_name(f"{database.stem}-matrix-store") if database is not None else None

    def _e2ee_problems(self, storage_url: str) -> list[tuple[str, str]]:
        if self.e2ee != "on":
            return []
        if not e2e_installed():
            return [("e2ee", "end-to-end encryption needs matrix-nio's e2e extra; install it with "
                             f"{E2E_INSTALL} (or set e2ee = \"off\")")]
        if self.e2ee_store(storage_url) is None:
            return [("store_path", "e2ee = \"on\" needs a directory for the encryption keys; set "
                                   "matrix.store_path (it defaults to one beside the database only with a SQLite "
                                   "file)")]
        return []

    def e2ee_problems(self, src: str, storage_url: str) -> list[str]:
        """One line per reason ``e2ee = "on"`` cannot work (nothing for "auto": it falls back to off)."""
        return [f"{src}: matrix.{at}: {message}" for at, message in self._e2ee_problems(storage_url)]


# how often a mailbox without IDLE is polled: seconds to hours
if TYPE_CHECKING:
    MailDuration = timedelta
else:
    MailDuration = wall_duration(days=False, bad='{text!r} is not a duration; write e.g. "30s", "1m" or "5m"')
_MAIL_URL = re.compile(r"^(?P<scheme>imaps?|smtps?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+)(?::(?P<port>\d{1,5}))?/?$")
_DEFAULT_PORTS = {"imap": 143, "imaps": 993, "smtp": 587, "smtps": 465}
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True)
class MailServer:
    """``imaps://host[:port]`` and the like, taken apart: TLS from the start (``imaps``, ``smtps``) or STARTTLS
    where the server offers it (``imap``, ``smtp``)."""

    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme.endswith("s")

    @staticmethod
    def parse(url: str, kinds: tuple[str, str]) -> MailServer:
        match = _MAIL_URL.match(url.strip())
        if match is None or match["scheme"] not in kinds:
            raise ValueError(f"{url!r} is not a server address; write {kinds[1]}://HOST[:PORT] or {kinds[0]}://HOST[:PORT]")
        port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[match["scheme"]]
        if not 0 < port < 65536:
            raise ValueError(f"{url!r}: the port must lie in 1-65535")
        return MailServer(match["scheme"], match["host"].strip("[]"), port)


DEFAULT_SALUTATIONS = (
    "hallo", "hi", "hey", "moin", "servus", "guten tag", "guten morgen", "guten abend", "liebe", "lieber",
    "sehr geehrte", "sehr geehrter", "dear", "hello", "good morning", "good afternoon", "good evening",
    "здравствуйте", "здравствуй", "привет", "добрый день", "доброе утро", "добрый вечер", "уважаемый", "уважаемая",
)


class MailConfig(Section):
    """The support mailbox; enabled when ``DUTYDESK_MAIL__PASSWORD`` is set. The adapter (adapters/mail) reads
    ``folder`` over IMAP (IDLE where the server has it, else every ``poll``) and sends as ``address`` over SMTP."""

    address: str | None = None
    username: str | None = None
    imap: str | None = None
    smtp: str | None = None
    folder: str = "INBOX"
    poll: MailDuration = timedelta(seconds=30)
    senders: Literal["anyone", "known"] = "anyone"
    vendor: str | None = None
    # the vendor's ticket id in the subject of its answers: a regular expression; its first group (else the whole
    # match) is the id, e.g. "\\[DL-(\\d+)\\]" or "Ticket#(\\d+)"; without it the id is recorded by hand
    vendor_ticket: str | None = None
    # what the first start takes of the mail already in the folder: "unseen" (the unseen mails), "none" (only
    # what arrives from now on; the rest is left as it is) or a date "YYYY-MM-DD" (unseen mails since that day)
    backlog: str = "unseen"
    # answers (receipts, refusals) to one sender at most this many per hour (RFC 3834: no storms)
    answers_per_hour: int = Field(default=10, ge=1, le=1000)
    # the Head of Mailbox ([duty] roles with "mailbox", bot/mailbox): how a mail shows that it addresses a colleague
    # personally — "to": their [people] email in To or Cc; "salutation": a greeting and their name on the mail's
    # first lines ("Hallo Paul,", "Dear Paul", "Здравствуйте, Павел"). Such a mail goes to the mailbox holder first.
    personal: list[Literal["to", "salutation"]] = Field(
        default_factory=lambda: list[Literal["to", "salutation"]](["to", "salutation"]))
    # the greetings a salutation starts with (any case); the default has common German, English and Russian ones
    salutations: list[str] = Field(default_factory=lambda: list(DEFAULT_SALUTATIONS))
    # names a colleague is greeted by besides [people.X] name and its first word: { paul = ["Павел", "Pavel"] }
    names: dict[PersonKey, list[str]] = Field(default_factory=dict)
    password: SecretStr | None = None

    @field_validator("imap")
    @classmethod
    def _imap(cls, value: str | None) -> str | None:
        if value is not None:
            MailServer.parse(value, ("imap", "imaps"))
        return value

    @field_validator("smtp")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value is not None:
            MailServer.parse(value, ("smtp", "smtps"))
        return value

    @field_validator("address", "vendor")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.match(value.strip()):
            raise ValueError(f"{value!r} is not an e-mail address (name@example.org)")
        return value.strip().lower() if value is not None else None

    @field_validator("vendor_ticket")
    @classmethod
    def _vendor_ticket(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > 200:
            raise ValueError("the pattern may have at most 200 characters")
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is no regular expression ({exc})") from None
        if pattern.groups > 1:
            raise ValueError(f"{value!r} has {pattern.groups} groups; write one group around the id, or none")
        return value

    def vendor_ticket_in(self, subject: str) -> str | None:
        """The vendor's ticket id in ``subject`` by ``vendor_ticket``; None without a pattern or a match."""
        if not self.vendor_ticket:
            return None
        match = re.search(self.vendor_ticket, subject)
        if match is None:
            return None
        found = (match.group(1) if match.re.groups else match.group(0)) or ""
        return found.strip()[:100] or None

    @field_validator("backlog")
    @classmethod
    def _backlog(cls, value: str) -> str:
        if value in ("unseen", "none"):
            return value
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f'{value!r}: write "unseen", "none" or a date like "2026-11-01"') from None
        return value

    @property
    def enabled(self) -> bool:
        return self.password is not None

    @property
    def login(self) -> str:
        return self.username or self.address or ""

    @property
    def imap_server(self) -> MailServer:
        assert self.imap is not None
        return MailServer.parse(self.imap, ("imap", "imaps"))

    @property
    def smtp_server(self) -> MailServer:
        assert self.smtp is not None
        return MailServer.parse(self.smtp, ("smtp", "smtps"))

    @property
    def backlog_since(self) -> date | None:
        return None if self.backlog in ("unseen", "none") else date.fromisoformat(self.backlog)

    @model_validator(mode="after")
    def _can_connect(self) -> MailConfig:
        if self.enabled:
            missing = [key for key in ("address", "imap", "smtp") if getattr(self, key) is None]
            if missing:
                refuse(("", f"set mail.{', mail.'.join(missing)} to read and send the support mailbox"))
        return self
