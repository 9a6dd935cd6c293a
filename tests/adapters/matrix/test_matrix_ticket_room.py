"""#17 on a real Synapse: a ticket's room over its life — its name and topic (kept current, set only when their
text changes), its power levels (a requester talks, but neither invites nor renames), the desk's Space, closing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from matrix_harness import MatrixHarness
from sqlalchemy import delete, select

from bot.core.types import MessageKind, Visibility
from bot.duty.notify import mention_of
from bot.infra.outbox import enqueue
from storage.models import KeyValue, Ticket

SLA = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "sla": "support",
             "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {"response-P1": {"within": "30m"},
                                                          "response": {"within": "4h"}}}},
}


async def value(matrix: MatrixHarness, key: str) -> str | None:
    async with matrix.bot.desk.sessions() as session:
        return await session.scalar(select(KeyValue.value).where(KeyValue.key == key))


async def ticket_room(matrix: MatrixHarness, key: str = "HW-1") -> str:
    room = await value(matrix, f"matrix:space:{key}")
    assert room is not None
    return room


async def state_events(matrix: MatrixHarness, who: str, room: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in await matrix.people[who].timeline(room, limit=200) if e["type"] == kind]


async def put_state(matrix: MatrixHarness, who: str, room: str, kind: str, content: dict[str, Any]) -> int:
    status, _ = await matrix.people[who].raw("PUT", f"/_matrix/client/v3/rooms/{quote(room)}/state/{kind}/",
                                             content)
    return status


async def open_ticket(matrix: MatrixHarness, text: str = "the VPN drops every ten minutes") -> str:
    dm = await matrix.dm_with_bot("rita")
    await matrix.settle(await matrix.people["rita"].send(dm, text))
    await matrix.people["rita"].accept_invites()
    return await ticket_room(matrix)


async def test_the_ticket_room_is_named_and_its_topic_follows_the_ticket(make_matrix: Any) -> None:
    matrix = await make_matrix(**SLA)
    room = await open_ticket(matrix)
    rita, anna = matrix.people["rita"], matrix.people["anna"]
    names = await state_events(matrix, "rita", room, "m.room.name")
    assert names[-1]["content"]["name"] == "HW-1 · the VPN drops every ten minutes"
    # reported Tue 15:50 in Berlin, answered within 4 h: due 19:50 desk time
    topic = (await state_events(matrix, "rita", room, "m.room.topic"))[-1]["content"]["topic"]
    assert topic == "State: new · Priority 2 · Assignee: nobody · SLA due Tue 24 Nov, 19:50"

    # the requester's message changes nothing the topic shows: no new topic event
    await matrix.settle(await rita.send(room, "it also happens on the office Wi-Fi"))
    assert len(await state_events(matrix, "rita", room, "m.room.topic")) == 1

    await matrix.settle(await anna.send(matrix.duty, "!ticket take HW-1"))
    await matrix.settle(await anna.send(matrix.duty, "!ticket priority HW-1 1"))
    topics = [e["content"]["topic"] for e in await state_events(matrix, "rita", room, "m.room.topic")]
    assert topics[1] == "State: in progress · Priority 2 · Assignee: Anna · SLA due Tue 24 Nov, 19:50"
    # Prio 1 is answered within 30 minutes of the report
    assert topics[2] == "State: in progress · Priority 1 · Assignee: Anna · SLA due Tue 24 Nov, 16:20"
    assert len(topics) == 3
    assert len(await state_events(matrix, "rita", room, "m.room.name")) == len(names)   # the title did not change

    await anna.accept_invites()
    await matrix.settle(await anna.send(matrix.duty, "!ticket close HW-1"))
    await matrix.bot.outbox.drain()
    topics = [e["content"]["topic"] for e in await state_events(matrix, "anna", room, "m.room.topic")]
    assert topics[-1] == "State: closed · Priority 1 · Assignee: Anna"   # no SLA on a closed ticket


async def test_a_german_desk_names_its_rooms_in_german(make_matrix: Any) -> None:
    matrix = await make_matrix(**{**SLA, "desk": {**SLA["desk"], "language": "de"}})
    room = await open_ticket(matrix, "Drucker im 2. OG druckt nur leere Seiten")
    topic = (await state_events(matrix, "rita", room, "m.room.topic"))[-1]["content"]["topic"]
    assert topic == "Status: neu · Priorität 2 · Bearbeitung: niemand · SLA fällig Di., 24. Nov., 19:50"


async def test_a_requester_can_talk_but_neither_invite_nor_rename_nor_raise_themselves(matrix: MatrixHarness) -> None:
    """The attack: Rita, the requester, tries to bring Ben into her ticket, to change its topic and name, and to
    give herself power; Synapse refuses each, while the agent who has the ticket may."""
    room = await open_ticket(matrix)
    rita = matrix.people["rita"]
    said = await rita.send(room, "here is the log file")   # talking is allowed
    await matrix.settle(said)

    status, _ = await rita.raw("POST", f"/_matrix/client/v3/rooms/{quote(room)}/invite",
                               {"user_id": matrix.names["ben"]})
    assert status == 403
    assert await put_state(matrix, "rita", room, "m.room.topic", {"topic": "Prio 1, fix it NOW"}) == 403
    assert await put_state(matrix, "rita", room, "m.room.name", {"name": "Ben's room"}) == 403
    status, levels = await rita.raw("GET", f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.power_levels/")
    assert status == 200
    assert levels["users"].get(matrix.names["rita"], levels.get("users_default", 0)) == 0
    raised = {**levels, "users": {**levels["users"], matrix.names["rita"]: 100}}
    assert await put_state(matrix, "rita", room, "m.room.power_levels", raised) == 403
    assert levels["events"]["m.room.power_levels"] == 50 and levels["events"]["m.room.topic"] == 50
    assert levels["invite"] == 50

    await matrix.settle(await matrix.people["anna"].send(matrix.duty, "!ticket take HW-1"))
    assert room in await matrix.people["anna"].accept_invites()
    assert await put_state(matrix, "anna", room, "m.room.topic", {"topic": "waiting for the VPN vendor"}) == 200
    # the bot's next topic (the text changed) replaces the agent's
    await matrix.settle(await matrix.people["anna"].send(matrix.duty, "!ticket priority HW-1 1"))
    topic = (await state_events(matrix, "anna", room, "m.room.topic"))[-1]["content"]["topic"]
    assert topic.startswith("State: in progress · Priority 1 · Assignee: Anna")


async def member_state(matrix: MatrixHarness, room: str, user: str) -> str | None:
    answer = await matrix.adapter.client.room_get_state_event(room, "m.room.member", user)
    content = getattr(answer, "content", None)
    return content.get("membership") if isinstance(content, dict) else None


async def spaces_of_the_bot(matrix: MatrixHarness) -> list[str]:
    client = matrix.adapter.client
    rooms = (await client.joined_rooms()).rooms
    return [room for room in rooms
            if (getattr(await client.room_get_state_event(room, "m.room.create"), "content", None) or {}).get("type")
            == "m.space"]


async def test_the_desk_space_is_made_once_holds_the_ticket_rooms_and_survives_a_restart(
        matrix: MatrixHarness) -> None:
    matrix.settings.matrix.space = True
    room = await open_ticket(matrix)
    space = await value(matrix, "matrix:desk-space")
    assert space is not None and await spaces_of_the_bot(matrix) == [space]
    client = matrix.adapter.client
    child = await client.room_get_state_event(space, "m.space.child", room)
    assert child.content["via"] == ["localhost"]
    parent = await client.room_get_state_event(room, "m.space.parent", space)
    assert parent.content["canonical"] is True
    name = await client.room_get_state_event(space, "m.room.name")
    assert name.content["name"] == "HW desk"
    # the requester is never in the desk's Space (it lists every ticket room); the agent who takes a ticket is
    assert await member_state(matrix, space, matrix.names["rita"]) is None
    await matrix.settle(await matrix.people["anna"].send(matrix.duty, "!ticket take HW-1"))
    assert space in await matrix.people["anna"].accept_invites()

    await matrix.stop_bot()
    await matrix.start_bot()
    dm = await value(matrix, f"matrix:dm:{matrix.names['rita']}")
    assert dm is not None
    await matrix.settle(await matrix.people["rita"].send(dm, "!ticket the printer on floor 2 is jammed"))
    second = await ticket_room(matrix, "HW-2")
    assert await value(matrix, "matrix:desk-space") == space
    assert await spaces_of_the_bot(matrix) == [space]   # no second Space after the restart
    child = await matrix.adapter.client.room_get_state_event(space, "m.space.child", second)
    assert child.content["via"] == ["localhost"]


async def test_the_bot_leaves_the_longest_closed_rooms_beyond_its_limit(matrix: MatrixHarness) -> None:
    """[matrix] closed_rooms = 1: closing a second ticket makes the bot leave the first one's room (the team keeps
    it); reopening that ticket opens a new room and invites the requester there."""
    matrix.settings.matrix.closed_rooms = 1
    rita, anna = matrix.people["rita"], matrix.people["anna"]
    first = await open_ticket(matrix)
    dm = await value(matrix, f"matrix:dm:{matrix.names['rita']}")
    assert dm is not None
    await matrix.settle(await rita.send(dm, "!ticket the printer on floor 2 is jammed"))
    second = await ticket_room(matrix, "HW-2")
    await matrix.settle(await anna.send(matrix.duty, "!ticket close HW-1"))
    await matrix.bot.outbox.drain()
    # closed: goodbye, the requester is removed with the reason, the bot stays (one closed room is allowed)
    assert await member_state(matrix, first, matrix.names["rita"]) == "leave"
    kick = [e for e in await state_events(matrix, "rita", first, "m.room.member")
            if e["state_key"] == matrix.names["rita"] and e["content"]["membership"] == "leave"][-1]
    assert kick["sender"] == matrix.bot_id and kick["content"]["reason"] == "HW-1 is closed"
    assert await member_state(matrix, first, matrix.bot_id) == "join"

    await matrix.settle(await anna.send(matrix.duty, "!ticket close HW-2"))
    await matrix.bot.outbox.drain()
    joined = set((await matrix.adapter.client.joined_rooms()).rooms)
    assert first not in joined and second in joined
    assert await value(matrix, "matrix:space:HW-1") is None and await value(matrix, "matrix:space:HW-2") == second
    # a new topic for the closed ticket opens no new room
    assert await matrix.adapter.rooms.retitle("HW-1", "HW-1 · renamed", "State: closed") is None
    assert await value(matrix, "matrix:space:HW-1") is None

    await matrix.settle(await rita.send(dm, "!ticket reopen HW-1"))
    await matrix.bot.outbox.drain()
    reopened = await ticket_room(matrix, "HW-1")
    assert reopened not in (first, second)
    assert reopened in await rita.accept_invites()


async def test_the_bots_mentions_are_pills_that_notify(matrix: MatrixHarness) -> None:
    """A notice to the duty room that mentions Carla (as the digest mentions the phone duty): a matrix.to pill in
    the formatted body, her plain name in the body, and her id in m.mentions, so that her client notifies her."""
    desk = matrix.bot.desk
    [duty] = desk.duty_targets()
    async with desk.sessions.begin() as session:
        enqueue(session, matrix.clock.now(), duty, f"Prio-1 digest for {mention_of(desk, 'carla', at=True)}: "
                f"nothing open. Ask {mention_of(desk, 'anna')} or {mention_of(desk, 'zed')}.",
                kind=MessageKind.DIGEST, visibility=Visibility.PRIVATE)
    await matrix.bot.outbox.drain()
    [digest] = [e for e in await matrix.people["carla"].from_bot(matrix.duty, matrix.bot_id)
                if "digest" in e["content"]["body"]]
    carla, anna = matrix.names["carla"], matrix.names["anna"]
    content = digest["content"]
    assert content["body"] == "Prio-1 digest for @Carla: nothing open. Ask Anna or zed."
    assert content["formatted_body"] == (f'Prio-1 digest for <a href="https://matrix.to/#/{carla}">@Carla</a>: '
                                         f'nothing open. Ask <a href="https://matrix.to/#/{anna}">Anna</a> or zed.')
    assert content["m.mentions"] == {"user_ids": [carla, anna]}


async def test_a_requesters_text_mentions_nobody(matrix: MatrixHarness) -> None:
    """The attack: Rita's request tries @room, a forged mark of the bot's own mentions, a pill in HTML and a bare
    user id; the duty card and her ticket room show it as text, and nobody is in m.mentions."""
    anna = matrix.names["anna"]
    forged = "\ue000anna\ue001@Anna\ue002"
    text = (f"@room URGENT {forged} <a href=\"https://matrix.to/#/{anna}\">Anna</a> {anna} please look")
    room = await open_ticket(matrix, text)
    async with matrix.bot.desk.sessions() as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
    assert "\ue000" not in ticket.title and "\ue000" not in ticket.description
    [card] = [e for e in await matrix.people["anna"].from_bot(matrix.duty, matrix.bot_id)
              if "HW-1" in e["content"]["body"]]
    [opened] = await matrix.people["rita"].from_bot(room, matrix.bot_id)
    for event in (card, opened):
        content = event["content"]
        assert content["m.mentions"] == {}
        assert "<a " not in content["formatted_body"] and "&lt;a href=" in content["formatted_body"]
        assert "@room" not in content["body"] and "@\u2060room" in content["body"]
        assert "\ue000" not in content["body"] and "@Anna" in content["body"]   # the forged mark is plain text


async def test_a_desk_space_named_by_alias_is_made_with_it_and_found_by_it(matrix: MatrixHarness) -> None:
    """[matrix] space = "#desk-space-…": the bot makes the Space with that alias; with its database entry lost,
    the alias finds the same Space again (no second one)."""
    alias = f"#desk-space-{matrix.sfx}"
    matrix.settings.matrix.space = alias
    room = await open_ticket(matrix)
    space = await value(matrix, "matrix:desk-space")
    resolved = await matrix.people["anna"].client.room_resolve_alias(f"{alias}:localhost")
    assert space is not None and resolved.room_id == space
    assert (await matrix.adapter.client.room_get_state_event(space, "m.space.child", room)).content["via"]

    async with matrix.bot.desk.sessions.begin() as session:
        await session.execute(delete(KeyValue).where(KeyValue.key == "matrix:desk-space"))
    matrix.adapter.rooms._desk_space = None
    await matrix.settle(await matrix.people["rita"].send(
        await value(matrix, f"matrix:dm:{matrix.names['rita']}") or "", "!ticket the printer on floor 2 is jammed"))
    second = await ticket_room(matrix, "HW-2")
    assert await value(matrix, "matrix:desk-space") == space and await spaces_of_the_bot(matrix) == [space]
    assert (await matrix.adapter.client.room_get_state_event(space, "m.space.child", second)).content["via"]
