"""Desk roles from a Matrix room (``[access] matrix_rooms``) and files sent to a ticket, on the real
Synapse: whoever joins the agents room may see the queue, and is refused again after leaving; a PNG
goes onto the ticket, a PDF is refused with the catalogue's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from matrix_harness import MatrixHarness, suffix
from nio import RoomInviteResponse, RoomLeaveResponse, UploadResponse
from sqlalchemy import select
from synapse_server import Synapse

from storage.models import Attachment, GroupMember, KeyValue, Ticket


@pytest.fixture
async def agents_desk(synapse: Synapse, tmp_path: Path) -> AsyncIterator[MatrixHarness]:
    """A desk whose agents are the members of the room ``#agents-<sfx>`` (created later by anna)."""
    sfx = suffix()
    harness = MatrixHarness(synapse, f"sqlite+aiosqlite:///{tmp_path / 'dutydesk.db'}", sfx)
    try:
        yield await harness.setup(access={"matrix_rooms": {"agent": f"#agents-{sfx}"}})
    finally:
        await harness.close()


async def rows(matrix: MatrixHarness, model: type, *where: Any) -> list[Any]:
    async with matrix.bot.desk.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def agents(matrix: MatrixHarness) -> set[str]:
    return {row.user_id for row in await rows(matrix, GroupMember)}


async def ask_queue(matrix: MatrixHarness, dm: str) -> str:
    rita = matrix.people["rita"]
    before = len(await rita.from_bot(dm, matrix.bot_id))
    asked = await rita.send(dm, "!queue")
    await matrix.settle(asked)
    answers = await matrix.wait_for("rita", lambda p: _more(p, dm, matrix.bot_id, before))
    return answers[-1]["content"]["body"]


async def _more(person: Any, room: str, bot: str, before: int) -> list[dict[str, Any]] | None:
    found = await person.from_bot(room, bot)
    return found if len(found) > before else None


async def test_joining_the_agents_room_gives_the_queue_and_leaving_takes_it(agents_desk: MatrixHarness) -> None:
    matrix = agents_desk
    rita_id = matrix.names["rita"]
    room = await matrix.room_with_bot("anna", name="agents", public=False)
    assert await agents(matrix) == {matrix.names["anna"]}  # read in full when the bot joined

    dm = await matrix.dm_with_bot("rita")
    assert "Only the support team may do this" in await ask_queue(matrix, dm)

    invited = await matrix.people["anna"].client.room_invite(room, rita_id)
    assert isinstance(invited, RoomInviteResponse), invited
    await matrix.people["rita"].join(room)

    async def rita_is_agent() -> bool:
        return rita_id in await agents(matrix)

    await matrix.settle(until=rita_is_agent)
    assert (await ask_queue(matrix, dm)).startswith("The queue is empty")

    left = await matrix.people["rita"].client.room_leave(room)
    assert isinstance(left, RoomLeaveResponse), left

    async def rita_is_not() -> bool:
        return rita_id not in await agents(matrix)

    await matrix.settle(until=rita_is_not)
    assert "Only the support team may do this" in await ask_queue(matrix, dm)

    # a restart reads the room in full again (nothing depends on the events seen before)
    await matrix.stop_bot()
    await matrix.start_bot()
    await matrix.settle(until=lambda: _true())
    assert await agents(matrix) == {matrix.names["anna"]}


async def _true() -> bool:
    return True


async def test_a_watched_room_without_the_bot_is_reported_with_what_to_do(agents_desk: MatrixHarness) -> None:
    matrix = agents_desk
    await matrix.people["anna"].create_room(alias=f"agents-{matrix.sfx}")  # the bot is not invited
    problems = await matrix.runtime.ingress.groups.sync_all()
    [(name, reason)] = problems.items()
    assert name == f"#agents-{matrix.sfx}"
    assert f"the bot ({matrix.bot_id}) is not in the room" in reason and f"invite {matrix.bot_id}" in reason
    assert "agent" in reason
    assert await agents(matrix) == set()


async def upload(matrix: MatrixHarness, who: str, name: str, mimetype: str, data: bytes) -> str:
    import io

    answer, _keys = await matrix.people[who].client.upload(io.BytesIO(data), content_type=mimetype,
                                                           filename=name, filesize=len(data))
    assert isinstance(answer, UploadResponse), answer
    return str(answer.content_uri)


async def send_file(matrix: MatrixHarness, who: str, room: str, msgtype: str, name: str, mimetype: str,
                    data: bytes) -> str:
    from nio import RoomSendResponse

    url = await upload(matrix, who, name, mimetype, data)
    content = {"msgtype": msgtype, "body": name, "url": url, "info": {"mimetype": mimetype, "size": len(data)}}
    sent = await matrix.people[who].client.room_send(room, "m.room.message", content)
    assert isinstance(sent, RoomSendResponse), sent
    return str(sent.event_id)


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x9a\xa0\xa5\x00\x00\x00\x00IEND\xaeB`\x82")


async def test_a_png_goes_onto_the_ticket_and_a_pdf_is_refused(matrix: MatrixHarness) -> None:
    room = await matrix.room_with_bot("anna", name="random", members=("rita",))
    rita = matrix.people["rita"]
    await matrix.settle(await rita.send(room, "!ticket the checkout page is blank"))
    space = {row.key: row.value for row in await rows(matrix, KeyValue)}["matrix:space:HW-1"]
    await rita.accept_invites()

    shot = await send_file(matrix, "rita", space, "m.image", "blank.png", "image/png", PNG)
    await matrix.settle(shot)
    [ticket] = await rows(matrix, Ticket)
    [stored] = await rows(matrix, Attachment)
    assert (stored.ticket_id, stored.file_name, stored.mime_type, stored.size) == (ticket.id, "blank.png",
                                                                                   "image/png", len(PNG))
    assert stored.ref is not None and stored.ref.startswith("mxc://localhost/")

    pdf = await send_file(matrix, "rita", space, "m.file", "invoice.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    await matrix.settle(pdf)
    assert len(await rows(matrix, Attachment)) == 1

    dm = {row.key: row.value for row in await rows(matrix, KeyValue)}[f"matrix:dm:{matrix.names['rita']}"]

    async def refused(person: Any) -> list[str]:  # a refusal is for the sender alone: their direct room
        return [b for b in (e["content"].get("body", "") for e in await person.from_bot(dm, matrix.bot_id))
                if "was not added" in b]

    [refusal] = await matrix.wait_for("rita", refused)
    assert "invoice.pdf (application/pdf) was not added: screenshots are taken as JPG, GIF, PNG only" in refusal
