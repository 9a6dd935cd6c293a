"""Core types shared by the dispatcher, the services and the adapters (no platform imports)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.core.mentions import MARKS, defused
from bot.core.mentions import split as split  # for the adapters: the bot's mentions in a text (their port is types)

# characters no database here can store: NUL (PostgreSQL's text refuses it) and lone surrogates (no UTF-8)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Platform(StrEnum):
    CONSOLE = "console"
    SIM = "sim"
    SLACK = "slack"
    MATRIX = "matrix"
    MAIL = "mail"          # the support mailbox: a user id is an address, a ticket's space is its mail thread


class Capability(StrEnum):
    EPHEMERAL = "ephemeral"
    MODALS = "modals"
    BUTTONS = "buttons"
    # no buttons, but every button set is shown as numbered options that a person answers with the number or
    # a reaction (Matrix): the core never drops a button for a platform that has one of the two
    CHOICES = "choices"
    THREADS = "threads"
    REACTIONS = "reactions"
    DMS = "dms"
    PRIVATE_ROOMS = "private_rooms"
    # a ticket's private space shows a name and a topic that the bot keeps current (OutboundMessage.space "topic")
    SPACE_TOPICS = "space_topics"
    # the bot's mentions of people (bot/core/mentions.py) become the platform's mentions, which notify them
    MENTIONS = "mentions"
    # a closed ticket's space is archived for everyone (Slack); without it the space stays the team's and the
    # requester is taken out of it (Matrix), which the bot's goodbye says
    ARCHIVE = "archive"
    DELETE = "delete"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    EPHEMERAL = "ephemeral"


class MessageKind(StrEnum):
    """What a message the bot sends is (the transcript's ``kind``; DESIGN.md "Scenario and transcript")."""

    RECEIPT = "receipt"            # a new ticket's confirmation to its requester
    REPLY = "reply"                # the answer to a command, or an agent's answer in the ticket's space
    NOTICE = "notice"              # a state change, an assignment, a note to the duty channel
    ERROR = "error"                # a refusal, a parse error, a failure
    PING = "ping"                  # Prio-1 escalation and unacknowledged handovers: someone must act
    DIGEST = "digest"              # the hourly Prio-1 digest only
    HANDOVER = "handover"
    REMINDER = "reminder"
    SLA_WARNING = "sla_warning"
    AUTO_ANSWER = "auto_answer"    # outside the duty window and the office hours
    INTAKE = "intake"              # the questions of the documentation checklist
    SOLUTION = "solution"
    FEEDBACK = "feedback"          # "are you satisfied?"
    MOVED = "moved"                # a public thread's messages copied into a ticket's space
    NUDGE = "nudge"                # the privacy suggestion with its button
    LIMITED = "limited"            # a request beyond the requester's limit, kept on their newest ticket
    SWAP_REQUEST = "swap_request"
    COVER_REQUEST = "cover_request"
    REPORT = "report"              # the weekly report to [reports] weekly's channel
    VENDOR = "vendor"              # a ticket's documented report to the vendor by mail ([mail] vendor)
    MAIL_HELD = "mail_held"        # a mail to a colleague personally, shown to the mailbox holder with its choices
    FORWARD = "forward"            # such a mail forwarded to the colleague by mail


# a Prio-1 page waits for nothing: no outbox concurrency slot, no platform request being received
URGENT_KINDS = frozenset({MessageKind.PING})


def storable(text: str) -> str:
    """``text`` with every character a database would refuse replaced by U+FFFD (the replacement character)."""
    return _UNSTORABLE.sub("\ufffd", text)


# a text that needs no change passes one search (every model a request or a reply makes is checked)
_SUSPECT = re.compile(f"{_UNSTORABLE.pattern}|{MARKS.pattern}")


def _storable(value: Any, *, marks: bool = False) -> Any:
    if isinstance(value, str):
        if (_UNSTORABLE if marks else _SUSPECT).search(value) is None:
            return value
        value = storable(value) if _UNSTORABLE.search(value) else value
        return value if marks or not MARKS.search(value) else defused(value)
    if isinstance(value, dict):
        return {_storable(key, marks=marks): _storable(item, marks=marks) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_storable(item, marks=marks) for item in value)
    return value


class Frozen(BaseModel):
    """A core value. Text a platform hands in is made storable on the way in: a message with a NUL byte is
    saved (with U+FFFD in its place) instead of failing in the database after its receipt; and it loses the
    marks of a mention (bot/core/mentions.py), so that nothing a person writes can mention anybody."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        return _storable(data)


class UserRef(Frozen):
    platform: Platform
    user_id: str
    display_name: str | None = None


class ChannelRef(Frozen):
    platform: Platform
    channel_id: str
    thread_id: str | None = None
    is_private: bool = False
    is_direct: bool = False


class ThreadMessage(Frozen):
    """One message of a public thread, as the adapter fetched it for a move."""

    message_id: str
    author: UserRef
    text: str
    at: datetime


class Attachment(Frozen):
    """A file that came with a message: its name and MIME type, the size in bytes and the platform's
    reference (a Slack file id, a Matrix mxc:// URI) when known."""

    name: str
    mime_type: str = ""
    size: int | None = None
    ref: str | None = None


# the vocabulary adapters and the core share beyond the types: the ticket form's id (a Slack modal's
# callback id, the name of a "form" event), the button that moves a public message into a private
# ticket, and the reactions that ask for that move
TICKET_FORM_ID = "ticket"
MOVE_ACTION = "privacy-move"
TICKET_REACTIONS = frozenset({"ticket", "admission_tickets", "🎫", "🎟", "🎟️"})

EventKind = Literal["message", "command", "dm", "reaction", "action", "form"]


class InboundEvent(Frozen):
    """One thing a person did on a platform, already verified and converted by the adapter."""

    kind: EventKind
    event_id: str
    actor: UserRef
    channel: ChannelRef
    text: str = ""
    received_at: datetime
    # reaction name, button action id, or form id
    name: str | None = None
    # button value or ticket key the action is about
    value: str | None = None
    form_values: dict[str, str] = Field(default_factory=dict)
    message_id: str | None = None
    # set by the adapter when the event happened in a ticket's private space
    ticket: str | None = None
    # the public thread an event points at (reaction, move action, /ticket in a thread), root first
    thread: tuple[ThreadMessage, ...] = ()
    # files sent with the message (screenshots)
    attachments: tuple[Attachment, ...] = ()
    # a mail's To and Cc addresses, lower case (the Head of Mailbox: a mail to a colleague personally)
    recipients: tuple[str, ...] = ()

    @property
    def idempotency_key(self) -> str:
        return f"{self.actor.platform.value}:{self.event_id}"


class TicketSummary(Frozen):
    """What an adapter may read of one ticket (``TicketReads.summary``): its title, its origin's thread, and
    the requester's account on the asking platform (None when they have none there)."""

    key: str
    title: str
    state: str
    origin_platform: str
    origin_thread: str | None = None
    requester_id: str | None = None
    requester_name: str | None = None


# an inbound mail that no person wrote (an auto-reply, a bounce, a list): recorded on its ticket, never answered
AUTOMATIC_MAIL = "mail-automatic"
# a mail of the vendor ([mail] vendor) in the thread of a ticket's report to it: internal, for the team only;
# ``value`` carries the vendor's ticket id read from its subject ([mail] vendor_ticket), if any
VENDOR_MAIL = "mail-vendor"


class Button(Frozen):
    action: str
    label: str
    value: str


def button_command(button: Button) -> str | None:
    """The command a button runs, as a person may type it without the prefix: a button "group-verb" runs
    ``group verb VALUE``, a bare verb is a ticket button (``ticket ack HW-1``); None for the privacy move, whose
    value is a platform's message id that nobody types."""
    if button.action == MOVE_ACTION:
        return None
    group, sep, verb = button.action.partition("-")
    words = f"{group} {verb}" if sep else f"ticket {button.action}"
    return f"{words} {button.value}".strip()


class OutgoingFile(Frozen):
    """A file the bot sends with a message (the report's chart): stored with its outbox row, uploaded by the
    platform's adapter (Slack ``files_upload_v2``, Matrix media repository + ``m.image``). ``name`` is the file
    name, ``title`` the caption a reader sees (in the reader's language), ``type`` the media type."""

    name: str
    type: str
    data: bytes
    title: str = ""


class Reply(Frozen):
    """What a command answers; the dispatcher turns it into outbox rows. A reply with ``files`` is never
    ephemeral: no platform shows a file to one person in a channel, so it goes to the asker's direct chat."""

    text: str
    kind: MessageKind = MessageKind.REPLY
    visibility: Visibility = Visibility.EPHEMERAL
    ticket: str | None = None
    buttons: tuple[Button, ...] = ()
    files: tuple[OutgoingFile, ...] = ()


class Target(Frozen):
    """Where an outbound message goes, in platform-neutral terms.

    ``kind`` is ``channel`` (a channel by platform id), ``dm`` (a person's direct chat),
    ``ticket`` (the ticket's private space, created by the adapter on first use) or
    ``ephemeral`` (shown only to ``user_id`` in ``channel_id``) or ``mail`` (an outside requester's
    e-mail address in ``user_id``, on ``Platform.MAIL``: bot/contacts/reach.py).
    """

    kind: Literal["channel", "dm", "ticket", "ephemeral", "mail"]
    platform: Platform
    channel_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    ticket: str | None = None


class OutboundMessage(Frozen):
    """What the bot says; its text may hold the bot's own mentions (bot/core/mentions.py), which only
    platforms with ``Capability.MENTIONS`` get (the outbox sends every other platform the plain text)."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        return _storable(data, marks=True)

    id: int
    target: Target
    text: str
    kind: MessageKind
    visibility: Visibility
    ticket: str | None = None
    buttons: tuple[Button, ...] = ()
    # the platform's id of a message the bot sent before (returned by ``send``): this one replaces its text and
    # buttons in place (Slack chat.update, Matrix m.replace) instead of being a new message
    updates: str | None = None
    # a change of the ticket's private space (target kind "ticket"): "archive" says ``text`` (the goodbye) there
    # and archives it (Slack) or lets the requester go (Matrix); "unarchive" makes it usable again (no text);
    # "topic" gives it the name ``name`` and the topic ``text`` (bot/tickets/space.py: describe)
    space: Literal["archive", "unarchive", "topic"] | None = None
    name: str | None = None
    # files sent with the text (after it, in the same place): the report's chart
    files: tuple[OutgoingFile, ...] = ()


class Removal(Frozen):
    """The outbox's other operation: taking a person's message off a public channel (a privacy move).
    ``id`` is the outbox row's, the idempotency key as for a message (the Matrix transaction id)."""

    id: int
    target: Target
    message_id: str
    ticket: str | None = None


class FormField(Frozen):
    name: str
    label: str
    required: bool = False
    choices: tuple[str, ...] = ()
    # several lines of free text (a description, steps to reproduce)
    multiline: bool = False


class FormSpec(Frozen):
    form_id: str
    title: str
    fields: tuple[FormField, ...]
