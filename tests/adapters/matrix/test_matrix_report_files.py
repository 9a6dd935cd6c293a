"""The report's chart on a real Synapse (issue #19): the text as an ``m.notice``, then the PNG uploaded to the
media repository and sent as an ``m.image``; the lead's own client downloads it back and compares the bytes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from matrix_harness import MatrixHarness
from nio import DownloadResponse
from sqlalchemy import select

from adapters.matrix.render import png_size
from bot.core.types import OutboundMessage, OutgoingFile, Platform, Target, Visibility
from storage.models import OutboxFile


async def download(matrix: MatrixHarness, who: str, uri: str) -> bytes:
    answer = await matrix.people[who].client.download(mxc=uri)
    assert isinstance(answer, DownloadResponse), answer
    return bytes(answer.body)


async def images(matrix: MatrixHarness, who: str, room: str) -> list[dict[str, Any]]:
    said = await matrix.people[who].from_bot(room, matrix.bot_id)
    return [e for e in said if e["content"].get("msgtype") == "m.image"]


async def test_the_report_arrives_as_text_and_an_image_the_lead_can_download(matrix: MatrixHarness) -> None:
    rita = await matrix.dm_with_bot("rita")
    asked = await matrix.people["rita"].send(rita, "!ticket the printer jams")
    await matrix.settle(asked)
    matrix.clock.advance(timedelta(minutes=10))  # the report counts up to now

    anna = await matrix.dm_with_bot("anna")
    asked = await matrix.people["anna"].send(anna, "!report week")
    await matrix.settle(asked)
    said = await matrix.people["anna"].from_bot(anna, matrix.bot_id)
    report = next(i for i, e in enumerate(said) if e["content"]["body"].startswith("Report 23 Nov 2026"))
    image = said[report + 1]["content"]  # the chart right after the text
    assert said[report]["content"]["msgtype"] == "m.notice" and "1 opened" in said[report]["content"]["body"]
    assert image["msgtype"] == "m.image" and image["filename"] == "report-2026-11-23-2026-11-29.png"
    assert image["body"].startswith("Chart of the report 23 Nov 2026 – 29 Nov 2026: tickets opened and closed")
    assert image["info"]["mimetype"] == "image/png" and (image["info"]["w"], image["info"]["h"]) == (1000, 420)
    data = await download(matrix, "anna", image["url"])
    assert png_size(data) == (1000, 420) and 10_000 < len(data) < 300_000 and len(data) == image["info"]["size"]
    async with matrix.bot.desk.sessions() as session:
        stored = (await session.scalars(select(OutboxFile))).one()
    assert stored.data == data  # the very bytes stored with the outbox row

    # a requester asking for the report gets the refusal and no chart
    asked = await matrix.people["rita"].send(rita, "!report week")
    await matrix.settle(asked)
    assert not await images(matrix, "rita", rita)


async def test_a_resent_row_shows_its_image_once(matrix: MatrixHarness) -> None:
    room = await matrix.dm_with_bot("carla")
    chart = OutgoingFile(name="report.png", type="image/png", title="Diagramm zum Bericht 1.–7.12.",
                         data=_tiny_png())
    message = OutboundMessage(id=987655, target=Target(kind="dm", platform=Platform.MATRIX,
                                                       user_id=matrix.names["carla"]),
                              text="Bericht", kind="report", visibility=Visibility.PRIVATE, files=(chart,))
    first = await matrix.adapter.send(message)
    again = await matrix.adapter.send(message)  # a retry after a crash: same row id, same transactions
    assert first == again
    [image] = await images(matrix, "carla", room)
    assert image["content"]["body"] == "Diagramm zum Bericht 1.–7.12."
    assert image["content"]["info"] == {"mimetype": "image/png", "size": len(chart.data), "w": 4, "h": 3}
    assert await download(matrix, "carla", image["content"]["url"]) == chart.data


def _tiny_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3), (0xF7, 0xF7, 0xF7)).save(out, format="PNG")
    return out.getvalue()
