"""`dutydesk simulate`: run a scripted scenario on a virtual clock and print the transcript.

The whole scenario is checked before the first step runs, so a bad one prints nothing but
one error line with its step number.
"""

from __future__ import annotations

import json
import mimetypes
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.mail.rehearsal import RehearsalMailbox
from adapters.sim import PREFIXES, SimAdapter, iso_utc
from bot.access.groups import set_members
from bot.app import Bot, build
from bot.core.clock import VirtualClock
from bot.core.types import Attachment, ChannelRef, InboundEvent, Platform, ThreadMessage, UserRef
from bot.settings import Settings, load_settings, settings_from_data
from bot.sla.durations import WallDuration


class ScenarioError(Exception):
    """A scenario that cannot run; the message names the step."""


class MailStep(BaseModel):
    """A mail to the support mailbox (DESIGN.md: ``mail: {from: …, subject: …, text: …, in_reply_to: m3}``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: str = Field(alias="from")
    subject: str = ""
    text: str = ""
    id: str | None = None
    in_reply_to: str | None = None
    # further addressees besides the support mailbox (Cc): a colleague's address makes the mail personal
    cc: list[str] = []
    headers: dict[str, str] = {}
    attachments: list[dict[str, Any]] = []

    @field_validator("attachments")
    @classmethod
    def _files(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in value:
            if "name" not in item or set(item) - {"name", "type", "bytes"}:
                raise ValueError("an attachment is {name: …, type: image/png, bytes: 2048}")
        return value


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime | None = None
    after: WallDuration | None = None
    until: datetime | None = None
    user: str | None = None
    channel: str | None = None
    dm: bool = False
    ticket: str | None = None
    text: str | None = None
    id: str | None = None
    thread: str | None = None
    react: str | None = None
    message: str | None = None
    action: str | None = None
    # files sent with the text: "screen.png" (type from the name) or {name: …, type: image/png}
    attach: list[str | dict[str, str]] | None = None
    mail: MailStep | None = None

    @field_validator("attach")
    @classmethod
    def _attach(cls, value: list[str | dict[str, str]] | None) -> list[str | dict[str, str]] | None:
        for item in value or []:
            if isinstance(item, dict) and (set(item) - {"name", "type"} or "name" not in item):
                raise ValueError("a file is a name, or a mapping with name and (optional) type")
        return value

    def attachments(self) -> tuple[Attachment, ...]:
        files = []
        for item in self.attach or []:
            name, kind = (item, "") if isinstance(item, str) else (item["name"], item.get("type", ""))
            files.append(Attachment(name=name, mime_type=kind or mimetypes.guess_type(name)[0] or ""))
        return tuple(files)

    @field_validator("at", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs an offset, e.g. 2026-11-24T16:05:00+01:00")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Step:
        doing = [name for name in ("text", "react", "action", "mail") if getattr(self, name) is not None]
        if len(doing) > 1:
            raise ValueError(f"a step does one thing; this one has {' and '.join(doing)}")
        if sum(x is not None for x in (self.at, self.after, self.until)) > 1:
            raise ValueError("use only one of at, after and until")
        if doing and doing != ["mail"] and self.user is None:
            raise ValueError(f"{doing[0]} needs a user")
        if not doing and self.until is None and self.at is None and self.after is None:
            raise ValueError("a step needs text, react, action, mail, or a time (at, after, until)")
        if self.until is not None and doing:
            raise ValueError("until only lets the clock run; put the action in a step of its own")
        if self.react is not None and self.message is None:
            raise ValueError("react needs message: the id of the message to react to")
        if self.attach is not None and self.text is None:
            raise ValueError("attach sends files with a message: add text (it may be empty)")
        if sum(bool(x) for x in (self.channel, self.dm, self.ticket and self.text is not None)) > 1:
            raise ValueError("write in one place: channel, dm or ticket")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: str | dict[str, Any] | None = None
    platform: Literal["slack", "matrix"] = "slack"
    start: datetime
    can_remove: bool = True
    # members of platform groups at the start ([access] slack_groups / matrix_rooms): group id → people
    groups: dict[str, list[str]] = {}
    steps: list[Step]

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs an offset, e.g. 2026-11-24T15:50:00+01:00")
        return value


def _describe(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    # a key with a line break or another invisible character is shown escaped: the error stays one line
    loc = [part if str(part).isprintable() else json.dumps(str(part))[1:-1] for part in err["loc"]]
    msg = err["msg"].removeprefix("Value error, ").replace("\r", "\\r").replace("\n", "\\n")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key \"{loc[-1]}\""
        loc = loc[:-1]
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        rest = ".".join(str(x) for x in loc[2:])
        return f"{source}: step {loc[1] + 1}: {rest + ': ' if rest else ''}{msg}"
    return f"{source}: {'.'.join(str(x) for x in loc) + ': ' if loc else ''}{msg}"


def load_scenario(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc}") from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # a value YAML itself cannot build, e.g. the timestamp 2026-02-30T10:00:00
        raise ScenarioError(f"{path}: not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping with start and steps")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, str(path))) from None


def scenario_settings(scenario: Scenario, path: Path, config: str | None) -> Settings:
    if config is not None:
        return load_settings(config)
    if isinstance(scenario.config, dict):
        return settings_from_data(scenario.config, f"{path} (config)")
    if isinstance(scenario.config, str):
        return load_settings(path.parent / scenario.config)
    return settings_from_data({}, "(defaults)")


class Runner:
    """Turns steps into inbound events at their instants; the clock only moves forward."""

    def __init__(self, scenario: Scenario, bot: Bot, adapter: SimAdapter, clock: VirtualClock,
                 mailbox: RehearsalMailbox | None = None) -> None:
        self.mailbox = mailbox
        self.scenario = scenario
        self.bot = bot
        self.adapter = adapter
        self.clock = clock
        self.prefix = PREFIXES[scenario.platform]
        # message name -> (channel, thread root id, is_direct)
        self.messages: dict[str, tuple[str, str | None, bool]] = {}
        # every message written, in order, for the threads a move copies
        self.written: list[tuple[str, ThreadMessage]] = []
        self.private = adapter.private_channels

    def plan(self) -> list[datetime]:
        """The instant of each step, checked before anything runs."""
        now = self.scenario.start
        instants = []
        names: set[str] = set()
        for number, step in enumerate(self.scenario.steps, 1):
            when = step.at or step.until or (now + step.after if step.after else now)
            if when < now:
                raise ScenarioError(f"step {number}: {when.isoformat()} is before the previous step; "
                                    "the clock never goes back")
            for ref in (step.thread, step.message):
                if ref is not None and ref not in names:
                    raise ScenarioError(
                        f"step {number}: unknown message \"{ref}\"; name it with id: on an earlier step")
            if step.text is not None and step.channel is None and not step.dm and step.ticket is None \
                    and step.thread is None:
                raise ScenarioError(f"step {number}: say where the text is written: channel, dm, ticket or thread")
            if step.action is not None and step.ticket is None and step.message is None:
                raise ScenarioError(f"step {number}: action needs ticket (or message): whose button is pressed")
            if step.mail is not None:
                reply_to = step.mail.in_reply_to
                # a mail answers an earlier mail step, or a mail of the bot by its line id ("mail-1"): known later
                if reply_to is not None and reply_to not in names and not reply_to.startswith("mail-"):
                    raise ScenarioError(f"step {number}: in_reply_to names no earlier mail \"{reply_to}\"")
                mail_name = step.mail.id or f"step-{number}"
                if mail_name in names:
                    raise ScenarioError(f"step {number}: message id \"{mail_name}\" is used twice")
                names.add(mail_name)
            if step.id is not None:
                if step.id in names:
                    raise ScenarioError(f"step {number}: message id \"{step.id}\" is used twice")
                names.add(step.id)
            elif step.text is not None:
                names.add(f"step-{number}")
            instants.append(when)
            now = when
        return instants

    async def run(self) -> None:
        instants = self.plan()
        for number, (step, when) in enumerate(zip(self.scenario.steps, instants, strict=True), 1):
            if self.adapter.closed:
                return
            await self.advance(when)
            event = await self.mail_event(number, step) if step.mail is not None else self.event(number, step)
            if event is not None:
                await self.bot.handle(event)

    async def advance(self, until: datetime) -> None:
        await self.bot.run_until(self.clock, until)

    async def mail_event(self, number: int, step: Step) -> InboundEvent | None:
        mail, mailbox = step.mail, self.mailbox
        assert mail is not None and mailbox is not None
        if mail.in_reply_to is not None and mail.in_reply_to not in mailbox.names:
            raise ScenarioError(f"step {number}: in_reply_to names no earlier mail \"{mail.in_reply_to}\"")
        return await mailbox.take(mail.id or f"step-{number}", sender=mail.sender, subject=mail.subject,
                                  text=mail.text, in_reply_to=mail.in_reply_to, headers=mail.headers,
                                  attachments=mail.attachments, cc=mail.cc)

    def _user(self, name: str) -> UserRef:
        person = self.bot.settings.people.get(name)
        return UserRef(platform=Platform.SIM, user_id=name, display_name=(person.name if person else None) or name)

    def event(self, number: int, step: Step) -> InboundEvent | None:
        if step.user is None:
            return None
        base: dict[str, Any] = {"event_id": f"step-{number}", "actor": self._user(step.user),
                                "received_at": self.clock.now()}
        if step.react is not None:
            channel_id, root, direct = self.messages[step.message]  # type: ignore[index]
            return InboundEvent(kind="reaction", name=step.react.strip(":"), message_id=step.message,
                                channel=self._channel(channel_id, root, direct),
                                thread=self.thread_of(step.message), **base)  # type: ignore[arg-type]
        if step.action is not None:
            if step.message is not None:  # a button on a message, e.g. the privacy nudge
                channel_id, root, direct = self.messages[step.message]
                return InboundEvent(kind="action", name=step.action, value=step.message,
                                    channel=self._channel(channel_id, root, direct),
                                    thread=self.thread_of(step.message), **base)
            where, value, line = self.offered(number, step.action, step.ticket or "")
            if step.channel is not None:
                channel = self._channel(step.channel, None, False)
            elif where.startswith("@") or not where:
                channel = self._channel(f"@{step.user}", None, True)
            else:
                channel = self._channel(where, None, False)
            return InboundEvent(kind="action", name=step.action, value=value, channel=channel, message_id=line,
                                ticket=where.removeprefix("ticket:") if where.startswith("ticket:") else None, **base)
        text = step.text or ""
        name = step.id or f"step-{number}"
        if step.thread is not None:
            channel_id, root, direct = self.messages[step.thread]
            root = root or step.thread
        elif step.dm:
            channel_id, root, direct = f"@{step.user}", None, True
        elif step.ticket is not None:
            channel_id, root, direct = f"ticket:{step.ticket.upper()}", None, False
        else:
            channel_id, root, direct = step.channel, None, False  # type: ignore[assignment]
        self.messages[name] = (channel_id, root, direct)
        channel = self._channel(channel_id, root, direct)
        thread = self.thread_of(root) if root else ()
        written = ThreadMessage(message_id=name, author=base["actor"], text=text, at=self.clock.now())
        if not text.startswith(self.prefix):
            self.written.append((channel_id, written))
        base["thread"] = thread
        ticket = step.ticket.upper() if step.ticket is not None and step.thread is None else None
        base["attachments"] = step.attachments()
        if text.startswith(self.prefix) and len(text) > len(self.prefix):
            # a Slack slash command is seen by nobody but its author: no message of the channel (Matrix's
            # "!ticket …" is one, like any other message)
            return InboundEvent(kind="command", text=text[len(self.prefix):], channel=channel,
                                message_id=None if self.prefix == "/" else name, ticket=ticket, **base)
        kind = "dm" if direct else "message"
        return InboundEvent(kind=kind, text=text, channel=channel, message_id=name, ticket=ticket, **base)

    def offered(self, number: int, action: str, ticket: str) -> tuple[str, str, str]:
        """Where a button ``action`` of ``ticket`` is offered now, its value (a button's value may say more
        than the ticket: ``HW-1 1`` for Prio 1) and the line that offers it. The newest message wins; a message
        changed in place offers its new buttons (none, once one was used). A button of no ticket (the handover's,
        a swap request's) matches by its value, else the newest one. No message offering it: a scenario error,
        never a command."""
        wanted = ticket.strip().upper()
        loose: tuple[str, str, str] | None = None
        worded: tuple[str, str, str] | None = None
        for line, (to, line_ticket, buttons) in reversed(list(self.adapter.offers.items())):
            for button in buttons:
                if button.action != action:
                    continue
                if button.value.upper() == wanted or (line_ticket or "").upper() == wanted:
                    return to, button.value, line
                if worded is None and wanted in button.value.upper().split():
                    worded = (to, button.value, line)   # a choice among several: "M1 HW-2" for HW-2
                if line_ticket is None and loose is None:
                    loose = (to, button.value, line)
        if worded is not None:
            return worded
        if loose is not None:
            return loose
        raise ScenarioError(f"step {number}: no message offers the button \"{action}\" for \"{ticket}\"")

    def thread_of(self, name: str) -> tuple[ThreadMessage, ...]:
        """The thread a message belongs to, root first, as far as it has been written."""
        channel_id, root, _ = self.messages[name]
        root = root or name
        return tuple(m for ch, m in self.written if ch == channel_id
                     and (m.message_id == root or self.messages[m.message_id][1] == root))

    def _channel(self, channel_id: str, root: str | None, direct: bool) -> ChannelRef:
        private = direct or channel_id in self.private or channel_id.startswith("ticket:")
        return ChannelRef(platform=Platform.SIM, channel_id=channel_id, thread_id=root, is_private=private,
                          is_direct=direct)


async def simulate(path: Path, out: IO[str], *, config: str | None = None, db_url: str | None = None) -> None:
    """Runs the scenario at ``path``; raises ScenarioError or ConfigError before printing anything."""
    scenario = load_scenario(path)
    settings = scenario_settings(scenario, path, config)
    clock = VirtualClock(scenario.start)
    private = {channel for _, channel in settings.channels.duty_entries()}
    adapter = SimAdapter(scenario.platform, clock, out, private, can_remove=scenario.can_remove)
    with tempfile.TemporaryDirectory(prefix="dutydesk-sim-") as tmp:
        url = db_url or f"sqlite+aiosqlite:///{Path(tmp) / 'sim.db'}"
        # the support mailbox takes part where the config has one or a step sends a mail
        mailbox = RehearsalMailbox(settings, clock, adapter.emit, lambda: iso_utc(clock)) \
            if settings.mail.address or any(step.mail is not None for step in scenario.steps) else None
        bot = await build(settings, clock, [adapter, *([mailbox] if mailbox else [])], db_url=url, upgrade=True)
        bot.desk.prefixes[Platform.SIM] = PREFIXES[scenario.platform]
        if mailbox is not None:
            mailbox.bind(bot.ports)
        try:
            if scenario.groups:
                async with bot.desk.sessions.begin() as session:
                    for group_id, members in scenario.groups.items():
                        await set_members(session, settings, Platform.SIM, group_id, members, clock.now())
            await Runner(scenario, bot, adapter, clock, mailbox).run()
        finally:
            await bot.scheduler.stop()  # a slot's retry still waiting ends with the rehearsal
            await bot.close()
