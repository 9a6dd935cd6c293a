"""`/report` in chat (issue #19): who may ask, the periods, the language; and the chart file."""

from __future__ import annotations

import struct
from datetime import date

import pytest

from bot.reports.chart import chart_file, png, sla_by_priority
from bot.reports.figures import build_report
from tests.core.report_week import at, week


async def test_leads_coordinators_and_admins_get_the_report_others_are_refused(make_harness) -> None:
    desk = await week(make_harness)
    desk.clock.set(at(8, 9, month=12))  # Tuesday after the week
    for who in ("anna", "carla", "root"):  # lead, coordinator, admin
        answer = await desk.reply(who, "/report last week")
        assert answer.text.startswith("Report 30 Nov 2026 – 6 Dec 2026\n4 opened · 2 closed"), who
        # with its chart, read back from the outbox's files table: a file is shown to nobody else in a channel, so
        # the report goes to the asker's direct chat instead of an ephemeral note
        assert answer.target.kind == "dm" and answer.visibility == "private"
        [chart] = answer.files
        assert (chart.name, chart.type) == ("report-2026-11-30-2026-12-06.png", "image/png")
        assert png_size(chart.data) == (1000, 420) and 10_000 < len(chart.data) < 300_000
        assert chart.title.startswith("Chart of the report 30 Nov 2026 – 6 Dec 2026: tickets opened and closed")
    # an agent without the lead role, and a requester: refused, and nothing of the figures shows
    agent = await desk.reply("ben", "/report last week")
    assert "only team leads, coordinators and admins" in agent.text and "opened" not in agent.text
    requester = await desk.reply("zoe", "/report last week")
    assert "opened" not in requester.text and "HW-" not in requester.text
    # every way of writing it is checked, also the dates form and a role given through another path
    sneaky = await desk.reply("ben", "/report 2026-11-30 2026-12-06")
    assert "only team leads" in sneaky.text
    assert not agent.files and not requester.files and not sneaky.files  # no chart for them either


async def test_periods_and_bad_periods(make_harness) -> None:
    desk = await week(make_harness)
    desk.clock.set(at(8, 9, month=12))
    dates = await desk.reply("anna", "/report 2026-11-30 2026-12-06")
    assert dates.text.startswith("Report 30 Nov 2026 – 6 Dec 2026")
    this_week = await desk.reply("anna", "/report")
    assert this_week.text.startswith("Report 7 Dec 2026 – 13 Dec 2026")
    month = await desk.reply("anna", "/report month")
    assert month.text.startswith("Report 1 Dec 2026 – 31 Dec 2026")
    empty = await desk.reply("anna", "/report 2026-10-05 2026-10-11")
    assert "no tickets" in empty.text and not empty.files  # nothing to draw: one line, no chart
    assert empty.target.kind == "ephemeral"  # without a file the answer stays an ephemeral note
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
    # the file sent with the report: its caption in the reader's language (Russian: «обращения»)
    file = chart_file(report, lang)
    assert file.name == "report-2026-11-30-2026-12-06.png" and file.type == "image/png"
    assert file.title.startswith({"en": "Chart of the report 30 Nov 2026 – 6 Dec 2026: tickets",
                                  "de": "Diagramm zum Bericht 30.11.2026 – 06.12.2026: eröffnete und geschlossene",
                                  "ru": "Диаграмма к отчёту 30 нояб. 2026\u202fг. – 6 дек. 2026\u202fг.: "
                                        "открытые и закрытые обращения"}[lang]), file.title
