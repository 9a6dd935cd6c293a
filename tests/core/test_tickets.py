"""The ticket commands through the dispatcher (fake adapter, real database): DB state and outbox rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from adapters.sim import PROFILES
from bot.core.mentions import plain
from bot.core.registry import Arg, Command
from bot.core.types import Reply
from bot.i18n import t
from bot.tickets.queue import snapshot
from storage.models import OutboxMessage, Person, Ticket, TicketEvent


async def ticket(desk, key: str = "HW-1") -> Ticket:
    (row,) = await desk.rows(Ticket, Ticket.key == key)
    return row


async def events(desk, key: str = "HW-1") -> list[tuple[str, str | None, str | None]]:
    row = await ticket(desk, key)
    return [(e.kind, e.old, e.new) for e in await desk.rows(TicketEvent, TicketEvent.ticket_id == row.id,
                                                           order=TicketEvent.id)]


async def person_id(desk, key: str) -> int:
    (row,) = await desk.rows(Person, Person.key == key)
    return row.id


async def outbox_since(desk, before: int, *, cards: bool = False) -> list[OutboxMessage]:
    """The rows written since ``before``; without the changes of the tickets' cards in the duty channel unless
    ``cards`` (tests/core/test_conversations.py and the take test look at those)."""
    rows = await desk.rows(OutboxMessage, OutboxMessage.id > before, order=OutboxMessage.id)
    return [row for row in rows if cards or row.operation != "update"]


async def last_outbox_id(desk) -> int:
    rows = await desk.rows(OutboxMessage, order=OutboxMessage.id.desc())
    return rows[0].id if rows else 0


# --------------------------------------------------------------------------- create


async def test_create_writes_ticket_event_and_three_messages(desk) -> None:
    sent = await desk.send("dora", "/ticket -p3 --topic network the VPN drops every hour")
    row = await ticket(desk)
    assert (row.key, row.prefix, row.number) == ("HW-1", "HW", 1)
    assert row.requester_id == await person_id(desk, "dora")
    assert (row.title, row.description) == ("the VPN drops every hour", "the VPN drops every hour")
    assert (row.priority, row.topic, row.state, row.assignee_id) == (3, "network", "new", None)
    assert (row.origin_platform, row.origin_channel, row.language) == ("sim", "#general", "en")
    assert row.created_at == desk.clock.now() and row.closed_at is None
    (created,) = await desk.rows(TicketEvent)
    assert (created.kind, created.new, created.public, created.body) == ("created", "new", True,
                                                                          "the VPN drops every hour")
    assert created.actor_id == row.requester_id

    rows = await desk.rows(OutboxMessage, order=OutboxMessage.id)
    assert [(r.target_kind, r.kind, r.visibility, r.ticket_key, r.status) for r in rows] == [
        ("ticket", "notice", "private", "HW-1", "sent"),
        ("channel", "notice", "private", "HW-1", "sent"),
        ("ephemeral", "receipt", "ephemeral", "HW-1", "sent"),
    ]
    # the receipt is delivered first; the others are taken by target, not by delivery order
    by_kind = {m.target.kind: m for m in sent}
    space, duty, receipt = by_kind["ticket"], by_kind["channel"], by_kind["ephemeral"]
    assert len(sent) == 3 and space.target.ticket == "HW-1" and "the VPN drops every hour" in space.text
    assert duty.target.channel_id == "#support-duty"
    assert duty.text == t("en", "ticket.duty_new", key="HW-1", priority=3, who="Dora",
                          title="the VPN drops every hour")
    assert (receipt.target.channel_id, receipt.target.user_id) == ("#general", "dora")
    assert receipt.text == t("en", "ticket.receipt", key="HW-1", priority=3, priority_name="low",
                             next=t("en", "ticket.next", key="HW-1"))


async def test_prio_1_receipt_says_so(desk) -> None:
    sent = await desk.send("dora", "/ticket --priority=1 the shop is down")
    (receipt,) = [m for m in sent if m.kind == "receipt"]
    assert receipt.text == t("en", "ticket.receipt", key="HW-1", priority=1, priority_name="high",
                             next=t("en", "ticket.next_p1_team", key="HW-1"))  # no rota: the duty channel
    assert (await ticket(desk)).priority == 1


async def test_title_is_the_first_line_cut_to_eighty_characters(desk) -> None:
    long = "x" * 100
    await desk.send("dora", f"/ticket {long}\nsecond line")
    row = await ticket(desk)
    assert row.title == "x" * 79 + "…" and len(row.title) == 80
    assert row.description == f"{long}\nsecond line"


async def test_dm_makes_a_ticket_answered_in_the_dm(desk) -> None:
    sent = await desk.send("dora", "my laptop won't boot", dm=True)
    row = await ticket(desk)
    assert (row.description, row.priority, row.origin_channel) == ("my laptop won't boot", 2, "@dora")
    (receipt,) = [m for m in sent if m.kind == "receipt"]
    assert (receipt.target.kind, receipt.target.user_id, receipt.visibility.value) == ("dm", "dora", "private")
    assert await desk.send("dora", "   ", dm=True) == []  # an empty DM is nothing
    assert await desk.count(Ticket) == 1


async def test_without_ephemeral_messages_the_receipt_goes_to_a_dm(make_harness) -> None:
    desk = await make_harness(capabilities=PROFILES["matrix"])
    receipt = await desk.reply("dora", "/ticket printer on fire")
    assert (receipt.kind, receipt.target.kind, receipt.target.user_id) == ("receipt", "dm", "dora")
    assert receipt.visibility.value == "private"


async def test_public_reply_stays_in_channel_and_button_action_works(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    sent = await desk.send("anna", kind="action", name="take", value="HW-1", channel="#support-duty")
    row = await ticket(desk)
    assert (row.state, row.assignee_id) == ("in_progress", await person_id(desk, "anna"))
    (answer,) = [m for m in sent if m.target.user_id == "anna"]
    assert answer.text == t("en", "ticket.taken", key="HW-1")


# --------------------------------------------------------------------------- take, assign, priority


async def test_take_assigns_and_starts_work(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    before = await last_outbox_id(desk)
    sent = await desk.send("anna", "/ticket take hw-1")
    row = await ticket(desk)
    assert (row.state, row.assignee_id) == ("in_progress", await person_id(desk, "anna"))
    assert (await events(desk))[1:] == [("assign", None, "anna"), ("state", "new", "in_progress")]
    rows = await outbox_since(desk, before, cards=True)
    # the ticket's card in the duty channel changes in place (one change for the assignment and the state)
    assert [(r.target_kind, r.kind, r.operation) for r in rows] == [
        ("channel", "notice", "update"), ("ticket", "notice", "send"), ("ephemeral", "reply", "send")]
    # the row keeps the bot's mentions (the assignee; the ticket's space), which a platform without them reads plain
    assert plain(rows[0].text).endswith("\nin progress · P2 · Anna (last change: Anna)")
    assert [b["action"] for b in rows[0].buttons] == ["priority", "close"]
    assert rows[1].text == t("en", "ticket.state_changed", key="HW-1", state="in progress", who="Anna")
    assert [m.target.kind for m in sent] == ["channel", "ticket", "ephemeral"]  # no DM to oneself
    # taking it again changes nothing
    await desk.send("anna", "/ticket take HW-1")
    assert len(await events(desk)) == 3


async def test_assign_tells_the_assignee_by_dm(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    sent = await desk.send("anna", "/ticket assign HW-1 @ben")
    row = await ticket(desk)
    assert row.assignee_id == await person_id(desk, "ben") and row.state == "new"
    (dm,) = [m for m in sent if m.target.kind == "dm"]
    assert dm.target.user_id == "ben"
    assert dm.text == t("en", "ticket.assigned_to_you", key="HW-1", who="Anna", priority=2)
    await desk.send("anna", "/ticket assign HW-1 carla")
    assert (await events(desk))[1:] == [("assign", None, "ben"), ("assign", "ben", "carla")]


async def test_assign_refuses_people_outside_the_team(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    staff = "anna, ben, carla, root"
    answer = await desk.reply("anna", "/ticket assign HW-1 @zed")
    assert answer.text == t("en", "ticket.unknown_agent", person="zed", staff=staff)
    answer = await desk.reply("anna", "/ticket assign HW-1 dora")  # a requester, known but not staff
    assert answer.text == t("en", "ticket.unknown_agent", person="dora", staff=staff)
    assert (await ticket(desk)).assignee_id is None
    assert len(await events(desk)) == 1


async def test_priority_change_is_logged_and_told_to_the_requester(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    before = await last_outbox_id(desk)
    answer = await desk.reply("anna", "/ticket priority HW-1 P3")
    assert answer.text == t("en", "ticket.priority_set", key="HW-1", priority=3)
    assert (await ticket(desk)).priority == 3
    assert (await events(desk))[-1] == ("priority", "2", "3")
    (space, _reply) = await outbox_since(desk, before)
    assert (space.target_kind, space.ticket_key) == ("ticket", "HW-1")
    assert space.text == t("en", "ticket.priority_changed", key="HW-1", old=2, new=3)
    answer = await desk.reply("anna", "/ticket priority HW-1 3")
    assert answer.text == t("en", "ticket.priority_same", key="HW-1", priority=3)
    assert len(await events(desk)) == 2
    answer = await desk.reply("anna", "/ticket priority HW-1 5")
    assert answer.kind == "error" and answer.text.startswith('"5" is not a priority: write 1 (high), 2 (normal)')
    assert "Usage: /ticket priority ID 1|2|3" in answer.text


# --------------------------------------------------------------------------- notes and replies


async def test_internal_notes_are_hidden_from_the_requester(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    before = await last_outbox_id(desk)
    answer = await desk.reply("anna", "/ticket note HW-1 she broke it herself, 3rd time")
    assert answer.text == t("en", "ticket.noted", key="HW-1")
    rows = await outbox_since(desk, before)
    assert [r.target_kind for r in rows] == ["ephemeral"]  # nothing goes to the space
    (note,) = await desk.rows(TicketEvent, TicketEvent.kind == "note")
    assert (note.public, note.body) == (False, "she broke it herself, 3rd time")
    staff_view = await desk.reply("ben", "/ticket show HW-1")
    assert "she broke it herself, 3rd time" in staff_view.text
    requester_view = await desk.reply("dora", "/ticket show HW-1")
    assert "printer on fire" in requester_view.text
    assert "broke it herself" not in requester_view.text and "internal" not in requester_view.text


async def test_reply_goes_to_the_private_space(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    sent = await desk.send("anna", "/ticket reply HW-1 please switch it off and on again")
    space = [m for m in sent if m.target.kind == "ticket"]
    assert [(m.kind, m.text) for m in space] == [
        ("reply", t("en", "ticket.reply_from", who="Anna", text="please switch it off and on again"))
    ]
    (event,) = await desk.rows(TicketEvent, TicketEvent.kind == "reply")
    assert (event.public, event.body) == (True, "please switch it off and on again")
    view = await desk.reply("dora", "/ticket show HW-1")
    assert "please switch it off and on again" in view.text


async def test_messages_in_the_space_join_the_conversation(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    await desk.send("anna", "/ticket take HW-1")
    assert await desk.send("dora", "it's smoking now", ticket="HW-1") == []
    await desk.send("anna", "unplug it!", ticket="HW-1")
    rows = await desk.rows(TicketEvent, TicketEvent.kind == "message", order=TicketEvent.id)
    assert [(e.body, e.new, e.public) for e in rows] == [
        ("it's smoking now", "requester", True), ("unplug it!", "staff", True)
    ]


async def test_requester_answer_resumes_a_waiting_ticket(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    await desk.send("anna", "/ticket take HW-1")
    await desk.send("anna", "/ticket status HW-1 waiting-requester")
    assert (await ticket(desk)).state == "waiting_requester"
    await desk.send("ben", "a colleague writes", ticket="HW-1")
    assert (await ticket(desk)).state == "waiting_requester"
    await desk.send("dora", "here is the serial number", ticket="HW-1")
    assert (await ticket(desk)).state == "in_progress"
    assert (await events(desk))[-1] == ("state", "waiting_requester", "in_progress")


async def test_requester_answer_never_puts_an_unassigned_ticket_in_progress(desk) -> None:
    """The state machine's guard holds for automatic changes too: in progress means someone has it."""
    await desk.send("dora", "/ticket printer on fire")
    await desk.send("anna", "/ticket status HW-1 waiting_requester")
    assert (await ticket(desk)).state == "waiting_requester"
    await desk.send("dora", "here is the serial number", ticket="HW-1")
    row = await ticket(desk)
    assert (row.state, row.assignee_id) == ("triage", None)  # running again, and back in the queue
    assert (await events(desk))[-1] == ("state", "waiting_requester", "triage")


