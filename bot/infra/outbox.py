"""The outbox: messages are rows written in the same transaction as the change they report,
and a sender delivers them with retries, backoff and ``Retry-After``.

The row id is the idempotency key a platform sees (the Matrix transaction id), so a message
delivered twice after a crash is shown once.

Two ways a row is delivered, with the same guarantees (a claim lease before the send, order per
target, retries with backoff):

- **inline** (Slack and Matrix): a unit of work that called :func:`claim_inline` enqueues its rows
  already claimed by this process (due only after ``CLAIM_TTL``), and right after its commit
  :meth:`OutboxSender.deliver_now` sends them in the same process, without a claim transaction and
  without waiting for the sender's loop. A crash between the commit and the send leaves claimed rows
  that the sender's loop delivers once the lease runs out.
- **the sender's loop** (everything else: timers, jobs, retries, rows an inline delivery gave back):
  due rows in id order, one claim statement per target's line of rows.

Marking rows sent is one statement for all the rows that finished sending meanwhile (a group commit).

What people wait for goes first, across targets (within a target the order is always the row order):
a Prio-1 page takes no concurrency slot at all, a receipt takes the next free slot before any other
line waiting for one, and the sender's loop picks up due pages and receipts beyond its batch and
starts their lines first (:data:`FIRST_KINDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import structlog
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.mentions import MARKS, plain
from bot.core.ports import DeliveryError, delivery_line
from bot.core.types import (
    URGENT_KINDS,
    Button,
    MessageKind,
    OutboundMessage,
    OutgoingFile,
    Platform,
    Removal,
    Target,
    Visibility,
)
from bot.core.uow import UnitOfWork, new_row
from bot.infra import metrics
from bot.infra.supervise import stop, supervise
from storage.db import RankedSemaphore
from storage.models import OutboxFile, OutboxMessage, table_of

log = structlog.stdlib.get_logger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=10)
# how long a claimed row is left to the replica sending it before another may try again
CLAIM_TTL = timedelta(minutes=2)
TargetKey = tuple[str, str, str | None, str | None]


class Operation(StrEnum):
    """What the outbox does with a row: send a message, or remove a person's message (a privacy move)."""

    SEND = "send"
    REMOVE = "remove"
    # change a message the bot sent before (meta "of": that row's id) in place: Slack chat.update, Matrix
    # m.replace; the ticket's card in the duty channel when its state changes
    UPDATE = "update"
    # archive or unarchive a ticket's private space, or give it a name and topic (meta "space": "archive" |
    # "unarchive" | "topic", and "name" for a topic)
    SPACE = "space"


# Removal rows also carry this kind for one release: the previous release reads (and writes) removals by kind
# alone, and its replicas run on the new schema during a rolling upgrade (docs/admin.md, "Upgrades").
LEGACY_REMOVE_KIND = "remove"


def is_removal(row: OutboxMessage) -> bool:
    """A removal row, written by this release (operation) or by a replica of the previous one (kind only)."""
    return row.operation == Operation.REMOVE or row.kind == LEGACY_REMOVE_KIND


def enqueue(
    session: AsyncSession,
    now: datetime,
    target: Target,
    text: str,
    *,
    kind: MessageKind,
    visibility: Visibility,
    ticket: str | None = None,
    buttons: Iterable[Button] = (),
    thread_of: int | None = None,
    files: Iterable[OutgoingFile] = (),
) -> OutboxMessage:
    """Queues a message in the caller's unit of work. ``thread_of``: the id of an earlier row to the same target
    whose message this one answers in its thread (the platform's id of it is known only once it is sent).
    ``files`` are stored with the row (table ``outbox_files``, in the same transaction) and sent after its text."""
    meta: dict[str, Any] = {}
    if thread_of is not None:
        meta["thread_of"] = thread_of
    files = list(files)
    if files:
        meta["files"] = len(files)
    row = _add(session, now, target, Operation.SEND, kind=kind, visibility=visibility, text=text, ticket=ticket,
               buttons=[b.model_dump() for b in buttons], meta=meta or None)
    if files:
        row.files = [OutboxFile(position=i, name=f.name, content_type=f.type, title=f.title, data=f.data)
                     for i, f in enumerate(files)]
    return row


