"""Dates far off in chat commands (issue #15): an absence to 9999-12-31, a deferral until then, a rota day in
year 9999 — each is refused with what is allowed, never "something went wrong"; through the simulator on the
example desks."""

from __future__ import annotations

from workflow_sim import run

from bot.i18n import t
from storage.models import DutyAbsence, ProcessedEvent


async def test_an_absence_or_a_rota_day_far_off_is_refused_with_the_limit(tmp_path) -> None:
    steps = [{"at": "2026-11-24T15:00:00+01:00", "user": "lea", "dm": True, "text": "/duty away 2026-11-25 9999-12-31"},
             {"after": "1m", "user": "lea", "dm": True, "text": "/duty away 2031-01-05 2031-01-09"},
             {"after": "1m", "user": "lea", "dm": True, "text": "/duty swap 9999-12-31 @jonas"},
             {"after": "1m", "user": "lea", "dm": True, "text": "/duty away 2026-12-21 2026-12-23"}]
    result = await run(tmp_path, "agency", steps, start="2026-11-24T14:50:00+01:00")
    assert result.errors()[:3] == [
        t("en", "duty.bad_date", text="9999-12-31"),
        t("en", "duty.away_too_far", first="Sun, 5 Jan 2031", latest="Fri, 24 Nov 2028"),
        t("en", "duty.bad_date", text="9999-12-31"),
    ]
    assert [(a.first_day.isoformat(), a.last_day.isoformat()) for a in await result.rows(DutyAbsence)] == [
        ("2026-12-21", "2026-12-23")]   # the reasonable one is noted
    assert await result.rows(ProcessedEvent, ProcessedEvent.status == "failed") == []


async def test_a_long_absence_is_noted_in_parts(tmp_path) -> None:
    steps = [{"at": "2026-11-24T15:00:00+01:00", "user": "lea", "dm": True, "text": "/duty away 2026-11-25 2028-11-24"}]
    result = await run(tmp_path, "agency", steps, start="2026-11-24T14:50:00+01:00")
    assert result.errors() == [t("en", "duty.away_too_long", count=366)]


async def test_a_deferral_until_year_9999_is_refused(tmp_path) -> None:
    steps = [{"at": "2026-11-24T10:07:00+03:00", "user": "svetlana", "channel": "#organizers",
              "text": "!ticket Регистрация участников не сохраняется"},
             {"after": "1m", "user": "irina", "channel": "#techsupport-team",
              "text": "!ticket defer ZOO-1 3 9999-12-31 Нужен выпуск обновления."},
             {"after": "1m", "user": "irina", "channel": "#techsupport-team",
              "text": "!ticket defer ZOO-1 3 +999d Нужен выпуск обновления."}]
    result = await run(tmp_path, "portal", steps, start="2026-11-24T09:50:00+03:00", platform="matrix")
    latest = "пт, 24 нояб. 2028\u202fг."  # the year is named: the dates lie years ahead (CLDR's narrow space)
    far = [text for text in result.texts(to="@irina") if latest in text]
    assert far == [t("ru", "defer.date_far", date="пт, 31 дек. 9999\u202fг.", latest=latest),
                   t("ru", "defer.date_far", date="вс, 19 авг. 2029\u202fг.", latest=latest)]
    assert (await result.ticket("ZOO-1")).state != "deferred"
