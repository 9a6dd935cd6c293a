"""Bad input from the platforms (issue #15) on SQLite and PostgreSQL: text a database refuses is stored
with U+FFFD in its place, so a ticket is never lost after its receipt and nothing is reported as an error."""

from __future__ import annotations

from storage.models import ProcessedEvent, Ticket, TicketEvent


async def test_a_nul_byte_or_a_lone_surrogate_in_a_message_is_stored_not_lost(desk) -> None:
    receipt = await desk.reply("rita", "/ticket printer\x00 on fire, password \ud800 hunter2")
    assert receipt.text.startswith("Ticket HW-1 is open")
    [ticket] = await desk.rows(Ticket)
    assert ticket.title == "printer\ufffd on fire, password \ufffd hunter2"
    await desk.send("Ri\x00ta", "it still\x00 burns", dm=True)
    [follow_up] = await desk.rows(Ticket, Ticket.key == "HW-2")
    assert follow_up.description == "it still\ufffd burns"
    assert await desk.count(ProcessedEvent, ProcessedEvent.status != "done") == 0
    assert [m for m in desk.adapter.sent if m.kind == "error"] == []
    created = await desk.rows(TicketEvent, TicketEvent.kind == "created", order=TicketEvent.id)
    assert [e.body for e in created] == [ticket.description, "it still\ufffd burns"]
