"""Typed SQLAlchemy 2 models. Schema changes go through alembic (storage/migrations)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import BindParameter, ColumnElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; SQLite hands back naive values, so they are made aware again on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


def table_of(model: type[Base]) -> Table:
    """A model's table for Core statements (``__table__`` is typed as the wider ``FromClause``)."""
    return cast(Table, model.__table__)


class Person(Base):
    """Staff from the config and outside requesters who wrote to the bot."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Contact(Base):
    """An outside requester who uses no chat (bot/contacts): a caller the phone duty opened a ticket for, or a
    mail sender who is not in ``[people]``. Its ``people`` row (``key`` ``mail:ADDRESS`` or ``tel:NUMBER``) is
    what a ticket's ``requester_id`` points at; this row says how to reach them."""

    __tablename__ = "contacts"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # lower case (bot.contacts.address)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # digits with a leading + or 0
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class HeldMail(Base):
    """A mail to the support mailbox addressed to a colleague personally, held for the mailbox holder
    (bot/mailbox): it is a ticket, part of one, answered or forwarded once somebody decides. ``payload`` is the
    inbound event as the mail runtime made it, so opening a ticket from it is what its arrival would have done."""

    __tablename__ = "held_mails"
    __table_args__ = (Index("ix_held_mails_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(255), unique=True)   # the inbox's idempotency key
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    sender_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    colleague: Mapped[str] = mapped_column(String(120))   # the [people] key of whom the mail addresses
    holder: Mapped[str | None] = mapped_column(String(120))   # whom it was shown to (the mailbox holder)
    subject: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), default="held")   # held | ticket | added | answered | forwarded
    ticket_key: Mapped[str | None] = mapped_column(String(32))
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    handled_at: Mapped[datetime | None]
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)   # the holder's message: outbox row, target
    created_at: Mapped[datetime]


class Identity(Base):
    """One platform account of a person (a Slack user id, a Matrix id, a console name)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_identities_platform_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))


class DeskCounter(Base):
    """The last ticket number handed out per desk prefix; incremented inside the creating transaction,
    so a rolled-back ticket gives its number back and the numbers stay gap-free."""

    __tablename__ = "desk_counters"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


# The open states of bot.tickets.states (tests/storage/test_open_indexes.py keeps them equal), in the
# one order that the partial indexes below and the queries (``ticket_is_open()``) both use: SQLite only
# picks a partial index when the query's term is the index's WHERE term as written, literals included.
TICKET_OPEN_STATES = ("deferred", "in_progress", "new", "triage", "vendor", "waiting_requester")
_OPEN = text("state IN (" + ", ".join(f"'{state}'" for state in TICKET_OPEN_STATES) + ")")
_OPEN_UNASSIGNED = text(f"{_OPEN.text} AND assignee_id IS NULL")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("prefix", "number", name="uq_tickets_prefix_number"),
        Index("ix_tickets_state_priority_created", "state", "priority", "created_at"),
        Index("ix_tickets_assignee_state", "assignee_id", "state"),
        Index("ix_tickets_requester_state", "requester_id", "state"),
        Index("ix_tickets_created_at", "created_at"),  # reports: the tickets opened in a range
        # /queue and the digest read the ~2 % open tickets of a table that is mostly closed ones:
        # the oldest open, the open by priority (digest), the unassigned open by priority
        Index("ix_tickets_open_created", "created_at", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_tickets_open_priority_created", "priority", "created_at", postgresql_where=_OPEN,
              sqlite_where=_OPEN),
        Index("ix_tickets_open_unassigned", "priority", "created_at", postgresql_where=_OPEN_UNASSIGNED,
              sqlite_where=_OPEN_UNASSIGNED),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # the staff member who opened it for an outside requester (/ticket --for); None: the requester did
    opener_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    group: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer, default=2)
    topic: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24), default="new")
    origin_platform: Mapped[str] = mapped_column(String(16))
    origin_channel: Mapped[str | None] = mapped_column(String(255))
    origin_thread: Mapped[str | None] = mapped_column(String(255))
    space_id: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="en")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


def ticket_is_open() -> ColumnElement[bool]:
    """``tickets.state IN ('deferred', …)`` with the states written into the SQL (not bound), in the
    order of the partial indexes, so SQLite and PostgreSQL can use them."""
    states: BindParameter[list[str]] = bindparam("open_states", list(TICKET_OPEN_STATES), expanding=True,
                                                 literal_execute=True, unique=True)
    return Ticket.state.in_(states)


class TicketEvent(Base):
    """Append-only log of everything that happened to a ticket; clocks are derived from it."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
        Index("ix_ticket_events_at", "at"),  # reports: what happened in a range, what changed after it
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(32))
    old: Mapped[str | None] = mapped_column(String(255))
    new: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)


class ProcessedEvent(Base):
    """The inbox: every inbound event is stored here before it is handled, keyed for dedupe."""

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_status_received", "status", "received_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="received")  # received | done | failed
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    handled_at: Mapped[datetime | None]


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_outbox_platform_ref", "platform", "platform_ref"),  # a pressed button's message (bot/core/buttons)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    # send (a message) | remove (a person's message off a public channel): bot.infra.outbox.Operation
    operation: Mapped[str] = mapped_column(String(16), default="send", server_default="send")
    platform: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str | None] = mapped_column(String(255))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    ticket_key: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str | None] = mapped_column(String(32))  # a message's bot.core.types.MessageKind; None for a removal
    visibility: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    platform_ref: Mapped[str | None] = mapped_column(String(255))
    # per-operation details: the id of the public message a removal takes off
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # written with the row; read only when it is delivered, by their own query (never loaded with the row)
    files: Mapped[list[OutboxFile]] = relationship(lazy="raise", cascade="save-update", passive_deletes=True)


