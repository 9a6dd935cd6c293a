"""``dutydesk export-ical`` and ``dutydesk duty ledger`` on a real SQLite database."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.cli import main
from bot.core.clock import VirtualClock
from bot.core.desk import Desk
from bot.core.registry import Registry
from bot.duty.ical import rota_calendar
from bot.duty.ledger import record_shift
from bot.settings import load_settings
from storage import migrate
from storage.db import make_engine, make_sessionmaker
from storage.models import DutyOverride

LONG_NAME = "HalloWelt Support – Nachmittagssupport außerhalb der Kernzeiten, Telefondienst und Bereitschaft"
CONFIG = f"""
[desk]
name = "{LONG_NAME}"
ticket_prefix = "HW"
calendar = "office"
timezone = "Europe/Berlin"

[calendars.office]
timezone = "Europe/Berlin"
hours = ["mon-fri 08:00-18:00"]
holidays = "DE-BE"

[people.jonas]
name = "Jonas"
[people.lea]
name = "Lea"
[people.mira]
name = "Mira"

[duty]
window = "mon-fri 16:00-18:00"
roles = ["phone", "standby"]
members = ["jonas", "lea"]
anchor = 2026-11-23
"""


async def _seed(config: Path, url: str) -> None:
    engine = make_engine(url)
    await migrate.upgrade(engine)
    settings = load_settings(config)
    desk = Desk(settings=settings, clock=VirtualClock(datetime(2026, 10, 20, 12, tzinfo=UTC)),
                sessions=make_sessionmaker(engine), registry=Registry())
    try:
        async with desk.sessions.begin() as session:
            for day in (date(2026, 10, 19), date(2026, 10, 20)):
                for role in ("phone", "standby"):
                    await record_shift(session, desk, day, role)
            session.add(DutyOverride(day=date(2026, 10, 28), role="phone", person="mira", replaced="jonas",
                                     reason="swap", created_at=desk.clock.now()))
    finally:
        await engine.dispose()


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, str]:
    config = tmp_path / "dutydesk.toml"
    config.write_text(CONFIG, encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'duty.db'}"
    asyncio.run(_seed(config, url))
    return str(config), url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def events(text: str) -> list[dict[str, str]]:
    """The events' properties as text, the start instants in UTC (as the export wrote them before it had zones)."""
    found = []
    for event in Calendar.from_ical(text).walk("VEVENT"):
        props = {key: str(value) for key, value in event.property_items(recursive=False, sorted=False)}
        props["DTSTART"] = f"{event.decoded('DTSTART').astimezone(UTC):%Y%m%dT%H%M%SZ}"
        found.append(props)
    return found


def test_export_ical_over_the_autumn_clock_change(seeded, capsys) -> None:
    config, url = seeded
    code, out, err = run(capsys, "export-ical", "--role", "phone", "--config", config, "--db", url,
                         "--start", "2026-10-19", "--weeks", "2")
    assert code == 0, err
    assert out.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and out.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in out.split("\r\n"))
    # folded, whole again when unfolded, the comma escaped
    assert f"X-WR-CALNAME:{LONG_NAME.replace(',', chr(92) + ',')}: phone duty" in unfold(out)
    found = events(out)
    assert len(found) == 10
    starts = [e["DTSTART"] for e in found]
    assert starts[:5] == [f"202610{d}T140000Z" for d in (19, 20, 21, 22, 23)]  # 16:00 CEST
    assert starts[5:] == [f"202610{d}T150000Z" for d in (26, 27, 28, 29, 30)]  # 16:00 CET
    summaries = [e["SUMMARY"] for e in found]
    # k(2026-10-19) = -25: Lea has the phone; then daily alternation, and the swap on the 28th
    assert summaries == [f"phone duty: {name}" for name in
                         ("Lea", "Jonas", "Lea", "Jonas", "Lea", "Jonas", "Lea", "Mira", "Lea", "Jonas")]
    assert "served (rotation)" in found[0]["DESCRIPTION"]
    assert "for Jonas (swap)" in found[7]["DESCRIPTION"]
    assert len({e["UID"] for e in found}) == 10
    # wall times of the duty calendar's zone, with its VTIMEZONE (both sides of the change), not UTC only
    lines = unfold(out)
    assert "DTSTART;TZID=Europe/Berlin:20261019T160000" in lines
    assert "DTSTART;TZID=Europe/Berlin:20261026T160000" in lines
    (zone,) = Calendar.from_ical(out).walk("VTIMEZONE")
    assert zone["TZID"] == "Europe/Berlin"
    assert {part.name for part in zone.subcomponents} == {"STANDARD", "DAYLIGHT"}


