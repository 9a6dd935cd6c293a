"""The unit of work: one finish() for commands, timers and jobs alike, its stages in their explicit order, and
the features that register themselves (commands, timer handlers, jobs, steps, hooks) with one register()."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.access.people import person_by_key
from bot.app import StorageNotReady
from bot.cli import main
from bot.core.features import Features, Hook
from bot.core.types import ChannelRef, Platform
from bot.core.uow import Stage, UnitOfWork, unit_of_work
from bot.digest import feature as digest
from bot.duty import feature as duty
from bot.features import INSTALLED, install
from bot.infra import timers
from bot.infra.scheduler import Job
from bot.infra.timers import UnknownTimers
from bot.settings import load_settings
from bot.tickets import feature as tickets
from bot.tickets import service, space
from storage import migrate
from storage.db import make_engine
from storage.models import KeyValue, OutboxMessage, Ticket, Timer

AGENCY = Path(__file__).resolve().parents[2] / "examples" / "agency" / "dutydesk.toml"


async def ticket(desk, key: str = "HW-1") -> Ticket:
    (row,) = await desk.rows(Ticket, Ticket.key == key)
    return row


# --------------------------------------------------------------------------- finish(): stages, once, explicit


async def test_finish_runs_the_stages_in_their_order_once_and_only_for_a_commit(desk) -> None:
    seen: list[str] = []

    def step(name: str):
        async def run(unit: UnitOfWork) -> None:
            seen.append(f"{name}:{sorted(unit.touched)}")
        return run

    features = desk.bot.desk.features
    saved = dict(features.finishers)
    features.finishers.clear()
    # registered in the wrong order on purpose: the stage decides, not the order of registration
    features.finish(Stage.CLOCKS, step("clocks"))
    features.finish(Stage.NEW_TICKETS, step("new"))
    features.finish(Stage.ESCALATION, step("escalation"))
    features.finish(Stage.NEW_TICKETS, step("new-2"))
    try:
        async with unit_of_work(desk.bot.desk) as unit:
            unit.touched.add(7)
            await unit.finish()
            await unit.finish()  # once: the commit of unit_of_work does not run it again either
            with pytest.raises(RuntimeError, match="after its unit of work finished"):
                unit.mark(unit.touched, Ticket(id=8))
        assert seen == ["new:[7]", "new-2:[7]", "escalation:[7]", "clocks:[7]"]

        seen.clear()
        with pytest.raises(ZeroDivisionError):
            async with unit_of_work(desk.bot.desk) as unit:
                unit.session.add(KeyValue(key="uow-probe", value="x"))
                raise ZeroDivisionError
        assert seen == [] and await desk.rows(KeyValue, KeyValue.key == "uow-probe") == []
    finally:
        features.finishers.clear()
        features.finishers.update(saved)


async def test_a_ticket_change_outside_a_unit_of_work_is_refused_not_lost(desk) -> None:
    await desk.send("ben", "/ticket the printer is on fire")
    async with desk.sessions.begin() as session:
        row = (await session.scalars(select(Ticket))).one()
        with pytest.raises(RuntimeError, match="outside a unit of work"):
            service.touch(session, row)


# --------------------------------------------------------------------------- commands, timers and jobs alike


@pytest.fixture
async def agency(make_harness):
    # 16:20 in Berlin on a Tuesday: the agency's duty runs (16:00-18:00), so a Prio-1 pings the standby
    desk = await make_harness(load_settings(AGENCY))
    desk.advance(minutes=30)
    return desk


async def pings(desk, key: str) -> list[OutboxMessage]:
    return await desk.rows(OutboxMessage, OutboxMessage.kind == "ping", OutboxMessage.ticket_key == key)


async def test_a_timer_that_raises_a_ticket_to_prio1_pings_the_standby_in_its_commit(agency) -> None:
    """A timer's changes are finished like a command's: before, its Prio-1 mark was left in the session
    and nobody was pinged (and its ticket's SLA clocks were only refreshed where a handler remembered to)."""
    await agency.send("kim", "/ticket the wiki is slow", dm=True)
    key = (await agency.rows(Ticket))[0].key
    assert await pings(agency, key) == []

    async def raise_to_p1(session, desk, timer) -> None:
        await service.set_priority(session, desk, await session.get(Ticket, timer.ticket_id), 1, None,
                                   source="team")

    agency.bot.desk.features.timer("test:raise", raise_to_p1)
    row = await ticket(agency, key)
    async with agency.sessions.begin() as session:
        session.add(Timer(ticket_id=row.id, kind="test:raise", due_at=agency.clock.now(), data={}))
    assert await timers.fire_due(agency.bot.desk) == 1
    assert len(await pings(agency, key)) == 1
    repeats = await agency.rows(Timer, Timer.ticket_id == row.id, Timer.kind.like("ping:%"))
    # and the hand-over at the end of the standby's duty
    assert {t.kind for t in repeats} == {"ping:repeat", "ping:coordinator", "ping:window"}


async def test_a_job_that_opens_a_ticket_gets_what_a_command_gets(agency) -> None:
    """Routing, the documentation questions, the escalation and the SLA timers run for a ticket a job opens."""
    await agency.send("kim", "/ticket list", dm=True)  # kim is known to the desk from here on

    async def open_one(session, desk, slot) -> None:  # e.g. a monitoring check that finds the wiki down
        requester = await person_by_key(session, "kim")
        origin = ChannelRef(platform=Platform.SIM, channel_id="@kim", is_private=True, is_direct=True)
        await service.create(session, desk, requester, text="monitoring: the wiki is down", priority=1,
                             topic=None, origin=origin, language="en")

    slot = agency.clock.now().replace(second=0, microsecond=0)
    assert await agency.bot.scheduler.run_slot(Job("test-open", None, open_one), slot)  # type: ignore[arg-type]
    (row,) = await agency.rows(Ticket)
    assert len(await pings(agency, row.key)) == 1  # escalation: the standby is pinged at once


async def test_the_sla_clocks_of_what_a_timer_changed_follow_in_its_commit(make_harness) -> None:
    desk = await make_harness(
        desk={"name": "HW desk", "ticket_prefix": "HW", "language": "en", "sla": "support"},
        calendars={"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
        sla={"support": {"calendar": "office", "targets": {"response-P1": {"within": "30m"},
                                                           "response": {"within": "4h"}}}})
    await desk.send("ben", "/ticket the printer is on fire")
    before = (await ticket(desk)).data["sla"]

    async def raise_to_p1(session, desk, timer) -> None:
        await service.set_priority(session, desk, await session.get(Ticket, timer.ticket_id), 1, None,
                                   source="team")

    desk.bot.desk.features.timer("test:raise", raise_to_p1)
    async with desk.sessions.begin() as session:
        session.add(Timer(ticket_id=(await ticket(desk)).id, kind="test:raise", due_at=desk.clock.now(), data={}))
    assert await timers.fire_due(desk.bot.desk) == 1
    after = (await ticket(desk)).data["sla"]
    assert before["response"]["target"] == "response" and after["response"]["target"] == "response-P1"
    warnings = await desk.rows(Timer, Timer.kind.like("sla:%"), Timer.fired_at.is_(None))
    assert warnings and all(w.data["target"] == "response-P1" for w in warnings)


# --------------------------------------------------------------------------- features register themselves


def test_the_installed_features_register_what_the_desk_runs() -> None:
    features = install()
    for kind in ("sla:response:warn", "ping:repeat", "handover:ack", "duty:away-self", "duty:away-coord",
                 "routing:absence", "workflow:vendor", "workflow:review", "workflow:feedback"):
        assert features.handler_of(kind) is not None, kind
    assert features.handler_of("duty:unknown") is None and features.handler_of("gone") is None
    assert [step.__module__ for stage in sorted(features.finishers) for step in features.finishers[stage]] == [
        "bot.workflow.hooks", "bot.duty.escalation", "bot.sla.service", "bot.contacts.feature",
        "bot.tickets.space", "bot.tickets.space"]
    assert {"ticket", "queue", "duty", "handover", "kb", "help", "report", "mailbox"} <= features.commands.groups()
    assert len(INSTALLED) == 9  # with reports, contacts and the Head of Mailbox


def test_a_feature_adds_only_what_its_register_adds() -> None:
    only_tickets = Features()
    tickets.register(only_tickets)
    # the timers of tickets: the reminder of a due time (/ticket assign … --due), and a DM kept aside whose question
    # stays unanswered (bot/tickets/conversation.py)
    assert set(only_tickets.timers) == {"ticket:due", "conversation:unanswered"} and only_tickets.jobs == []
    # a changed ticket's space gets its new name and topic, then a closed ticket's space is archived
    assert only_tickets.finishers == {Stage.SPACES: [space.retitle_changed, space.archive_closed]}
    assert only_tickets.commands.groups() == {"ticket", "queue"}
    # refused by its first registration that clashes (now its timer's handler, before the commands)
    with pytest.raises(ValueError, match=r"registered twice|two handlers for the timers ticket:due"):
        tickets.register(only_tickets)
    with pytest.raises(ValueError, match="two handlers"):
        duty_features = Features()
        duty.register(duty_features)
        duty_features.timer("ping", duty_features.timers["ping"])


async def test_the_jobs_come_from_the_features(agency, desk) -> None:
    assert sorted(agency.bot.scheduler.jobs) == ["digest-prio1", "handover"]
    assert desk.bot.scheduler.jobs == {}  # no [duty]: the duty and digest features schedule nothing
    only_digest = Features()
    digest.register(only_digest)
    assert [job.id for job in only_digest.jobs_for(agency.bot.desk)] == ["digest-prio1"]


def test_a_hook_collects_what_features_join_with() -> None:
    features = Features()
    point: Hook = Hook("test.point")
    assert features.hooked(point) == []
    features.on(point, print)
    assert features.hooked(point) == [print]


# --------------------------------------------------------------------------- a stored timer nobody handles


async def test_a_pending_timer_of_an_unknown_kind_stops_the_start(make_harness, db_url: str) -> None:
    desk = await make_harness()
    async with desk.sessions.begin() as session:
        session.add_all([Timer(kind="gone:thing", due_at=desk.clock.now(), data={}),
                         Timer(kind="gone:thing", due_at=desk.clock.now() + timedelta(hours=1), data={}),
                         Timer(kind="old:fired", due_at=desk.clock.now(), fired_at=desk.clock.now(), data={}),
                         Timer(kind="old:cancelled", due_at=desk.clock.now(), cancelled=True, data={})])
    with pytest.raises(UnknownTimers) as stopped:
        await make_harness()
    message = str(stopped.value)
    assert "gone:thing (2)" in message and "old:" not in message and "cancel" in message
    assert isinstance(stopped.value, StorageNotReady)  # the CLI says it in one line, exit 2
    # nothing was consumed: the timers wait for the version that handles them
    pending = await desk.rows(Timer, Timer.kind == "gone:thing", Timer.fired_at.is_(None))
    assert len(pending) == 2


async def test_a_timer_written_later_by_a_newer_replica_is_retried_not_consumed(desk) -> None:
    async with desk.sessions.begin() as session:
        session.add(Timer(kind="newer:feature", due_at=desk.clock.now(), data={}))
    assert await timers.fire_due(desk.bot.desk) == 0
    (row,) = await desk.rows(Timer, Timer.kind == "newer:feature")
    assert row.fired_at is None and row.due_at == desk.clock.now() + timers.RETRY_AFTER


def test_the_cli_stops_with_one_line(tmp_path, capsys) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"

    async def prepare() -> None:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(Timer.__table__.insert().values(
                kind="gone:thing", due_at=datetime(2026, 11, 24, 14, 50, tzinfo=UTC), cancelled=False, data={}))
        await engine.dispose()

    asyncio.run(prepare())
    config = tmp_path / "dutydesk.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "gone:thing (1)" in err and "Traceback" not in err


async def test_a_new_ticket_is_not_read_back_by_the_later_steps_of_its_unit(desk) -> None:
    # the steps after the ticket's INSERT (routing, the Prio-1 ping, the SLA clocks, the space's name) take the
    # ticket from the unit: none of them reads its row again (#20: the identity map had let go of it)
    from sqlalchemy import event as sa_event

    statements: list[str] = []

    def seen(_conn, _cursor, sql: str, *_args) -> None:
        statements.append(" ".join(sql.split()))

    engine = desk.bot.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        await desk.send("ben", "/ticket -p1 the mail server is down")
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    assert [t.title for t in await desk.rows(Ticket)] == ["the mail server is down"]
    assert any(s.startswith("INSERT INTO tickets") for s in statements)
    assert not [s for s in statements if s.startswith("SELECT tickets.id, tickets.")], statements


# --------------------------------------------------------------------------- rows written together, seen by readers


async def test_the_units_outbox_and_log_rows_wait_for_one_insert_and_readers_in_the_unit_see_them(desk) -> None:
    from bot.core.types import MessageKind, Target, Visibility
    from bot.infra.outbox import enqueue
    from storage.models import TicketEvent

    await desk.send("ben", "/ticket the printer is on fire")
    async with unit_of_work(desk.bot.desk) as unit:
        session = unit.session
        (row,) = (await session.scalars(select(Ticket).where(Ticket.key == "HW-1"))).all()
        now = desk.bot.desk.clock.now()
        event = service.log(session, row, "note", now, None, body="kept")
        message = enqueue(session, now, Target(kind="channel", platform=Platform.SIM, channel_id="#probe"), "hello",
                          kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE)
        # not written yet: no ORM flush of its own, one INSERT per table later
        assert event.id is None and message.id is None and unit.is_pending(event) and unit.is_pending(message)
        # a query in the unit writes them first (as the autoflush wrote the ORM's pending rows)
        notes = (await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == row.id,
                                                                 TicketEvent.kind == "note"))).all()
        assert [n.id for n in notes] == [event.id] and event.id is not None and not unit.is_pending(event)
        assert message.id is not None
        later = enqueue(session, now, Target(kind="channel", platform=Platform.SIM, channel_id="#probe"), "again",
                        kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE)
    # the commit wrote the last one, after the others (the order of a target's rows is their ids' order)
    assert later.id is not None and later.id > message.id
    probes = await desk.rows(OutboxMessage, OutboxMessage.channel_id == "#probe")
    assert sorted((r.id, r.text) for r in probes) == [(message.id, "hello"), (later.id, "again")]

    # a unit that fails writes nothing
    with pytest.raises(ZeroDivisionError):
        async with unit_of_work(desk.bot.desk) as unit:
            enqueue(unit.session, now, Target(kind="channel", platform=Platform.SIM, channel_id="#gone"), "x",
                    kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE)
            raise ZeroDivisionError
    assert await desk.rows(OutboxMessage, OutboxMessage.channel_id == "#gone") == []