def enqueue_update(session: AsyncSession, now: datetime, target: Target, text: str, *, of: int, kind: MessageKind,
                   visibility: Visibility, ticket: str | None = None, buttons: Iterable[Button] = ()) -> OutboxMessage:
    """Queues a change of the message of row ``of`` (same target, sent before it in the target's order): its text
    and buttons are replaced. Where that message never arrived there is nothing to change."""
    return _add(session, now, target, Operation.UPDATE, kind=kind, visibility=visibility, text=text, ticket=ticket,
                buttons=[b.model_dump() for b in buttons], meta={"of": of})


def enqueue_removal(session: AsyncSession, now: datetime, target: Target, message_id: str, *,
                    ticket: str | None = None) -> OutboxMessage:
    """Queues the removal of a person's message from ``target`` (a channel) in the caller's unit of work.
    It is delivered like a message (claims, order per target, retries, the dead report)."""
    return _add(session, now, target, Operation.REMOVE, kind=None, visibility=Visibility.PUBLIC, text="",
                ticket=ticket, buttons=[], meta={"message_id": message_id})


def enqueue_space(session: AsyncSession, now: datetime, target: Target, action: str, text: str, *,
                  ticket: str | None = None, name: str | None = None) -> OutboxMessage:
    """Queues the archiving (with ``text``, the bot's goodbye) or unarchiving of a ticket's private space, or its new
    ``name`` and topic (``text``, action "topic"), in the space's order: after every message queued there before it."""
    meta: dict[str, Any] = {"space": action}
    if name is not None:
        meta["name"] = name
    return _add(session, now, target, Operation.SPACE, kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE,
                text=text, ticket=ticket, buttons=[], meta=meta)


def _add(session: AsyncSession, now: datetime, target: Target, operation: Operation, *, kind: MessageKind | None,
         visibility: Visibility, text: str, ticket: str | None, buttons: list[dict[str, str]],
         meta: dict[str, Any] | None = None) -> OutboxMessage:
    unit = UnitOfWork.find(session)
    inline = unit.inline if unit is not None else None
    values = dict(
        created_at=now,
        operation=operation.value,
        platform=target.platform.value,
        target_kind=target.kind,
        channel_id=target.channel_id,
        thread_id=target.thread_id,
        user_id=target.user_id,
        ticket_key=target.ticket or ticket,
        kind=MessageKind(kind).value if kind is not None else LEGACY_REMOVE_KIND,
        visibility=visibility.value,
        text=text,
        buttons=buttons,
        meta=meta,
        status="pending",
        attempts=0,
        # claimed by this process from the start when it delivers the unit of work's rows itself
        next_attempt_at=now if inline is None else now + CLAIM_TTL,
    )
    if unit is not None:
        row = new_row(OutboxMessage, values)
        unit.add(row)  # written with the unit's other rows, one INSERT (bot/core/uow.py)
    else:
        row = OutboxMessage(**values)
        session.add(row)
    if inline is not None:
        inline.append(row)
    return row


def claim_inline(unit: UnitOfWork) -> list[OutboxMessage]:
    """From here on, the rows ``unit`` enqueues are claimed by this process (the lease is written with
    the INSERT: no claim transaction) and collected in the returned list. After the commit, hand the
    list to :meth:`OutboxSender.deliver_now`; if the process dies first, the rows fall due when the
    lease runs out and the sender's loop delivers them."""
    unit.inline = []
    return unit.inline


def target_key(row: OutboxMessage) -> TargetKey:
    """The line a row belongs to: rows of one key are delivered in id order."""
    return (row.platform, row.target_kind, row.channel_id or row.ticket_key, row.user_id)


