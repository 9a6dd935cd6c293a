"""Group commit of inbound events (``Dispatcher.accept_many``): each idempotency key is stored once,
within a batch and across batches, on both backends."""

from __future__ import annotations

from storage.models import ProcessedEvent


async def test_accept_many_stores_each_key_once(desk) -> None:
    first = desk.event("ben", "/ticket printer on fire", event_id="g1")
    second = desk.event("ben", "/ticket scanner jammed", event_id="g2")
    again = desk.event("ben", "/ticket printer on fire", event_id="g1")  # a redelivery in the same batch
    assert await desk.bot.dispatcher.accept_many([first, second, again]) == [True, True, False]
    third = desk.event("ben", "/ticket fax", event_id="g3")
    assert await desk.bot.dispatcher.accept_many([second, third]) == [False, True]
    assert await desk.bot.dispatcher.accept_many([]) == []
    rows = {row.key: row.payload["text"] for row in await desk.rows(ProcessedEvent)}
    assert rows == {"sim:g1": "ticket printer on fire", "sim:g2": "ticket scanner jammed", "sim:g3": "ticket fax"}
