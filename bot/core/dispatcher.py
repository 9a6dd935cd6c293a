"""The dispatcher: one inbound event → dedupe → actor → command → one unit of work → replies.

``accept`` stores the event (the inbox row) before anything else can fail, so a platform can
be acknowledged right after it; ``process`` does the work in one transaction that also marks
the row done. A crash between the two leaves a ``received`` row that ``recover`` finishes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import Insert, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot import access
from bot.access import senders
from bot.access.groups import with_group_roles
from bot.access.people import actor_for, resolve
from bot.core.context import Actor, Context
from bot.core.desk import Desk
from bot.core.errors import Refused, in_language
from bot.core.registry import Parsed, ParseError
from bot.core.types import (
    AUTOMATIC_MAIL,
    VENDOR_MAIL,
    Button,
    Capability,
    InboundEvent,
    MessageKind,
    Platform,
    Reply,
    Target,
    Visibility,
    button_command,
)
from bot.core.uow import UnitOfWork, unit_of_work
from bot.i18n import t
from bot.infra import metrics
from bot.infra.outbox import InlinePlan, OutboxSender, claim_inline, enqueue
from bot.mailbox import service as mailbox
from bot.privacy import route as privacy
from bot.tickets import conversation, pressed, service
from bot.tickets import form as ticket_form
from bot.workflow import hooks as workflow
from bot.workflow import vendor
from storage.db import begin_first, engine_of
from storage.errors import StorageUnavailable, unavailable
from storage.models import OutboxMessage, ProcessedEvent, table_of
from storage.upsert import upsert_for

log = structlog.stdlib.get_logger(__name__)

ROLE_NEEDED = {"staff": None, "lead": "lead", "coordinator": "coordinator", "admin": "admin"}


def reference(key: str) -> str:
    """A short reference a person can quote to the duty team, without revealing the event."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


class OnCommit(Protocol):
    def __call__(self, *, outbox: bool = True) -> None: ...


def _nothing(*, outbox: bool = True) -> None:
    """No one to tell of a commit."""


