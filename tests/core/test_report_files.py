"""Files sent with a message (the report's chart) on the console and in the simulator's transcript (#19)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from adapters.console import ConsoleAdapter
from adapters.sim import SimAdapter
from bot.core.clock import VirtualClock
from bot.core.types import OutboundMessage, OutgoingFile, Platform, Target, Visibility
from tests.core.report_week import at

CHART = OutgoingFile(name="report-2026-11-30-2026-12-06.png", type="image/png", data=b"\x89PNG\r\n\x1a\n" + b"x" * 40,
                     title="Chart of the report 30 Nov 2026 – 6 Dec 2026")


def message(platform: Platform, *files: OutgoingFile, kind: str = "dm") -> OutboundMessage:
    target = (Target(kind="dm", platform=platform, user_id="anna") if kind == "dm" else
              Target(kind="channel", platform=platform, channel_id="#support-leads"))
    return OutboundMessage(id=7, target=target, text="Report 30 Nov 2026 – 6 Dec 2026", kind="report",
                           visibility=Visibility.PRIVATE, files=files)


async def test_the_console_saves_the_file_and_prints_its_path(tmp_path: Path) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(VirtualClock(at(7, 9, month=12)), "anna", "en", out=out, files_dir=tmp_path)
    await console.send(message(Platform.CONSOLE, CHART))
    saved = tmp_path / "7-report-2026-11-30-2026-12-06.png"
    assert saved.read_bytes() == CHART.data
    assert out.getvalue().splitlines() == [
        "[@anna (direct)] dutydesk: Report 30 Nov 2026 – 6 Dec 2026",
        f"[@anna (direct)] dutydesk: file Chart of the report 30 Nov 2026 – 6 Dec 2026: saved as {saved}"]


async def test_the_console_keeps_a_files_name_inside_its_directory(tmp_path: Path) -> None:
    """A name with a path in it (only the bot names files, but never trust a name) is cut to its last part."""
    inside = tmp_path / "files"
    inside.mkdir()
    console = ConsoleAdapter(VirtualClock(at(7, 9, month=12)), "anna", "de", out=io.StringIO(), files_dir=inside)
    for name in ("../../escape.png", "..\\..\\escape.png", "/etc/passwd", ".."):
        await console.send(message(Platform.CONSOLE, CHART.model_copy(update={"name": name})))
    assert sorted(p.name for p in inside.iterdir()) == ["7-escape.png", "7-file", "7-passwd"]
    assert not (tmp_path / "escape.png").exists() and [p.name for p in tmp_path.iterdir()] == ["files"]


async def test_the_console_says_it_in_the_readers_language(tmp_path: Path) -> None:
    for lang, words in (("de", "Datei Diagramm: gespeichert unter"), ("ru", "файл Диаграмма: сохранён как")):
        out = io.StringIO()
        console = ConsoleAdapter(VirtualClock(at(7, 9, month=12)), "anna", lang, out=out, files_dir=tmp_path)
        title = "Diagramm" if lang == "de" else "Диаграмма"
        await console.send(message(Platform.CONSOLE, CHART.model_copy(update={"title": title})))
        assert words in out.getvalue()


async def test_the_transcript_names_the_files_never_their_bytes() -> None:
    out = io.StringIO()
    sim = SimAdapter("slack", VirtualClock(at(7, 9, month=12)), out, {"#support-leads"})
    await sim.send(message(Platform.SIM, CHART, kind="channel"))
    await sim.send(message(Platform.SIM, kind="channel"))
    with_file, without = (json.loads(line) for line in out.getvalue().splitlines())
    assert with_file["files"] == [{"name": "report-2026-11-30-2026-12-06.png", "type": "image/png", "bytes": 48}]
    assert with_file["to"] == "#support-leads" and with_file["kind"] == "report"
    assert "files" not in without  # a line without files has no such key (the contract of docs/scenarios.md)