def target_of(row: OutboxMessage) -> Target:
    """Where ``row`` went (and where a change of its message goes)."""
    return Target(
        kind=row.target_kind,
        platform=Platform(row.platform),
        channel_id=row.channel_id,
        thread_id=row.thread_id,
        user_id=row.user_id,
        ticket=row.ticket_key if row.target_kind == "ticket" else None,
    )


def to_message(row: OutboxMessage, *, thread: str | None = None, updates: str | None = None,
               files: tuple[OutgoingFile, ...] = ()) -> OutboundMessage:
    """The row as a message; ``thread``/``updates``: the platform's id of the message it answers in a thread, or
    changes in place (resolved from the earlier row at delivery); ``files``: the row's files, read by
    :func:`files_of`."""
    target = target_of(row)
    if thread is not None:
        target = target.model_copy(update={"thread_id": thread})
    space = (row.meta or {}).get("space") if row.operation == Operation.SPACE else None
    name = (row.meta or {}).get("name") if space == "topic" else None
    return OutboundMessage(
        id=row.id,
        target=target,
        updates=updates,
        space=space,
        name=name,
        text=row.text,
        kind=MessageKind(cast(str, row.kind)),  # only a removal has none, and it is no message
        visibility=Visibility(row.visibility),
        ticket=row.ticket_key,
        buttons=tuple(Button(**b) for b in row.buttons or ()),
        files=files,
    )


async def files_of(session: AsyncSession, row: OutboxMessage) -> tuple[OutgoingFile, ...]:
    """The files stored with a row, in their order (none without the meta ``files`` count: no query)."""
    if not (row.meta or {}).get("files"):
        return ()
    found = await session.scalars(select(OutboxFile).where(OutboxFile.outbox_id == row.id)
                                  .order_by(OutboxFile.position))
    return tuple(OutgoingFile(name=f.name, type=f.content_type, title=f.title, data=f.data) for f in found)


def to_removal(row: OutboxMessage) -> Removal:
    return Removal(id=row.id, target=target_of(row), message_id=str((row.meta or {}).get("message_id") or ""),
                   ticket=row.ticket_key)


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=max(retry_after, 0.0))
    base = min(2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=base * (1 + random.random() / 4))


# the lines that go first: a Prio-1 page (no slot at all) and a new ticket's receipt (the next free slot)
FIRST_KINDS = URGENT_KINDS | {MessageKind.RECEIPT}


def rank(rows: Iterable[OutboxMessage]) -> int:
    """Where a line of rows stands in the queue for a delivery slot: 0 with a page or a receipt in it, else 1."""
    return 0 if any(row.kind in FIRST_KINDS for row in rows) else 1


class Slots(RankedSemaphore):
    """At most ``size`` lines delivered at once; a free slot goes to the waiting line of the lowest rank,
    among equals to the one that waited longest (a plain semaphore would make a receipt queue behind
    every line of ordinary traffic that asked before it)."""


Sender = Callable[[OutboundMessage], Awaitable[str | None]]
Remover = Callable[[Removal], Awaitable[str | None]]


@dataclass
class InlinePlan:
    """What a unit of work hands to :meth:`OutboxSender.deliver_now` after its commit."""

    lines: dict[TargetKey, list[OutboxMessage]] = field(default_factory=dict)
    before: dict[TargetKey, asyncio.Task[bool] | None] = field(default_factory=dict)
    # the tickets the unit opened whose space's line is in the plan: no space was made for them before it
    new_spaces: frozenset[str] = frozenset()
    # some of the unit's rows are not in the plan: they fall due for the sender's loop, which the commit must wake
    left_to_loop: bool = True


