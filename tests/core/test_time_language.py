"""Times as the reader reads them: a Berlin desk's transcript names its own hours (08:00 where it opens at 08:00),
in each language's form, and never the letters "UTC" (issue #16, "Time and language")."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from bot.simulate import simulate

# No [desk] timezone: the desk takes its calendar's zone.
CONFIG = """
[desk]
name = "Berlin Support"
language = "{lang}"
ticket_prefix = "BE"
calendar = "office"

[calendars.office]
timezone = "Europe/Berlin"
hours = ["mon-fri 08:00-16:00"]
holidays = "DE-BE"

[people.jonas]
name = "Jonas"
roles = ["agent", "lead", "coordinator"]

[people.lea]
name = "Lea"

[channels]
duty = ["#support-duty"]

[duty]
calendar = "office"
window = "mon-fri 16:00-18:00"
roles = ["phone", "standby"]
rotation = "alternate-daily"
members = ["jonas", "lea"]
anchor = 2026-11-23
coordinator = "jonas"
"""

STEPS = [
    # Tuesday 19:00 in Berlin (18:00 UTC): the office and the duty are closed
    {"at": "2026-11-24T19:00:00+01:00", "user": "kim", "channel": "#general", "text": "/ticket the shop is down"},
    {"user": "jonas", "channel": "#support-duty", "text": "/ticket show BE-1"},
    {"user": "jonas", "channel": "#support-duty", "text": "/duty"},
    {"user": "jonas", "channel": "#support-duty", "text": "/queue"},
    {"user": "kim", "channel": "#general", "text": "/ticket list"},
    # the next day's handover at 16:00 Berlin
    {"until": "2026-11-25T16:45:00+01:00"},
]


async def transcript(tmp_path: Path, lang: str) -> list[dict]:
    (tmp_path / "desk.toml").write_text(CONFIG.format(lang=lang), encoding="utf-8")
    scenario = {"config": "desk.toml", "platform": "slack", "start": "2026-11-24T18:55:00+01:00", "steps": STEPS}
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    out = io.StringIO()
    await simulate(tmp_path / "scenario.yaml", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


OPENS = {"de": "Mi., 25. Nov., 08:00", "en": "Wed 25 Nov, 08:00", "ru": "ср, 25 нояб., 08:00"}
DUTY_STARTS = {"de": "Mi., 25. Nov., 16:00", "en": "Wed 25 Nov, 16:00", "ru": "ср, 25 нояб., 16:00"}
OPENED = {"de": "Di., 24. Nov., 19:00", "en": "Tue 24 Nov, 19:00", "ru": "вт, 24 нояб., 19:00"}


@pytest.mark.parametrize("lang", ["de", "en", "ru"])
async def test_berlin_desk_names_its_own_hours(tmp_path: Path, lang: str) -> None:
    lines = await transcript(tmp_path, lang)
    texts = [line["text"] for line in lines]
    assert texts, "the scenario produced no transcript"
    assert not [text for text in texts if "UTC" in text], "a time shown with UTC"
    auto = [line["text"] for line in lines if line["kind"] == "auto_answer"]
    assert auto and OPENS[lang] in auto[0], auto          # the office opens at 08:00 Berlin, not 07:00 UTC
    handover = [line["text"] for line in lines if line["kind"] == "handover"]
    assert handover and DUTY_STARTS[lang] in handover[0], handover
    shown = next(text for text in texts if text.startswith("BE-1:"))
    assert OPENED[lang] in shown                               # the history in Berlin time, as the reader writes it
    assert "18:00" not in shown.split("\n", 2)[1]              # not the UTC hour of the request
    week = next(text for text in texts if "\n" + OPENS[lang].split(",")[0] in text)   # /duty: the week
    assert "CET" not in week and "MEZ" not in week


@pytest.mark.parametrize("lang", ["de", "en", "ru"])
async def test_ages_are_words_of_the_language(tmp_path: Path, lang: str) -> None:
    lines = await transcript(tmp_path, lang)
    shown = next(line["text"] for line in lines if line["text"].startswith("BE-1:"))
    assert {"de": "vor 1 Minute", "en": "1 minute ago", "ru": "1 минуту назад"}[lang] in shown
