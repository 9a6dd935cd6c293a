"""The duty calendar feeds on the ops listener (issue #19): parsed back with icalendar and checked against who();
the token (from the environment only) guards them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar

from bot.core.clock import VirtualClock
from bot.duty.notify import name_of
from bot.duty.store import holder
from bot.infra.ops import OpsServer
from bot.settings import ConfigError, load_settings
from storage.models import DutyOverride
from tests.core.report_week import at

TOKEN = "f3a9c1d2e4b5a6978877665544332211"
DUTY = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "calendar": "office",
             "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"]}},
    "duty": {"window": "mon-fri 16:00-18:00", "roles": ["phone", "standby"], "members": ["anna", "ben"],
             "anchor": "2026-11-23"},
}


async def fetch(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


@pytest.fixture
async def served(make_harness, monkeypatch):
    monkeypatch.setenv("DUTYDESK_REPORTS__CALENDAR_TOKEN", TOKEN)
    desk = await make_harness(clock=VirtualClock(at(2, 9, month=12)), **DUTY)
    server = OpsServer(desk.bot)
    port = await server.start("127.0.0.1", 0)
    yield desk, port
    await server.stop()


async def test_the_role_feed_is_who_holds_the_role(served) -> None:
    desk, port = served
    async with desk.sessions.begin() as session:  # a swap: carla takes Anna's phone duty on Thu 3 Dec
        session.add(DutyOverride(day=date(2026, 12, 3), role="phone", person="carla", replaced="anna",
                                 reason="swap", created_at=desk.clock.now()))
    status, text = await fetch(port, f"/calendar/phone.ics?token={TOKEN}")
    assert status == 200
    calendar = Calendar.from_ical(text)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    events = calendar.walk("VEVENT")
    assert len(events) == 16 * 5  # four weeks back, twelve ahead, Mon-Fri
    checked = 0
    async with desk.sessions.begin() as session:
        for event in events:
            start = event.decoded("DTSTART")
            assert str(event["DTSTART"].params["TZID"]) == "Europe/Berlin" and start.hour == 16
            who = await holder(session, desk.bot.desk, "phone", start + timedelta(minutes=1))
            assert str(event["SUMMARY"]) == f"phone duty: {name_of(desk.bot.desk, who)}", start
            checked += 1
    assert checked == 80
    thursday = [e for e in events if e.decoded("DTSTART").date() == date(2026, 12, 3)]
    assert str(thursday[0]["SUMMARY"]) == "phone duty: Carla"


async def test_a_person_feed_has_their_shifts_of_every_role(served) -> None:
    desk, port = served
    status, text = await fetch(port, f"/calendar/people/ben.ics?token={TOKEN}")
    assert status == 200
    events = Calendar.from_ical(text).walk("VEVENT")
    assert len(events) == 80  # alternate-daily between two: every duty day one of the two roles
    async with desk.sessions.begin() as session:
        for event in events:
            role = str(event["CATEGORIES"].cats[0])
            assert await holder(session, desk.bot.desk, role, event.decoded("DTSTART") + timedelta(minutes=1)) == "ben"


@pytest.mark.parametrize("path", [
    "/calendar/phone.ics", "/calendar/phone.ics?token=", "/calendar/phone.ics?token=wrong",
    f"/calendar/phone.ics?token={TOKEN[:-1]}", f"/calendar/phone.ics?token={TOKEN}0",
    f"/calendar/phone.ics?token={TOKEN.upper()}", "/calendar/people/anna.ics?token=nope",
    "/calendar/nosuchrole.ics?token=nope",
])
async def test_without_the_token_nothing_not_even_which_calendars_exist(served, path: str) -> None:
    _, port = served
    status, text = await fetch(port, path)
    assert status == 403 and "BEGIN:VCALENDAR" not in text


async def test_unknown_roles_and_people_are_404_with_the_token(served) -> None:
    _, port = served
    for path in ("/calendar/nosuchrole.ics", "/calendar/people/zoe.ics"):
        status, _ = await fetch(port, f"{path}?token={TOKEN}")
        assert status == 404, path


async def test_no_token_configured_no_feeds(make_harness, monkeypatch) -> None:
    monkeypatch.delenv("DUTYDESK_REPORTS__CALENDAR_TOKEN", raising=False)
    desk = await make_harness(**DUTY)
    server = OpsServer(desk.bot)
    port = await server.start("127.0.0.1", 0)
    try:
        for path in ("/calendar/phone.ics", "/calendar/phone.ics?token=", "/calendar/phone.ics?token=None"):
            assert (await fetch(port, path))[0] == 404
    finally:
        await server.stop()


def test_the_token_comes_from_the_environment_only_and_is_long(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "dutydesk.toml"
    path.write_text(f'[reports]\ncalendar_token = "{TOKEN}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as found:
        load_settings(path)
    assert any("reports.calendar_token" in p and "environment" in p for p in found.value.problems)
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("DUTYDESK_REPORTS__CALENDAR_TOKEN", "short")
    with pytest.raises(ConfigError) as found:
        load_settings(path)
    assert any("at least 16" in p for p in found.value.problems)