async def _person_calendar(config: str, url: str, lang: str) -> Calendar:
    engine = make_engine(url)
    desk = Desk(settings=load_settings(config), clock=VirtualClock(datetime(2026, 10, 20, 12, tzinfo=UTC)),
                sessions=make_sessionmaker(engine), registry=Registry())
    try:
        return await rota_calendar(desk, date(2026, 10, 26), date(2026, 10, 30), person="mira", lang=lang)
    finally:
        await engine.dispose()


def test_a_persons_calendar_has_their_shifts_of_every_role_in_the_readers_language(seeded) -> None:
    """The builder a subscribable feed uses: Mira has only the swapped phone duty on the 28th."""
    calendar = asyncio.run(_person_calendar(*seeded, lang="de"))
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == datetime(2026, 10, 28, 16, tzinfo=ZoneInfo("Europe/Berlin"))
    assert str(event["SUMMARY"]) == "Telefondienst: Mira"
    assert str(event["DESCRIPTION"]).startswith("Telefondienst: Mira — für Jonas (Tausch)\n")
    assert str(calendar["X-WR-CALNAME"]).endswith(": Mira")
    assert [zone["TZID"] for zone in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_export_ical_bad_input_is_one_line_and_exit_2(seeded, capsys, tmp_path) -> None:
    config, url = seeded
    for argv, needle in [
        (("--role", "cook"), 'unknown role "cook" (roles: phone, standby)'),
        (("--role", "phone", "--weeks", "0"), "--weeks"),
        (("--role", "phone", "--weeks", "many"), "--weeks"),
        (("--role", "phone", "--start", "next monday"), "--start"),
    ]:
        code, out, err = run(capsys, "export-ical", *argv, "--config", config, "--db", url)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and needle in err, (argv, err)
    bare = tmp_path / "bare.toml"
    bare.write_text('[desk]\nname = "x"\n', encoding="utf-8")
    code, _, err = run(capsys, "export-ical", "--role", "phone", "--config", str(bare), "--db", url)
    assert code == 2 and "no [duty] section" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "export-ical", "--config", config)
    assert code == 2 and "--role" in err and len(err.strip().splitlines()) == 1


def test_ledger_csv(seeded, capsys) -> None:
    config, url = seeded
    code, out, err = run(capsys, "duty", "ledger", "--month", "2026-10", "--config", config, "--db", url)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["date"], r["role"], r["person"], r["name"]) for r in rows] == [
        ("2026-10-19", "phone", "lea", "Lea"), ("2026-10-19", "standby", "jonas", "Jonas"),
        ("2026-10-20", "phone", "jonas", "Jonas"), ("2026-10-20", "standby", "lea", "Lea"),
    ]
    assert rows[0]["start"] == "2026-10-19T16:00:00+02:00" and rows[0]["end"] == "2026-10-19T18:00:00+02:00"
    assert {r["minutes"] for r in rows} == {"120"} and {r["source"] for r in rows} == {"rotation"}
    code, out, _ = run(capsys, "duty", "ledger", "--month", "2026-10", "--person", "lea", "--config", config,
                       "--db", url)
    assert code == 0 and [r["date"] for r in csv.DictReader(io.StringIO(out))] == ["2026-10-19", "2026-10-20"]
    code, out, _ = run(capsys, "duty", "ledger", "--month", "2026-11", "--config", config, "--db", url)
    assert code == 0 and out == "date,role,person,name,start,end,minutes,source\n"


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "november", "2026-00"])
def test_ledger_bad_month(seeded, capsys, month: str) -> None:
    config, url = seeded
    code, out, err = run(capsys, "duty", "ledger", "--month", month, "--config", config, "--db", url)
    assert code == 2 and out == "" and "--month" in err and len(err.strip().splitlines()) == 1
