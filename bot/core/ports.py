"""What an adapter may use of the core, and what the core expects of an adapter.

An adapter (``adapters/<platform>/``) imports this module, :mod:`bot.core.types`, :mod:`bot.core.clock`,
:mod:`bot.i18n` and its own configuration (:mod:`bot.settings`) — nothing else of ``bot/``, nothing of
``storage/`` or ``commands/`` (``lint-imports`` checks it; the contracts are in ``pyproject.toml``).
Everything it needs of the desk comes through a :class:`Ports` handed to :meth:`Runtime.start`:

- ``inbox``: where converted events go (:class:`InboxPort`, implemented by :mod:`bot.core.inbox`);
- ``health``: what ``/healthz`` shows of the platform's sync (:class:`HealthPort`);
- ``state``: the key-value store for the adapter's own state that must survive restarts
  (:class:`StatePort`: sync tokens, room and channel mappings, pending choices);
- ``tickets``: read models (:class:`TicketReads`: a ticket's members, a person's open tickets);
- ``groups``: desk roles from platform groups (:class:`GroupsPort`);
- ``form``: the ticket form and its checks (:class:`TicketFormPort`);
- ``desk``: desk facts (:class:`DeskFacts`: the command groups a mention may start with);
- ``lease``: a singleton that only one replica runs (:class:`LeasePort`, the Matrix sync).

Adapters' own forever-loops use :func:`supervise` and end with :func:`stop` (bot/infra/supervise.py), and their
probes for ``dutydesk check --online`` report :class:`Finding` (bot/infra/checks.py); all are re-exported here.

The other direction: every platform is a :class:`Runtime` (``start``, ``send``, ``remove``, ``stop``,
``close``, its ``capabilities``); ``dutydesk run`` runs any set of them one way (:func:`bot.app.serve`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.types import (
    Attachment,
    Capability,
    FormSpec,
    InboundEvent,
    OutboundMessage,
    Platform,
    Removal,
    TicketSummary,
)

# re-exported: what an adapter's online check (`dutydesk check --online`) reports in
from bot.infra.checks import Finding as Finding
from bot.infra.checks import failed as failed
from bot.infra.checks import passed as passed

# re-exported: adapters run their forever-loops (the Matrix sync) the core's way
from bot.infra.supervise import Backoff as Backoff
from bot.infra.supervise import stop as stop
from bot.infra.supervise import supervise as supervise

if TYPE_CHECKING:
    from bot.core.clock import Clock
    from bot.settings import Settings


class DeliveryError(Exception):
    """Raised by an adapter's ``send``. ``permanent`` errors are not retried; ``retry_after`` (seconds)
    overrides the backoff (a platform's rate limit). ``reason`` is what the duty team is told."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


# --------------------------------------------------------------------------- the core → the adapter


class Sender(Protocol):
    """What the outbox needs of a platform: its capabilities and a way to send one message."""

    platform: Platform
    capabilities: frozenset[Capability]

    async def send(self, message: OutboundMessage) -> str | None:
        """Delivers one outbox message; returns the platform's id for it, or raises DeliveryError."""
        ...

    async def remove(self, removal: Removal) -> str | None:
        """Takes a person's message off a channel (only where the adapter has ``Capability.DELETE``);
        returns the removed message's id, or raises DeliveryError."""
        ...


_NEW_SPACES = "new_spaces"
_LINE_MEMO: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar("dutydesk_line_memo", default=None)


@contextlib.contextmanager
def delivery_line(new_spaces: frozenset[str] = frozenset()) -> Iterator[None]:
    """The outbox sends one target's rows in order inside this (a line): they share a memo (:func:`line_memo`).
    Every row of a line was committed before the line began, so a fact an adapter reads while sending one of them
    (say, the people of a ticket's private space) is at least as new as each row's unit of work, and the line's
    later rows may use it instead of reading it again. ``new_spaces``: see :func:`space_is_new`."""
    token = _LINE_MEMO.set({_NEW_SPACES: new_spaces})
    try:
        yield
    finally:
        _LINE_MEMO.reset(token)


def line_memo() -> dict[Any, Any] | None:
    """The memo of the delivery line being sent, or None outside one (a direct call to an adapter)."""
    return _LINE_MEMO.get()


def space_is_new(ticket_key: str) -> bool:
    """Whether ``ticket_key`` was opened by the unit of work whose rows the line being sent delivers, with its
    private space's rows in the same inline delivery, which waits for this line (or is it): then no space was made
    for the ticket before this line, by this process or another (those rows are leased to this one, and a later
    row of the ticket's space waits behind them), and the adapter need not look it up. A space the adapter makes
    while the line is sent, it knows of itself."""
    memo = _LINE_MEMO.get()
    return memo is not None and ticket_key in memo.get(_NEW_SPACES, ())


class Runtime(Sender, Protocol):
    """One platform in ``dutydesk run``.

    ``start`` binds the platform to the core and begins taking events (a Slack endpoint or socket, the
    Matrix sync, a mail box's IMAP loop, the console's prompt); it returns a short description for the
    ready line ("Slack as @dutydesk (Socket Mode)"), or None. A runtime whose intake ends by itself (the
    console's last line) calls ``ports.request_stop()``. ``stop`` ends the intake and lets the events
    being processed finish; the core delivers its last messages after it, so ``close`` (connections,
    HTTP sessions) comes last.
    """

    async def start(self, ports: Ports) -> str | None: ...

    async def stop(self) -> None: ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- the adapter → the core


class InboxPort(Protocol):
    async def submit(self, event: InboundEvent) -> bool:
        """Stores the event, then queues it for processing; acknowledge the platform after it returns.
        False for a duplicate. Raises when the event could not be stored."""
        ...

    async def handle_redelivered(self, event: InboundEvent) -> bool:
        """For a source that redelivers until told to stop: stored and handled in one commit."""
        ...

    async def handle_now(self, event: InboundEvent) -> bool:
        """Handled, and what is due delivered, before it returns (a person waiting at a terminal)."""
        ...

    def arriving(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wrap the receipt of each platform request in it: requests come before work (flow control)."""
        ...

    async def pace(self) -> None:
        """Call before an ordinary delivery: lets the requests being received right now go first (briefly)."""
        ...

    async def idle(self) -> None:
        """Waits until every submitted event is processed (tests, benchmarks)."""
        ...

    async def drain(self, timeout: float) -> None:
        """Shutdown: the submitted events are processed for up to ``timeout`` seconds; the rest stay stored."""
        ...

    async def stored_channel(self, key: str) -> str | None:
        """The channel an event handled before happened in, by the event's idempotency key."""
        ...

    async def replies_sent(self, timeout: float) -> None:
        """Waits (at most ``timeout`` seconds) for the replies being delivered right now."""
        ...


class HealthPort(Protocol):
    def synced(self, platform: str, at: datetime) -> None:
        """After each successful sync with the platform (``/healthz``: ``last_sync``, ``sync_stale``)."""
        ...

    def not_syncing(self, platform: str) -> None:
        """This replica stopped syncing the platform (the lease moved): no sync rather than a stale one."""
        ...

    async def trouble(self, platform: str, failing: bool) -> None:
        """The platform's intake fails (a mailbox that cannot be read) or works again: the duty channels are
        told once each way."""
        ...


class StateTx(Protocol):
    """The key-value store inside one transaction."""

    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: list[str]) -> dict[str, str]: ...

    async def put(self, key: str, value: str) -> None: ...

    async def put_new(self, key: str, value: str) -> str:
        """Sets ``key`` unless it is set; returns the value stored now (the first writer wins)."""
        ...

    async def remove(self, key: str) -> None: ...

    async def keys_with_prefix(self, prefix: str, *, limit: int = 100) -> list[str]: ...

    async def take(self, key: str) -> bool:
        """Deletes ``key``; True only for the one caller whose delete removed it (a claim)."""
        ...


class StatePort(Protocol):
    def read(self) -> contextlib.AbstractAsyncContextManager[StateTx]:
        """A read-only view (no commit)."""
        ...

    def write(self) -> contextlib.AbstractAsyncContextManager[StateTx]:
        """One transaction, committed when the block ends without an exception."""
        ...


class TicketReads(Protocol):
    async def member_ids(self, ticket_key: str, platform: Platform) -> list[str]:
        """Platform user ids of a ticket's requester, assignee and listed members, each once."""
        ...

    async def members(self, ticket_key: str, platform: Platform) -> list[tuple[str, bool]]:
        """As ``member_ids``, each with whether the person is on the support team."""
        ...

    async def space_facts(self, ticket_key: str, platform: Platform) -> tuple[str, list[str]] | None:
        """The title and member ids (as ``member_ids``) of a ticket whose space is being created, read together;
        None for an unknown ticket."""
        ...

    async def home_sections(self, platform: Platform, user_id: str, lang: str) -> list[str]:
        """A person's open tickets as the App Home shows them: for the team, those assigned to them first."""
        ...

    async def summary(self, ticket_key: str, platform: Platform) -> TicketSummary | None:
        """A ticket's title, origin thread and requester's account on ``platform`` (the mail thread's subject,
        and the address its messages go to); None for an unknown ticket."""
        ...

    async def files(self, ticket_key: str) -> list[Attachment]:
        """The files kept on a ticket (name, type, size, the platform's reference), oldest first."""
        ...

    async def is_staff(self, platform: Platform, user_id: str) -> bool:
        """Whether the account is the support team's ([people], or a staff role through a group)."""
        ...

    async def moved_into(self, platform: Platform, channel_id: str, message_id: str) -> str | None:
        """The key of the ticket a public conversation was moved into, by the id of any of its messages (its
        root, a copied or followed reply); None when the message was not moved. ``channel_id`` as the core
        names the channel (``ChannelRef.channel_id``)."""
        ...


class GroupsPort(Protocol):
    def watched(self, platform: Platform) -> set[str]:
        """The group ids of ``[access]`` whose members the adapter keeps current."""
        ...

    async def replace(self, platform: Platform, members: Mapping[str, Iterable[str]]) -> None:
        """Each group's members in full (at start, after a reconnect)."""
        ...

    async def changed(self, platform: Platform, group_id: str, added: Sequence[str], removed: Sequence[str]) -> None:
        """People joined or left one group."""
        ...


class TicketFormPort(Protocol):
    topics: list[str]
    extra_fields: tuple[str, ...]

    def spec(self, lang: str, topic: str | None = None, *, staff: bool = False) -> FormSpec:
        """The form with the fields ``topic`` needs (its ``[[intake]]`` rule); ``staff``: the support team's form,
        with the "for (caller / e-mail)" field that a requester is never shown."""
        ...

    def per_topic(self) -> bool:
        """Whether the fields depend on the topic (then choosing it updates the form)."""
        ...

    def required(self, topic: str | None) -> tuple[str, ...]: ...

    def validate(self, values: Mapping[str, str], lang: str, required: Sequence[str]) -> dict[str, str]:
        """Field name → what is wrong with it, in ``lang``."""
        ...


class DeskFacts(Protocol):
    def command_groups(self) -> set[str]:
        """The first words of the desk's commands (``ticket``, ``duty`` …)."""
        ...


class LeasePort(Protocol):
    async def run_while_held(self, work: Callable[[], Coroutine[Any, Any, object]], *, stop: Any = None) -> None:
        """Runs ``work`` whenever this replica holds the lease; cancels it when the lease is lost."""
        ...


@dataclass(frozen=True)
class Ports:
    settings: Settings
    clock: Clock
    inbox: InboxPort
    health: HealthPort
    state: StatePort
    tickets: TicketReads
    groups: GroupsPort
    form: TicketFormPort
    desk: DeskFacts
    lease: Callable[[str], LeasePort]
    request_stop: Callable[[], None]