# --------------------------------------------------------------------------- status, close, reopen


async def test_status_in_progress_needs_an_assignee(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    answer = await desk.reply("anna", "/ticket status HW-1 in_progress")
    assert answer.text == t("en", "ticket.needs_assignee")
    assert (await ticket(desk)).state == "new"
    assert len(await events(desk)) == 1


async def test_status_walk_and_refusals(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    answer = await desk.reply("anna", "/ticket status HW-1 triage")
    assert answer.text == t("en", "ticket.status_set", key="HW-1", state="triage")
    answer = await desk.reply("anna", "/ticket status HW-1 triage")
    assert answer.text == t("en", "ticket.already_in_state", state="triage")
    await desk.send("anna", "/ticket take HW-1")
    answer = await desk.reply("anna", "/ticket status HW-1 resolved")
    assert answer.text == t("en", "ticket.status_set", key="HW-1", state="resolved")
    answer = await desk.reply("anna", "/ticket status HW-1 waiting_requester")
    assert answer.text.startswith("A ticket cannot go from resolved to ")
    assert (await ticket(desk)).state == "resolved"
    answer = await desk.reply("anna", "/ticket status HW-1 closed")  # not settable with status
    assert answer.kind == "error" and answer.text.startswith('"closed" is not a state you can set; the states')
    assert [e for e in await events(desk) if e[0] == "state"] == [
        ("state", "new", "triage"), ("state", "triage", "in_progress"), ("state", "in_progress", "resolved")
    ]


async def test_close_and_reopen(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    desk.advance(minutes=5)
    answer = await desk.reply("dora", "/ticket close HW-1")  # the requester may close their own
    assert answer.text == t("en", "ticket.closed", key="HW-1", state="closed")
    row = await ticket(desk)
    assert (row.state, row.closed_at) == ("closed", desk.clock.now())
    answer = await desk.reply("dora", "/ticket close HW-1")
    assert answer.text == t("en", "ticket.already_in_state", state="closed")
    answer = await desk.reply("dora", "/ticket reopen HW-1")
    assert answer.text == t("en", "ticket.reopened", key="HW-1", state="triage")
    row = await ticket(desk)
    assert (row.state, row.closed_at) == ("triage", None)
    answer = await desk.reply("dora", "/ticket reopen HW-1")
    assert answer.text == t("en", "ticket.not_closed", key="HW-1", state="triage")
    # an assigned ticket is reopened into work
    await desk.send("anna", "/ticket take HW-1")
    await desk.send("anna", "/ticket close HW-1")
    answer = await desk.reply("anna", "/ticket reopen HW-1")
    assert answer.text == t("en", "ticket.reopened", key="HW-1", state="in progress")
    assert (await ticket(desk)).state == "in_progress"


# --------------------------------------------------------------------------- privacy of tickets


async def test_requesters_cannot_see_or_touch_others_tickets(desk) -> None:
    await desk.send("dora", "/ticket my salary slip is wrong")
    for command in ("show", "close", "reopen"):
        other = await desk.reply("erik", f"/ticket {command} HW-1")
        missing = await desk.reply("erik", f"/ticket {command} HW-99")
        assert other.text == t("en", "ticket.not_found", key="HW-1")
        assert missing.text == t("en", "ticket.not_found", key="HW-99")
        assert other.text.replace("HW-1", "HW-99") == missing.text
        assert "salary" not in other.text
    assert (await ticket(desk)).state == "new"


async def test_requesters_cannot_use_team_commands(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    for command in ("/ticket take HW-1", "/ticket note HW-1 x", "/ticket reply HW-1 x",
                    "/ticket assign HW-1 anna", "/ticket priority HW-1 1", "/ticket status HW-1 triage", "/queue"):
        answer = await desk.reply("dora", command)
        assert (answer.kind, answer.text) == ("error", t("en", "access.staff_only", prefix="/")), command
    assert len(await events(desk)) == 1


async def test_role_permissions(desk) -> None:
    class NoArgs(BaseModel):
        pass

    async def handler(ctx, _args):
        return [Reply(text="done")]

    registry = desk.bot.desk.registry
    registry.add(Command(("leadonly",), NoArgs, handler, "help.queue", permission="lead"))
    registry.add(Command(("adminonly",), NoArgs, handler, "help.queue", permission="admin"))
    assert (await desk.reply("ben", "/leadonly")).text == t("en", "access.needs_lead")
    assert (await desk.reply("anna", "/leadonly")).text == "done"
    assert (await desk.reply("root", "/leadonly")).text == "done"  # admin may do everything
    assert (await desk.reply("anna", "/adminonly")).text == t("en", "access.needs_admin")
    assert (await desk.reply("dora", "/leadonly")).text == t("en", "access.staff_only", prefix="/")


# --------------------------------------------------------------------------- lists and the queue


async def test_list_mine_for_requesters_and_staff(desk) -> None:
    assert (await desk.reply("dora", "/ticket list")).text == t("en", "ticket.list_empty")
    await desk.send("dora", "/ticket first")
    await desk.send("dora", "/ticket second")
    await desk.send("dora", "/ticket third")
    await desk.send("erik", "/ticket not dora's")
    await desk.send("dora", "/ticket close HW-2")
    answer = await desk.reply("dora", "/ticket list mine")
    lines = answer.text.splitlines()
    assert lines[0] == t("en", "ticket.list_head", count=2)
    assert [line.split(" · ")[0] for line in lines[1:]] == ["HW-3", "HW-1"]
    assert (await desk.reply("anna", "/ticket list")).text == t("en", "ticket.list_empty_staff")
    await desk.send("anna", "/ticket take HW-4")
    answer = await desk.reply("anna", "/ticket list mine")
    assert answer.text.splitlines() == [
        t("en", "ticket.list_head_staff", count=1),
        t("en", "ticket.list_line", key="HW-4", priority=2, state="in progress", title="not dora's", age="0 minutes"),
    ]


async def test_queue_snapshot_counts_and_orders(desk) -> None:
    await desk.send("dora", "/ticket -p3 old and low")
    desk.advance(hours=2)
    await desk.send("erik", "/ticket -p1 new and urgent")
    desk.advance(minutes=30)
    await desk.send("dora", "/ticket middle")
    await desk.send("dora", "/ticket done already")
    await desk.send("anna", "/ticket take HW-3")
    await desk.send("anna", "/ticket close HW-4")
    async with desk.sessions() as session:
        snap = await snapshot(session)
    assert snap.total == 3
    assert snap.by_state == {"new": 2, "in_progress": 1}
    assert snap.by_priority == {3: 1, 1: 1, 2: 1}
    assert [line.key for line in snap.oldest] == ["HW-1", "HW-2", "HW-3"]
    assert [line.key for line in snap.unassigned] == ["HW-2", "HW-1"]  # by priority, then age
    assert snap.unassigned_total == 2
    assert snap.oldest[2].assignee == "Anna"


async def test_queue_shows_titles_only_in_the_duty_channel(desk) -> None:
    await desk.send("dora", "/ticket -p1 salary export broken")
    desk.advance(minutes=90)
    public = await desk.reply("anna", "/queue", channel="#general")
    lines = public.text.splitlines()
    assert lines[0] == t("en", "queue.head", total=1, states="new 1", priorities="P1 1")
    assert lines[1:] == [
        t("en", "queue.oldest"),
        "HW-1 P1 new, 1 hour, 30 minutes, nobody",
        t("en", "queue.unassigned", count=1),
        "HW-1 P1 new, 1 hour, 30 minutes, nobody",
    ]
    assert "salary" not in public.text
    duty = await desk.reply("anna", "/queue", channel="#support-duty")
    assert "HW-1 P1 new, 1 hour, 30 minutes, nobody — salary export broken" in duty.text


async def test_queue_when_empty(desk) -> None:
    assert (await desk.reply("anna", "/queue")).text == t("en", "queue.empty")


# --------------------------------------------------------------------------- parse errors and help


async def test_parse_errors_are_answered_with_usage(desk) -> None:
    answer = await desk.reply("anna", "/ticket show")
    assert (answer.kind, answer.text) == ("error", "ID is missing.\nUsage: /ticket show ID")
    answer = await desk.reply("anna", "/ticket show HW-1 now")
    assert answer.text == "Unexpected \"now\".\nUsage: /ticket show ID"
    answer = await desk.reply("anna", "/frobnicate")
    assert answer.text == "Unknown command \"frobnicate\". Type /help for the list of commands."
    answer = await desk.reply("anna", "/ticket -x broken")
    assert answer.text.startswith("Unknown option -x.\nUsage: /ticket [-p 1|2|3] [-t TOPIC] [--for CONTACT] TEXT…")


async def test_unknown_subcommand_lists_the_group(desk) -> None:
    class Args(BaseModel):
        who: str

    async def handler(ctx, _args):
        return []

    registry = desk.bot.desk.registry
    registry.add(Command(("zz", "swap"), Args, handler, "help.queue", (Arg("who", "positional", metavar="@WHO"),)))
    registry.add(Command(("zz", "who"), Args, handler, "help.queue", (Arg("who", "positional", metavar="ROLE"),)))
    answer = await desk.reply("anna", "/zz frobnicate")
    assert answer.text == "Unknown command \"zz\".\nUsage: /zz swap @WHO\n/zz who ROLE"


async def test_help_shows_what_the_asker_may_use(desk) -> None:
    requester = (await desk.reply("dora", "/help")).text
    staff = (await desk.reply("anna", "/help")).text
    assert requester.splitlines()[0] == t("en", "help.head", desk="HW desk")
    assert "/ticket [-p 1|2|3] [-t TOPIC] TEXT… — " in requester
    assert "/queue" not in requester and "/ticket take" not in requester
    assert "/queue — " in staff and "/ticket take ID — " in staff
    assert "--for CONTACT" in staff and "--for" not in requester  # only the team opens tickets for others
    assert (await desk.reply("anna", "/help nope")).text == t("en", "help.unknown", topic="nope", prefix="/")


@pytest.mark.parametrize("text", ["/ticket", "/ticket   "])
async def test_ticket_without_text(desk, text: str) -> None:
    answer = await desk.reply("dora", text)
    assert answer.text.startswith("TEXT is missing.")
    assert await desk.count(Ticket) == 0


async def test_ages_use_the_virtual_clock(desk) -> None:
    await desk.send("dora", "/ticket printer on fire")
    desk.clock.advance(timedelta(days=1, hours=3))
    view = await desk.reply("anna", "/ticket show HW-1")
    assert "(1 day ago)" in view.text