class OutboxFile(Base):
    """A file sent with an outbox row's message (the report's chart), kept apart from the row: the sender's loop
    reads the outbox often, the bytes only when it delivers the row (meta ``files``: how many it has)."""

    __tablename__ = "outbox_files"
    __table_args__ = (UniqueConstraint("outbox_id", "position", name="uq_outbox_files_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MovedThread(Base):
    """A public thread moved into a private ticket; its later replies follow it there."""

    __tablename__ = "moved_threads"
    __table_args__ = (UniqueConstraint("platform", "channel_id", "root_id", name="uq_moved_threads_root"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(255))
    root_id: Mapped[str] = mapped_column(String(255))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    moved_at: Mapped[datetime]


class Timer(Base):
    """A per-ticket due instant (SLA warning, ping repeat): a row, so it survives restarts."""

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_pending_due", "fired_at", "due_at"),
        UniqueConstraint("ticket_id", "kind", "due_at", name="uq_timers_ticket_kind_due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class JobRun(Base):
    """Claim of one scheduled slot: the unique key makes every digest or reminder run exactly once."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class Lease(Base):
    """Leader election: the replica holding a lease runs the singletons (Matrix sync, scheduler)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class KeyValue(Base):
    """Small platform state (the Matrix sync token, the Slack bot user id)."""

    __tablename__ = "platform_state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------- duty rota
# People are referred to by their people key (``[people.KEY]``), as the config does: the rota,
# plans and ledger stay readable when a person's platform accounts change.


class DutyRota(Base):
    """One version of the duty rotation. An edit is a new row in effect from ``valid_from`` on
    (a duty date), so answers about earlier dates never change."""

    __tablename__ = "duty_rotas"
    __table_args__ = (Index("ix_duty_rotas_valid_from_id", "valid_from", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date)
    members: Mapped[list[str]] = mapped_column(JSON)
    roles: Mapped[list[str]] = mapped_column(JSON)
    rotation: Mapped[str] = mapped_column(String(32))  # alternate-daily | weekly
    anchor: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="config")  # config | command
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]


class DutyPlan(Base):
    """A week's plan, one row per duty date and role; the newest confirmed row of a (day, role) counts.
    ``proposed`` rows are what ``/duty plan`` suggested and are only kept to be confirmed."""

    __tablename__ = "duty_plans"
    __table_args__ = (
        Index("ix_duty_plans_day_role", "day", "role", "id"),
        Index("ix_duty_plans_week_status", "week", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week: Mapped[date] = mapped_column(Date)  # the Monday of the week
    day: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(32))
    person: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # proposed | confirmed
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]


class DutySwap(Base):
    """A request to take over one role on one date: a swap (to a colleague, or to anyone of the team)
    or an urgent cover request after a sick report. ``owner`` is who held the shift when it was asked;
    when that changes before someone accepts, the request is ``stale``."""

    __tablename__ = "duty_swaps"
    __table_args__ = (Index("ix_duty_swaps_state_day", "state", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="swap")  # swap | cover
    requester: Mapped[str] = mapped_column(String(120))
    day: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(32))
    colleague: Mapped[str | None] = mapped_column(String(120))  # None: anyone of the team may accept
    owner: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(16), default="requested")  # requested | accepted | declined | stale
    absence_id: Mapped[int | None] = mapped_column(ForeignKey("duty_absences.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(120))


class DutyAbsence(Base):
    """A vacation (optionally with a substitute for all its duty) or a sickness, whole dates, inclusive."""

    __tablename__ = "duty_absences"
    __table_args__ = (Index("ix_duty_absences_person_first", "person", "first_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person: Mapped[str] = mapped_column(String(120))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # vacation | sick
    substitute: Mapped[str | None] = mapped_column(String(120))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]


class DutyOverride(Base):
    """Who holds one role on one date, whatever plan and rotation say (the newest row wins):
    an accepted swap or cover, or a correction by hand."""

    __tablename__ = "duty_overrides"
    __table_args__ = (Index("ix_duty_overrides_day_role", "day", "role", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(32))
    person: Mapped[str] = mapped_column(String(120))
    replaced: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(16))  # swap | cover | manual
    swap_id: Mapped[int | None] = mapped_column(ForeignKey("duty_swaps.id", ondelete="SET NULL"))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]


class DutyLedgerEntry(Base):
    """Append-only record of who really served a role on a date, written when the shift starts."""

    __tablename__ = "duty_ledger"
    __table_args__ = (
        UniqueConstraint("day", "role", name="uq_duty_ledger_day_role"),
        Index("ix_duty_ledger_person_day", "person", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(32))
    person: Mapped[str] = mapped_column(String(120))
    start: Mapped[datetime]
    end: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # rotation | plan | swap | cover | manual | substitute | fallback
    recorded_at: Mapped[datetime]


# --------------------------------------------------------------------------- handbook processes


class GroupMember(Base):
    """Who is in a platform group that grants desk roles (``[access] slack_groups`` / ``matrix_rooms``).

    Adapters fill it (bot/access/groups.py says what to call); the dispatcher reads it for every actor.
    """

    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_platform_user", "platform", "user_id"),)

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    updated_at: Mapped[datetime]


class Attachment(Base):
    """A file a person sent to a ticket (a screenshot): name and type, and the platform's reference."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(Integer)
    ref: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]


class Solution(Base):
    """The documented solution of a resolved ticket (text and/or knowledge-base link), searchable with /kb.

    ``search_text`` is the lower-cased text, link and title (lower-cased in Python, so Cyrillic and
    umlauts match the same on SQLite and PostgreSQL)."""

    __tablename__ = "solutions"
    __table_args__ = (Index("ix_solutions_ticket_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1024))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