class OutboxSender:
    """Delivers due rows in id order; a failing target holds back its later rows, so order is kept.

    Several senders may run on one database (replicas): each attempt first claims its row.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        senders: dict[Platform, Sender],
        on_dead: Callable[[OutboxMessage], Awaitable[None]] | None = None,
        batch: int = 100,
        concurrency: int = 1,
        removers: dict[Platform, Remover] | None = None,
        mentions: Iterable[Platform] = (),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.senders = senders
        # the platforms that show the bot's mentions as theirs (Capability.MENTIONS); the others get plain text
        self.mentions = frozenset(mentions)
        # the platforms that can take a person's message off a channel (Capability.DELETE)
        self.removers = removers or {}
        self.on_dead = on_dead
        self.batch = batch
        self.wakeup = asyncio.Event()
        # one delivery pass at a time in this process, or two passes would send the same row
        self._lock = asyncio.Lock()
        # how many targets are sent to at once; 1 keeps a transcript's order (simulator, console)
        self._slots = Slots(concurrency)
        # inline deliveries: per target the last line scheduled (the next one waits for it), the ids
        # claimed and not settled yet, and every task still running (drain waits for them)
        self._tails: dict[TargetKey, asyncio.Task[bool]] = {}
        self._inflight: set[int] = set()
        self._inline: set[asyncio.Task[Any]] = set()
        # rows sent and waiting for their "sent" mark: one UPDATE for all of them (a group commit)
        self._marks: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._marker: asyncio.Task[None] | None = None

    async def _due(self) -> list[OutboxMessage]:
        """The first ``batch`` due rows in id order and, when more are due, the pages and receipts among
        the rest whose target has no older row left out (they would overtake it)."""
        async with self.sessions() as session:
            due = (OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= self.clock.now(),
                   OutboxMessage.platform.in_([p.value for p in self.senders]))
            rows = list((await session.scalars(
                select(OutboxMessage).where(*due).order_by(OutboxMessage.id).limit(self.batch))).all())
            if len(rows) < self.batch:
                return rows
            last = rows[-1].id
            first = list((await session.scalars(
                select(OutboxMessage).where(*due, OutboxMessage.id > last,
                                            OutboxMessage.kind.in_([k.value for k in FIRST_KINDS]))
                .order_by(OutboxMessage.id).limit(self.batch))).all())
            if not first:
                return rows
            # the rows between the batch and those that are left out: a target with one of them keeps its order
            between = (await session.execute(
                select(OutboxMessage.id, OutboxMessage.platform, OutboxMessage.target_kind, OutboxMessage.channel_id,
                       OutboxMessage.ticket_key, OutboxMessage.user_id)
                .where(OutboxMessage.status == "pending", OutboxMessage.id > last, OutboxMessage.id < first[-1].id,
                       OutboxMessage.kind.not_in([k.value for k in FIRST_KINDS]) | OutboxMessage.kind.is_(None))
            )).all()
            held: dict[TargetKey, int] = {}
            for row_id, platform, kind, channel, ticket, user in between:
                key = (platform, kind, channel or ticket, user)
                held[key] = min(held.get(key, row_id), row_id)
            return rows + [row for row in first if held.get(target_key(row), row.id) >= row.id]

    async def drain(self) -> int:
        """Sends everything that is due now (after the inline deliveries under way); returns how many
        rows this pass delivered."""
        await self.settle()
        async with self._lock:
            return await self._drain()

    async def wait_inline(self, timeout: float) -> None:
        """Waits at most ``timeout`` seconds for the inline deliveries under way now."""
        if self._inline:
            await asyncio.wait(set(self._inline), timeout=timeout)

    async def settle(self) -> None:
        """Waits until the inline deliveries started so far have finished (sent, or given back)."""
        while others := self._inline - {asyncio.current_task()}:  # never itself (a sender that drains)
            # wait, not gather: a waiter that is cancelled (the loop stopping) must not cancel the sends
            await asyncio.wait(others)

    async def _waiting(self) -> dict[tuple[str, str, str | None, str | None], int]:
        """Per target, the first row that waits for a retry: no later row of that target may overtake it."""
        async with self.sessions() as session:
            stmt = (
                select(OutboxMessage.platform, OutboxMessage.target_kind,
                       func.coalesce(OutboxMessage.channel_id, OutboxMessage.ticket_key), OutboxMessage.user_id,
                       func.min(OutboxMessage.id))
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at > self.clock.now())
                .group_by(OutboxMessage.platform, OutboxMessage.target_kind,
                          func.coalesce(OutboxMessage.channel_id, OutboxMessage.ticket_key), OutboxMessage.user_id)
            )
            return {(p, k, c, u): first for p, k, c, u, first in (await session.execute(stmt)).all()}

    async def _drain(self) -> int:
        delivered = 0
        # a target whose row waits for a retry holds back its later rows, so order is kept
        waiting = await self._waiting()
        blocked: set[TargetKey] = set()
        while True:
            rows = await self._due()
            if not rows:
                return delivered
            lines: dict[TargetKey, list[OutboxMessage]] = {}
            for row in rows:
                key = target_key(row)
                if key not in blocked and waiting.get(key, row.id) >= row.id:
                    lines.setdefault(key, []).append(row)
            # targets are independent of each other: up to `concurrency` of them are served at once
            # every line finishes before the pass ends (a database error in one must not leave the others
            # sending after the lock is released, where the next pass could overtake them in their target)
            # pages and receipts first: their lines ask for a slot before any other (sorted() is stable)
            ordered = sorted(lines, key=lambda key: rank(lines[key]))
            lines = {key: lines[key] for key in ordered}
            results = await asyncio.gather(*(self._send_line(line) for line in lines.values()),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            progress = False
            for key, (sent, moved, stopped) in zip(lines, results, strict=True):  # type: ignore[misc]
                delivered += sent
                progress = progress or moved
                if stopped:
                    blocked.add(key)
            if not progress:
                return delivered

    def _slot(self, rows: list[OutboxMessage]) -> contextlib.AbstractAsyncContextManager[Any]:
        """The concurrency slot a line of rows is sent in; none for a line with a page in it (URGENT_KINDS),
        the next free one for a line with a receipt (see :class:`Slots`)."""
        if any(row.kind in URGENT_KINDS for row in rows):
            return contextlib.nullcontext()
        return self._slots.slot(rank(rows))

    async def _send_line(self, rows: list[OutboxMessage]) -> tuple[int, bool, bool]:
        """Sends one target's rows in order: (rows sent, whether any row was settled, whether it stopped)."""
        async with self._slot(rows):
            with delivery_line():   # every row here was committed: what one row's send reads, the next may use
                return await self._send_claimed(rows)

    async def _send_claimed(self, rows: list[OutboxMessage]) -> tuple[int, bool, bool]:
        now = self.clock.now()
        claimed = await self._claim(rows, now)
        sent, moved = 0, False
        for i, row in enumerate(rows):
            if row.id not in claimed:  # another replica has it: the rest of the line waits behind it
                # only what this pass claimed goes back: the lease is a time, and another replica on the
                # same clock reading can hold an equal one on rows it is sending right now
                await self._release([r for r in rows[i + 1:] if r.id in claimed], {now + CLAIM_TTL})
                return sent, moved, True
            row.attempts = claimed[row.id]
            outcome = await self._attempt(row, now)
            sent += outcome == "sent"
            moved = moved or outcome in ("sent", "dead")
            if outcome == "retry":
                await self._release(rows[i + 1:], {now + CLAIM_TTL})
                return sent, moved, True
        return sent, moved, False

    async def _claim(self, rows: list[OutboxMessage], now: datetime) -> dict[int, int]:
        """Takes a line's due rows for one delivery attempt each, in one statement; returns the ids
        taken with their attempts. Pushing the due time past the claim time is the lease: another
        replica's claim fails meanwhile, and after a crash the rows are due again."""
        async with self.sessions.begin() as session:
            claimed = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]), OutboxMessage.status == "pending",
                       OutboxMessage.next_attempt_at <= now)
                .values(next_attempt_at=now + CLAIM_TTL)
                .returning(OutboxMessage.id, OutboxMessage.attempts)
                .execution_options(synchronize_session=False)
            )
            return {row_id: attempts for row_id, attempts in claimed.all()}

    async def _release(self, rows: list[OutboxMessage], leases: set[datetime]) -> None:
        """Gives claimed rows that were not attempted back to the sender's loop (due now; a row of their
        target that waits for a retry still holds them back). Only rows still under this claim's
        ``leases`` (their due times): a row whose lease ran out may be another replica's by now."""
        if not rows:
            return
        async with self.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]), OutboxMessage.status == "pending",
                       OutboxMessage.next_attempt_at.in_(leases))
                .values(next_attempt_at=self.clock.now())
                .execution_options(synchronize_session=False)
            )
        self.wakeup.set()

    async def _attempt(self, row: OutboxMessage, now: datetime) -> str:
        """Sends one claimed row: ``sent``, ``retry`` (still pending, later) or ``dead`` (given up)."""
        try:
            ref = await self._deliver(row)
        except DeliveryError as exc:
            return await self._failed(row, exc, now)
        except Exception as exc:  # a bug in an adapter must not stop delivery of everything else
            # the exception's text may quote the message: its type at warning, the traceback at debug
            log.warning("outbox: row send raised", row=row.id, error=type(exc).__name__)
            log.debug("outbox: row send raised", row=row.id, exc_info=True)
            return await self._failed(row, DeliveryError(type(exc).__name__), now)
        await self._mark_sent(row, ref, now)
        metrics.DELIVERIES.labels(row.platform).inc()
        return "sent"

    async def _deliver(self, row: OutboxMessage) -> str | None:
        platform = Platform(row.platform)
        if is_removal(row):
            remover = self.removers.get(platform)
            if remover is None:
                raise DeliveryError(f"{platform.value} cannot remove messages", permanent=True)
            return await remover(to_removal(row))
        meta = row.meta or {}
        earlier = meta.get("of") or meta.get("thread_of")
        ref = await self._ref_of(int(earlier)) if earlier else None
        if row.operation == Operation.UPDATE:
            if ref is None:
                return None  # the message to change never arrived (dead): nothing to change, nothing to retry
            return await self.senders[platform](self._shown(platform, to_message(row, updates=ref)))
        files: tuple[OutgoingFile, ...] = ()
        if meta.get("files"):
            async with self.sessions() as session:
                files = await files_of(session, row)
        # a reply whose thread root never arrived is posted on its own
        return await self.senders[platform](self._shown(platform, to_message(row, thread=ref, files=files)))

    def _shown(self, platform: Platform, message: OutboundMessage) -> OutboundMessage:
        """The message with the bot's mentions for a platform that shows them, else with their plain text."""
        if platform in self.mentions or not MARKS.search(message.text):
            return message
        return message.model_copy(update={"text": plain(message.text)})

    async def _ref_of(self, row_id: int) -> str | None:
        """The platform's id of an earlier row's message, once it was sent."""
        async with self.sessions() as session:
            return await session.scalar(select(OutboxMessage.platform_ref).where(
                OutboxMessage.id == row_id, OutboxMessage.status == "sent"))

    async def _mark_sent(self, row: OutboxMessage, ref: str | None, now: datetime) -> None:
        """Marks a row sent together with the others sent meanwhile (one UPDATE, one commit)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.append(({"b_id": row.id, "b_at": now, "b_attempts": row.attempts + 1, "b_ref": ref}, done))
        if self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._flush_marks(), name="outbox-marks")
        await done
        row.status, row.attempts, row.sent_at, row.platform_ref = "sent", row.attempts + 1, now, ref

    async def _flush_marks(self) -> None:
        table = table_of(OutboxMessage)
        stmt = (update(table)
                .where(table.c.id == bindparam("b_id"), table.c.status == "pending")
                .values(status="sent", sent_at=bindparam("b_at"), attempts=bindparam("b_attempts"),
                        platform_ref=bindparam("b_ref")))
        while self._marks:
            batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
            try:
                async with self.sessions.begin() as session:
                    connection = await session.connection()
                    # taken once the transaction has its connection (on SQLite: the writer), so the marks that came
                    # while it waited for it are written in this statement too, not in a transaction of their own
                    batch, self._marks = self._marks, []
                    await connection.execute(stmt, [params for params, _ in batch])
            except BaseException as exc:
                if not batch:
                    batch, self._marks = self._marks, []
                # sent but not marked: the lease runs out and the row is sent again under the same id
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                if not isinstance(exc, Exception):
                    for _, done in self._marks:
                        done.cancel()
                    self._marks = []
                    raise
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _failed(self, row: OutboxMessage, exc: DeliveryError, now: datetime) -> str:
        attempts = row.attempts + 1
        dead = exc.permanent or attempts >= MAX_ATTEMPTS
        metrics.DELIVERY_ERRORS.labels(row.platform, "dead" if dead else "retry").inc()
        log.warning("outbox: row attempt failed", row=row.id, attempt=attempts, reason=exc.reason)
        async with self.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    status="dead" if dead else "pending",
                    attempts=attempts,
                    last_error=exc.reason[:500],
                    next_attempt_at=now + backoff(attempts, exc.retry_after),
                )
                .execution_options(synchronize_session=False)
            )
        if not dead:
            return "retry"
        if self.on_dead is not None:
            row.status, row.last_error, row.attempts = "dead", exc.reason, attempts
            await self.on_dead(row)
        return "dead"

    # ----------------------------------------------------------------- inline delivery

    async def plan_inline(self, session: AsyncSession, rows: list[OutboxMessage]) -> InlinePlan:
        """At the end of a unit of work (before its commit): which of its claimed rows this process
        delivers right after the commit. A target with an older pending row that this process is not
        sending already (a row waiting for a retry, a row of the sender's loop, another replica's) is
        left to the sender's loop, which keeps the order: its rows are unclaimed before they are written.
        """
        lines: dict[TargetKey, list[OutboxMessage]] = {}
        for row in rows:
            lines.setdefault(target_key(row), []).append(row)
        own = {row.id for row in rows if row.id is not None}  # flushed already by an autoflush
        # taken together, before the query: a row in flight here is in the chain of its target's last line
        sending, tails = set(self._inflight), {key: self._tails.get(key) for key in lines}
        users = {key[3] for key in lines if key[3] is not None}
        places = {key[2] for key in lines if key[2] is not None}
        stmt = (
            select(OutboxMessage.id, OutboxMessage.platform, OutboxMessage.target_kind,
                   OutboxMessage.channel_id, OutboxMessage.ticket_key, OutboxMessage.user_id)
            .where(OutboxMessage.status == "pending",
                   OutboxMessage.user_id.in_(users) | OutboxMessage.channel_id.in_(places)
                   | OutboxMessage.ticket_key.in_(places))
        )
        with session.no_autoflush:  # the new rows are not written yet: they are this unit's, not older
            found = (await session.execute(stmt)).all()
        blocked: set[TargetKey] = set()
        for row_id, platform, kind, channel, ticket, user in found:
            if row_id not in own and row_id not in sending:
                blocked.add((platform, kind, channel or ticket, user))
        plan = InlinePlan()
        for key, line in lines.items():
            if key in blocked or Platform(line[0].platform) not in self.senders:
                for row in line:  # due now, for the sender's loop (which this commit wakes)
                    row.next_attempt_at -= CLAIM_TTL
                continue
            plan.lines[key] = line
            # the line of this target being sent right now, if any: this one is chained behind it (and
            # gives up if it stops), even when it finishes before this unit of work commits
            plan.before[key] = tails[key]
        unit = UnitOfWork.find(session)
        if unit is not None and unit.opened:   # the ticket's key as loaded (never a lazy load)
            opened = {unit.held[ticket].__dict__.get("key") for ticket in unit.opened if ticket in unit.held}
            plan.new_spaces = frozenset(key[2] for key in plan.lines
                                        if key[1] == "ticket" and key[2] is not None and key[2] in opened)
        return plan

    def deliver_now(self, plan: InlinePlan) -> None:
        """Starts delivering a committed unit of work's lines planned by :meth:`plan_inline`.

        Per target, lines are chained in commit order in this process: a line starts when the previous
        line of its target has finished, and gives its rows back to the sender's loop when that one
        stopped (a retry). Replies to the person go first and a ticket's private space after them:
        setting up a space (a Slack channel, a Matrix room and its invites) keeps a homeserver busy far
        longer than a message, and the receipt must not queue behind it.
        """
        first: list[asyncio.Task[bool]] = []
        for key, line in sorted(plan.lines.items(), key=lambda item: item[0][1] == "ticket"):
            line.sort(key=lambda row: row.id)
            self._inflight.update(row.id for row in line)
            before = self._tails.get(key) or plan.before.get(key)
            after = list(first) if key[1] == "ticket" else []
            task = self._track(asyncio.create_task(self._inline_line(key, line, before, after, plan.new_spaces),
                                                   name="outbox-inline"))
            self._tails[key] = task
            task.add_done_callback(functools.partial(self._forget_tail, key))
            if key[1] != "ticket":
                first.append(task)

    def _forget_tail(self, key: TargetKey, done: asyncio.Task[bool]) -> None:
        if self._tails.get(key) is done:  # a later line of the same target may have replaced it
            del self._tails[key]

    def _track(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        self._inline.add(task)
        task.add_done_callback(self._inline.discard)
        return task

    async def _inline_line(self, key: TargetKey, rows: list[OutboxMessage], before: asyncio.Task[bool] | None,
                           after: list[asyncio.Task[bool]], new_spaces: frozenset[str] = frozenset()) -> bool:
        """One target's rows of an inline delivery; True when all of them were settled (sent or dead)."""
        leases = {row.next_attempt_at for row in rows}
        try:
            go = before is None or await _ok(before)
            if after:
                await asyncio.wait(after)
            if not go:
                await self._release(rows, leases)
                return False
            async with self._slot(rows):
                # every row here was committed: what one row's send reads, the next may use
                with delivery_line(new_spaces):
                    now = self.clock.now()
                    for i, row in enumerate(rows):
                        if await self._attempt(row, now) == "retry":
                            await self._release(rows[i + 1:], leases)
                            return False
            return True
        except Exception as exc:  # e.g. the database went away: the leases run out, the sender's loop retries
            log.warning("outbox: inline delivery failed, the rows are retried after their lease",
                        error=type(exc).__name__)
            log.debug("outbox: inline delivery failed", exc_info=True)
            return False
        finally:
            self._inflight.difference_update(row.id for row in rows)

    async def run(self, poll: float = 1.0) -> None:
        """Production: delivers what is due, every ``poll`` seconds and whenever a commit wakes it."""
        async def one_pass() -> None:
            await self.drain()

        await supervise("outbox: delivery pass", one_pass, every=poll, wake=self.wakeup)

    async def stop(self, loop: asyncio.Task[None]) -> None:
        """Ends the task of :meth:`run` between two passes. A pass under way finishes first: a send cut
        off may have reached the platform unmarked, and would be sent a second time after the restart."""
        async with self._lock:
            await stop(loop)


async def _ok(task: asyncio.Task[bool]) -> bool:
    """Whether an earlier inline line of the same target settled all its rows."""
    await asyncio.wait([task])
    return not task.cancelled() and task.exception() is None and task.result()