class Dispatcher:
    def __init__(self, desk: Desk, on_commit: OnCommit | None = None, inline: OutboxSender | None = None) -> None:
        self.desk = desk
        # after each commit of an event's work (bot.app: wakes the timer loop, and the outbox's sender unless
        # ``outbox`` is False: the unit's messages are all being delivered inline)
        self.on_commit: OnCommit = on_commit or _nothing
        # set (bot.app.build, on Slack and Matrix): a unit of work's outbox rows are enqueued claimed
        # by this process and sent by it right after the commit (bot/infra/outbox.py, inline delivery)
        self.inline = inline

    async def handle(self, event: InboundEvent) -> bool:
        """Accepts and processes an event; False when it was a duplicate. Raises StorageUnavailable
        when the database is away (``accepted`` says whether the event was stored before)."""
        try:
            new = await self.accept(event)
        except Exception as exc:
            if unavailable(exc):
                log.warning("inbox: event not stored, the database is unavailable", key=event.idempotency_key,
                            ref=reference(event.idempotency_key), error=type(exc).__name__)
                raise StorageUnavailable(accepted=False, cause=exc) from exc
            raise
        if not new:
            return False
        await self.process(event)
        return True

    async def handle_redelivered(self, event: InboundEvent) -> bool:
        """For a source that delivers again until it is told it may stop (the Matrix sync token moves only
        after its batch is handled): the inbox row and the work commit together, one commit instead of two.
        A failure rolls both back; the event is then stored as failed (a bug, the person is told) or, with
        the database away, left to the source's redelivery. False for a duplicate."""
        key = event.idempotency_key
        plan: InlinePlan | None = None
        try:
            async with unit_of_work(self.desk) as unit:
                new = bool(await self._store(unit.session, [event], status="done", handled_at=self.desk.clock.now()))
                if new:
                    plan = await self._unit(unit, event)
        except Exception as exc:
            if unavailable(exc):
                log.warning("inbox: event not stored, the database is unavailable", key=key, ref=reference(key),
                            error=type(exc).__name__)
                raise StorageUnavailable(accepted=False, cause=exc) from exc
            await self._give_up(event, exc, accepted=False)
            return True
        if not new:
            await self.process(event)  # stored before but unfinished (a crash in the two-step path): finish it
            return False
        self._committed(plan)
        return True

    def rank(self, event: InboundEvent) -> int:
        """0 for a command that opens a Prio-1 ticket or raises one to Prio-1 (its page must not wait behind
        other work), else 1; whoever queues events for processing takes rank 0 first."""
        if event.kind != "command":
            return 1
        parsed = self.desk.registry.parse(event.text)
        if isinstance(parsed, ParseError):
            return 1
        args = parsed.args
        return 0 if getattr(args, "priority", None) == 1 or getattr(args, "level", None) == 1 else 1

    async def accept(self, event: InboundEvent) -> bool:
        """Persists the event; False when this idempotency key was seen before."""
        return (await self.accept_many([event]))[0]

    async def accept_many(self, events: Sequence[InboundEvent]) -> list[bool]:
        """Persists several events in one transaction (a group commit of concurrent requests);
        for each, False when its idempotency key was seen before (also earlier in ``events``)."""
        if not events:
            return []
        # a request waits for its ack: on SQLite before the background's transactions waiting for the writer; one
        # statement, so a Core connection and no ORM session
        async with begin_first(self.desk.sessions) as connection:
            stored = await self._store(connection, events)
        new: list[bool] = []
        for event in events:
            key = event.idempotency_key
            new.append(key in stored)
            stored.discard(key)
        return new

    async def _store(self, session: AsyncSession | AsyncConnection, events: Sequence[InboundEvent], *,
                     status: str = "received", handled_at: datetime | None = None) -> set[str]:
        """Inserts the inbox rows in ``session`` (or on a connection); the keys that were new."""
        now = self.desk.clock.now()
        rows = {event.idempotency_key: event for event in reversed(events)}  # the first of a key wins
        # one cached statement with a parameter list (SQLAlchemy sends it as multi-row INSERTs); a
        # literal multi-row .values([...]) would be compiled anew for every batch; on what the caller holds (a
        # session's own execute, not session.connection(): one hand-over to SQLAlchemy instead of two)
        result = await session.execute(
            self._storing(engine_of(self.desk.sessions).dialect.name),
            [{"key": key, "received_at": now, "status": status, "handled_at": handled_at,
              "payload": event.model_dump(mode="json")} for key, event in reversed(rows.items())],
        )
        # not rowcount: SQLAlchemy reports -1 for an INSERT on psycopg, which made every duplicate "new"
        return set(result.scalars().all())

    async def process(self, event: InboundEvent) -> None:
        key = event.idempotency_key
        plan: InlinePlan | None = None
        try:
            async with unit_of_work(self.desk) as unit:
                # claimed and marked done in one statement: it commits with the work or not at all (a
                # rollback leaves the row "received" for the recovery loop)
                session = unit.session
                claimed = (await session.execute(self._claim(session.get_bind().dialect.name),
                                                 {"event_key": key, "now": self.desk.clock.now()})).first()
                if claimed is None:
                    return  # done already, or another replica has it right now
                plan = await self._unit(unit, event)
        except Exception as exc:
            if unavailable(exc):
                # the database is away (connection lost, disk full): nothing was committed, the event
                # stays "received" in the inbox and a recovery pass finishes it when the database is back
                log.warning("inbox: event left for recovery, the database is unavailable", key=key,
                            ref=reference(key), error=type(exc).__name__)
                raise StorageUnavailable(accepted=True, cause=exc) from exc
            await self._give_up(event, exc, accepted=True)
            return
        self._committed(plan)

    @staticmethod
    @functools.cache
    def _storing(dialect: str) -> Insert:
        """The inbox rows' insert-or-keep, built once per dialect."""
        table = table_of(ProcessedEvent)
        return upsert_for(dialect, table, None, key=["key"]).returning(table.c.key)

    @staticmethod
    @functools.cache
    def _claim(dialect: str) -> Update:
        """The inbox row of a stored event marked done, if it is still waiting and (PostgreSQL) nobody holds it."""
        table = table_of(ProcessedEvent)
        waiting = (table.c.key == bindparam("event_key")) & (table.c.status == "received")
        stmt = update(table)
        if dialect == "postgresql":
            # a replica working on it holds the row lock: skip it at once instead of waiting for its commit
            stmt = stmt.where(table.c.key.in_(select(table.c.key).where(waiting).with_for_update(skip_locked=True)))
        else:
            stmt = stmt.where(waiting)
        return stmt.values(status="done", handled_at=bindparam("now")).returning(table.c.key)

    async def _give_up(self, event: InboundEvent, exc: Exception, *, accepted: bool) -> None:
        """The unit of work failed (a bug, not the database) and was rolled back: the event is kept as
        failed (stored now where it was not yet) and the person and the duty team are told."""
        key = event.idempotency_key
        # the traceback is for operators at debug level; content never reaches the log
        log.error("inbox: event failed", key=key, ref=reference(key), error=type(exc).__name__)
        log.debug("inbox: event failed", key=key, exc_info=True)
        try:
            if not accepted:
                await self.accept(event)
            await self._failed(event, exc)
        except Exception as failed:
            if unavailable(failed):
                raise StorageUnavailable(accepted=accepted, cause=failed) from failed
            raise
        self.on_commit()

    def _committed(self, plan: InlinePlan | None) -> None:
        # a unit whose every message is delivered right after its commit leaves the sender's loop nothing to look for
        self.on_commit(outbox=plan is None or plan.left_to_loop)
        if plan is not None and self.inline is not None:
            self.inline.deliver_now(plan)

    async def _unit(self, unit: UnitOfWork, event: InboundEvent) -> InlinePlan | None:
        """The event's work in ``unit``, finished (the features' steps after it); with inline delivery, the
        plan to send its messages after the commit."""
        inline = claim_inline(unit) if self.inline is not None else []
        await self._work(unit.session, event)
        await unit.finish()
        metrics.handled(unit.session, event.kind, event.received_at, self.desk.clock.now())
        if inline and self.inline is not None:
            plan = await self.inline.plan_inline(unit.session, inline)
            await self._given_back(unit, inline, plan)
            return plan
        return None

    @staticmethod
    async def _given_back(unit: UnitOfWork, rows: list[OutboxMessage], plan: InlinePlan) -> None:
        """The rows the plan leaves to the sender's loop fall due now (``plan_inline`` moved their lease back on the
        objects): one not written yet is written so; one a query in the unit wrote already gets an UPDATE."""
        planned = {id(row) for line in plan.lines.values() for row in line}
        plan.left_to_loop = len(planned) < len(rows)
        written = [{"row_id": row.id, "due": row.next_attempt_at} for row in rows
                   if id(row) not in planned and row.id is not None and not unit.is_pending(row)]
        if written:
            table = table_of(OutboxMessage)
            connection = await unit.session.connection()
            await connection.execute(update(table).where(table.c.id == bindparam("row_id"))
                                     .values(next_attempt_at=bindparam("due")), written)

    async def recover(self, *, older_than: timedelta | None = None, skip: Collection[str] = ()) -> int:
        """Processes events a crash left accepted but unhandled; returns how many.

        A running adapter passes ``older_than`` and ``skip`` (the events it is processing right now),
        so a periodic pass never processes an event twice at once.
        """
        stmt = select(ProcessedEvent).where(ProcessedEvent.status == "received")
        if older_than is not None:
            stmt = stmt.where(ProcessedEvent.received_at <= self.desk.clock.now() - older_than)
        async with self.desk.sessions() as session:
            rows = [row for row in (await session.scalars(stmt.order_by(ProcessedEvent.received_at))).all()
                    if row.key not in skip]
        for row in rows:
            await self.process(InboundEvent.model_validate(row.payload))
        return len(rows)

    async def _failed(self, event: InboundEvent, exc: Exception) -> None:
        ref = reference(event.idempotency_key)
        lang = self.desk.language
        async with self.desk.sessions.begin() as session:
            await session.execute(
                update(ProcessedEvent).where(ProcessedEvent.key == event.idempotency_key)
                .values(status="failed", error=type(exc).__name__, handled_at=self.desk.clock.now())
            )
            metrics.after_commit(session, metrics.EVENTS.labels(event.kind, "failed").inc)
            now = self.desk.clock.now()
            enqueue(session, now, self._dm_or_ephemeral(event), t(lang, "error.internal", ref=ref),
                    kind=MessageKind.ERROR, visibility=Visibility.EPHEMERAL)
            for target in self.desk.duty_targets():
                enqueue(session, now, target, t(lang, "error.internal_duty", ref=ref, kind=event.kind),
                        kind=MessageKind.ERROR, visibility=Visibility.PRIVATE)

    async def _work(self, session: AsyncSession, event: InboundEvent) -> None:
        now = self.desk.clock.now()
        limits = self.desk.settings.limits
        # with how many tickets they opened within the limit's window (a new ticket's limit check needs no query)
        person = await resolve(session, event.actor, now, opened_since=now - limits.per if limits.tickets else None)
        actor = actor_for(person, self.desk.settings)
        actor = await with_group_roles(session, self.desk.settings, actor, event.actor)
        ctx = Context(session=session, desk=self.desk, event=event, actor=actor,
                      prefix=self.desk.prefixes.get(event.actor.platform, "/"))
        try:
            if senders.refused(self.desk.settings, event):
                # one polite answer (at the sender's first mail), no ticket; later mails are only logged
                log.info("mail: a sender the sender check keeps out", ref=reference(event.idempotency_key))
                first = person.created_at is not None and person.created_at >= now
                replies = [Reply(text=ctx.t("mail.unknown_sender", desk=self.desk.settings.desk.name),
                                 kind=MessageKind.AUTO_ANSWER)] if first else []
            else:
                replies = await self._route(ctx)
                if event.kind == "action" and not any(reply.kind == MessageKind.ERROR for reply in replies):
                    await pressed.replace(session, self.desk, event, ctx.actor.person, ctx.actor.language)
        except Refused as refusal:
            # the one place where a refusal, raised wherever it was found out, becomes the error reply
            replies = [Reply(text=refusal.text(ctx.actor.language, prefix=ctx.prefix), kind=MessageKind.ERROR)]
        for reply in replies:
            enqueue(session, now, self._target(event, reply), reply.text, kind=reply.kind,
                    visibility=self._visibility(event, reply), ticket=reply.ticket, buttons=reply.buttons,
                    files=reply.files)

    async def _route(self, ctx: Context) -> list[Reply]:
        event = ctx.event
        moved = await privacy.route(ctx)
        if moved is not None:
            return moved
        if event.kind == "command":
            return await self.run_command(ctx, event.text)
        if event.kind == "action" and event.name:
            # a button "group-verb" runs `group verb VALUE`; a bare verb is a ticket button
            command = button_command(Button(action=event.name, label="", value=event.value or ""))
            return await self.run_command(ctx, command or "")
        if event.kind == "message" and event.ticket:
            ticket = await service.get(ctx.session, event.ticket)
            if ticket is not None and event.name == AUTOMATIC_MAIL:
                # a bounce or an auto-reply to the ticket's mail: the team sees it on the ticket, nobody answers it
                service.log(ctx.session, ticket, "mail_automatic", self.desk.clock.now(), None, body=event.text)
                return []
            if ticket is not None and event.name == VENDOR_MAIL:
                # the vendor's answer in the thread of the ticket's report: internal, for the team only
                await vendor.vendor_mail(ctx.session, self.desk, ticket, ctx.actor.person, event.text, event.value)
                return []
            if ticket is not None:
                role = await service.record_space_message(ctx.session, self.desk, ticket, ctx.actor.person,
                                                          event.text, author_is_staff=ctx.actor.is_staff)
                if event.actor.platform == Platform.MAIL and role == "requester":
                    await service.tell_team_of_mail(ctx.session, self.desk, ticket, ctx.actor.person, event.text)
                return await workflow.space_message(ctx, ticket)
            return []
        if event.kind == "dm" and event.actor.platform == Platform.MAIL:
            # a mail to a colleague personally goes to the mailbox holder first (the Head of Mailbox)
            held = await mailbox.hold(ctx)
            if held is not None:
                return held
        if event.kind == "dm" and (event.text.strip() or event.attachments):
            # a follow-up goes into the open ticket, a "thanks" opens nothing, a later DM is asked about
            handled = await conversation.direct_message(ctx)
            if handled is not None:
                return handled
        if event.kind == "dm" and event.text.strip():
            return await self.run_command(ctx, f"ticket new {event.text}")
        if event.kind == "dm" and event.attachments:
            # a screenshot sent on its own is a request too; the files go onto the ticket it opens
            names = ", ".join(a.name for a in event.attachments)
            return await self.run_command(ctx, f"ticket new {ctx.t('ticket.files_only', names=names)}")
        if event.kind == "form" and event.name == ticket_form.FORM_ID:
            return await ticket_form.create_from_form(ctx)
        return []

    async def run_command(self, ctx: Context, text: str) -> list[Reply]:
        # a command typed in a ticket's private space is about that ticket unless it names another
        space = ctx.event.ticket if ctx.event.kind == "command" else None
        parsed = self.desk.registry.parse(text, space_ticket=space)
        if isinstance(parsed, ParseError):
            return [Reply(text=self._parse_error(ctx, parsed), kind=MessageKind.ERROR)]
        if parsed.command.default_for is not None and ctx.actor.is_staff:
            # the team's "/ticket clsoe KS-7" is a typo, not a ticket; a requester's text is always their ticket
            mistyped = self.desk.registry.mistyped(text)
            if mistyped is not None:
                _command, meant = mistyped
                return [Reply(text=ctx.t("parse.did_you_mean", meant=ctx.prefix + meant, prefix=ctx.prefix,
                                         new=" ".join(parsed.command.path)), kind=MessageKind.ERROR)]
        refusal = self._refuse(ctx.actor, parsed)
        if refusal is not None:
            return [Reply(text=ctx.t(refusal, prefix=ctx.prefix, roles=access.role_names(ctx.actor)),
                          kind=MessageKind.ERROR)]
        return await parsed.command.handler(ctx, parsed.args)

    @staticmethod
    def _refuse(actor: Actor, parsed: Parsed) -> str | None:
        """The catalogue key of the refusal (it says why), or None when the actor may run the command."""
        key = access.refusal(actor, parsed.command.permission)
        if key is None or not actor.is_staff:
            return key  # a requester hears that only the support team may, and how to get help
        return parsed.command.refusal or key

    def _parse_error(self, ctx: Context, error: ParseError) -> str:
        prefix, lang = ctx.prefix, ctx.actor.language
        detail = {name: in_language(value, lang) for name, value in error.detail.items()}
        if error.command is None:
            text = ctx.t(error.reason, prefix=prefix, **detail)
            if error.group:
                staff = ctx.actor.is_staff
                usages = [c.usage(prefix, lang, staff=staff) for c in self.desk.registry.in_group(error.group[0])]
                return text + "\n" + ctx.t("parse.usage", usage="\n".join(usages))
            return text + " " + ctx.t("parse.see_help", prefix=prefix)
        text = ctx.t(error.reason, **detail)
        return text + "\n" + ctx.t("parse.usage", usage=error.command.usage(prefix, lang, staff=ctx.actor.is_staff))

    def _dm_or_ephemeral(self, event: InboundEvent) -> Target:
        channel = event.channel
        platform = event.actor.platform
        if channel.is_direct or not self.desk.can(platform, Capability.EPHEMERAL):
            # a mail answer goes into the thread of the mail it answers (In-Reply-To)
            thread = channel.thread_id if platform == Platform.MAIL else None
            return Target(kind="dm", platform=platform, user_id=event.actor.user_id, thread_id=thread)
        return Target(kind="ephemeral", platform=platform, channel_id=channel.channel_id,
                      thread_id=channel.thread_id, user_id=event.actor.user_id)

    def _target(self, event: InboundEvent, reply: Reply) -> Target:
        if reply.visibility == Visibility.PUBLIC and not event.channel.is_direct:
            if event.ticket:
                return Target(kind="ticket", platform=event.actor.platform, ticket=event.ticket)
            return Target(kind="channel", platform=event.actor.platform, channel_id=event.channel.channel_id,
                          thread_id=event.channel.thread_id)
        target = self._dm_or_ephemeral(event)
        if reply.files and target.kind == "ephemeral":
            # no platform shows a file to one person in a channel: a reply with files goes to the direct chat
            return Target(kind="dm", platform=target.platform, user_id=event.actor.user_id)
        return target

    def _visibility(self, event: InboundEvent, reply: Reply) -> Visibility:
        target = self._target(event, reply)
        if target.kind == "ephemeral":
            return Visibility.EPHEMERAL
        if target.kind in ("dm", "ticket") or event.channel.is_private:
            return Visibility.PRIVATE
        return Visibility.PUBLIC
