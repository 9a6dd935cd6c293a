"""`/report` in chat (issue #19): who may ask, the periods, the language; and the chart file."""

from __future__ import annotations

import struct
from datetime import date

import pytest

from bot.reports.chart import png, sla_by_priority
from bot.reports.figures import build_report
from tests.core.report_week import at, week


async def test_leads_coordinators_and_admins_get_the_report_others_are_refused(make_harness) -> None:
    desk = await week(make_harness)
    desk.clock.set(at(8, 9, month=12))  # Tuesday after the week
    for who in ("anna", "carla", "root"):  # lead, coordinator, admin
        answer = await desk.reply(who, "/report last week")
        assert answer.text.startswith("Report 30 Nov 2026 – 6 Dec 2026\n4 opened · 2 closed"), who
        assert answer.target.kind == "ephemeral"
    # an agent without the lead role, and a requester: refused, and nothing of the figures shows
    agent = await desk.reply("ben", "/report last week")
    assert "only team leads, coordinators and admins" in agent.text and "opened" not in agent.text
    requester = await desk.reply("zoe", "/report last week")
    assert "opened" not in requester.text and "HW-" not in requester.text
    # every way of writing it is checked, also the dates form and a role given through another path
    sneaky = await desk.reply("ben", "/report 2026-11-30 2026-12-06")
    assert "only team leads" in sneaky.text


async def test_periods_and_bad_periods(make_harness) -> None:
    desk = await week(make_harness)
    desk.clock.set(at(8, 9, month=12))
    dates = await desk.reply("anna", "/report 2026-11-30 2026-12-06")
    assert dates.text.startswith("Report 30 Nov 2026 – 6 Dec 2026")
    this_week = await desk.reply("anna", "/report")
    assert this_week.text.startswith("Report 7 Dec 2026 – 13 Dec 2026")
    month = await desk.reply("anna", "/report month")
    assert month.text.startswith("Report 1 Dec 2026 – 31 Dec 2026")
    for bad in ("/report fortnight", "/report 2026-12-06 2026-11-30", "/report 2026-02-30 2026-03-01",
                "/report 2020-01-01 2026-01-01", "/report 9999-01-01 9999-01-02"):
        answer = await desk.reply("anna", bad)
        assert "Report" not in answer.text and ("no period" in answer.text or "cannot be reported" in answer.text)


async def test_the_report_in_german_and_russian(make_harness) -> None:
    desk = await week(make_harness)
    async with desk.sessions() as session:
        from bot.reports.text import render

        report = await build_report(session, desk.bot.desk, date(2026, 11, 30), date(2026, 12, 6))
    german, russian = render(report, "de", "Europe/Berlin"), render(report, "ru", "Europe/Moscow")
    assert german.startswith("Bericht 30.11.2026 – 06.12.2026\n4 eröffnet · 2 geschlossen · 3 am Ende offen")
    assert "HW-1 P2 in Bearbeitung, seit Fr., 27. Nov., 10:00, Anna" in german
    assert "Zufriedenheit: gefragt 2 · zufrieden 1 · nicht behoben 0 · keine Antwort 1" in german
    assert "4 открыто · 2 закрыто · 3 открыты на конец периода" in russian
    assert "HW-1 P2 в работе, с пт, 27 нояб., 12:00, Anna" in russian  # the reader's zone
    for text in (german, russian):
        assert "opened" not in text and "UTC" not in text


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("lang", ["en", "de", "ru"])
async def test_the_chart_is_a_png_of_sensible_size(make_harness, lang: str) -> None:
    desk = await week(make_harness)
    async with desk.sessions() as session:
        report = await build_report(session, desk.bot.desk, date(2026, 11, 30), date(2026, 12, 6))
    per = sla_by_priority(report)
    assert (per[1]["met"], per[2]["breached"], per[3]["breached"]) == (2, 2, 2)
    data = png(report, lang)
    width, height = png_size(data)
    assert (width, height) == (1000, 420)
    assert 10_000 < len(data) < 300_000
    # an opaque card: the corner pixel is the light card colour, not transparent (readable on a dark theme)
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(data)).convert("RGBA")
    assert image.getpixel((2, 2)) == (0xF7, 0xF7, 0xF7, 255)
