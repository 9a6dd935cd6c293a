"""Times, dates and durations in the reader's language (Babel/CLDR), and the zone a desk shows them in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.i18n.format import ago, clock, day, duration, hours, instant, zone_name
from bot.settings import settings_from_data

BERLIN_8 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 08:00 in Berlin


@pytest.mark.parametrize(("lang", "shown"), [
    ("de", "Do., 26. Nov., 08:00"), ("en", "Thu 26 Nov, 08:00"), ("ru", "чт, 26 нояб., 08:00"),
])
def test_an_instant_in_the_readers_zone_and_form(lang: str, shown: str) -> None:
    assert instant(lang, BERLIN_8, "Europe/Berlin") == shown
    assert "UTC" not in instant(lang, BERLIN_8, "UTC")
    assert clock(lang, BERLIN_8, "Europe/Moscow") == "10:00"


def test_a_date_far_from_now_names_its_year() -> None:
    assert day("en", date(2026, 11, 26), now=date(2026, 11, 24)) == "Thu 26 Nov"
    assert day("en", date(2028, 11, 24), now=date(2026, 11, 24)) == "Fri, 24 Nov 2028"
    assert day("de", date(2028, 11, 24), now=date(2026, 11, 24)) == "Fr., 24. Nov. 2028"


@pytest.mark.parametrize(("lang", "delta", "shown"), [
    ("en", timedelta(minutes=1), "1 minute"), ("en", timedelta(days=2, hours=4, minutes=5), "2 days, 4 hours"),
    ("de", timedelta(hours=1, minutes=30), "1 Stunde, 30 Minuten"), ("de", timedelta(days=1), "1 Tag"),
    ("ru", timedelta(days=21, hours=2), "21 день 2 часа"), ("ru", timedelta(minutes=5), "5 минут"),
    ("ru", timedelta(days=9, hours=23), "9 дней 23 часа"), ("en", timedelta(0), "0 minutes"),
])
def test_durations_are_written_out_with_the_languages_plurals(lang: str, delta: timedelta, shown: str) -> None:
    assert duration(lang, delta) == shown


@pytest.mark.parametrize(("lang", "shown"), [("de", "vor 3 Stunden"), ("en", "3 hours ago"), ("ru", "3 часа назад")])
def test_ages_are_relative_times(lang: str, shown: str) -> None:
    assert ago(lang, timedelta(hours=3, minutes=10)) == shown


def test_time_ranges_and_zone_names() -> None:
    start = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert hours("en", start, start + timedelta(hours=2), "Europe/Berlin") == "16:00–18:00"
    assert hours("de", start, start + timedelta(hours=8), "Europe/Berlin") == "16:00–24:00"
    assert zone_name("de", "Europe/Berlin") == "Mitteleuropäische Zeit"
    assert "UTC" not in zone_name("en", "UTC")


CALENDAR = {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-16:00"]}


def test_the_desk_shows_its_calendars_zone_unless_told_otherwise() -> None:
    assert settings_from_data({"desk": {"calendar": "office"}, "calendars": {"office": CALENDAR}},
                              "t").desk.timezone == "Europe/Berlin"
    assert settings_from_data({"calendars": {"office": CALENDAR}}, "t").desk.timezone == "Europe/Berlin"
    told = {"desk": {"calendar": "office", "timezone": "Europe/Moscow"}, "calendars": {"office": CALENDAR}}
    assert settings_from_data(told, "t").desk.timezone == "Europe/Moscow"
    assert settings_from_data({}, "t").desk.timezone == "UTC"


def test_check_config_warns_when_a_desk_falls_back_to_utc(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('[desk]\nname = "x"\n', encoding="utf-8")
    assert main(["check-config", "--config", str(bare)]) == 0
    assert "[desk] timezone" in capsys.readouterr().err
    berlin = tmp_path / "berlin.toml"
    berlin.write_text('[desk]\ncalendar = "office"\n[calendars.office]\ntimezone = "Europe/Berlin"\n'
                      'hours = ["mon-fri 08:00-16:00"]\n', encoding="utf-8")
    assert main(["check-config", "--config", str(berlin)]) == 0
    assert "warning" not in capsys.readouterr().err
