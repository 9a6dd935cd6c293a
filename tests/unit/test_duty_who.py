"""who(role, instant): overrides, plan, versioned rotation, absences and holidays (pure, no database).

The desk is the agency example (handbook 001/002): phone duty and emergency standby, 16:00-18:00
Mon-Fri in Berlin with DE-BE holidays, alternating daily between Jonas and Lea from Monday 2026-11-23.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import BusinessCalendar, CalendarConfig
from bot.duty.model import ALWAYS, Absence, DutyFacts, Override, RotaHistory, RotaVersion
from bot.duty.resolve import assignment_on, assignments_on, who
from bot.duty.window import DutyWindow
from bot.settings import DutyConfig

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ANCHOR = date(2026, 11, 23)
OFFICE = CalendarConfig(timezone="Europe/Berlin", hours=["mon-fri 08:00-18:00"], holidays="DE-BE",
                        closed=[date(2026, 12, 24), date(2026, 12, 31)])
WINDOW = DutyWindow(DutyConfig(window="mon-fri 16:00-18:00", members=["jonas", "lea"], anchor=ANCHOR),
                    BusinessCalendar.from_config("office", OFFICE))
ROTA = RotaVersion(valid_from=ALWAYS, members=("jonas", "lea"), roles=("phone", "standby"), anchor=ANCHOR)


def at(day: date, hour: int = 16, minute: int = 30, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def ask(role: str, instant: datetime, **kwargs) -> str | None:
    kwargs.setdefault("rota", ROTA)
    kwargs.setdefault("coordinator", "sarah")
    return who(role, instant, window=WINDOW, **kwargs)


def week(monday: date, **kwargs) -> list[tuple[str | None, str | None]]:
    return [(ask("phone", at(monday + timedelta(days=i)), **kwargs),
             ask("standby", at(monday + timedelta(days=i)), **kwargs)) for i in range(7)]


J, L = "jonas", "lea"


def test_a_full_agency_week() -> None:
    assert week(date(2026, 11, 23)) == [(J, L), (L, J), (J, L), (L, J), (J, L), (None, None), (None, None)]
    # the next week carries on from Friday: Monday is the 5th duty day after the anchor
    assert week(date(2026, 11, 30))[:5] == [(L, J), (J, L), (L, J), (J, L), (L, J)]


def test_only_inside_the_window() -> None:
    day = date(2026, 11, 24)
    assert ask("phone", at(day, 15, 59)) is None
    assert ask("phone", at(day, 16, 0)) == L
    assert ask("phone", at(day, 17, 59)) == L
    assert ask("phone", at(day, 18, 0)) is None
    assert ask("mailbox", at(day)) is None  # not a role of this rota


@pytest.mark.parametrize("monday", [date(2026, 3, 23), date(2026, 3, 30), date(2026, 10, 19), date(2026, 10, 26)])
def test_dst_weeks_alternate_without_a_hiccup(monday: date) -> None:
    """The weeks around 2026-03-29 and 2026-10-25: 16:30 local is on duty, the alternation goes on."""
    # (2026-04-03 in the week after the spring change is Good Friday: no duty, skipped)
    holders = [ask("phone", at(day)) for day in WINDOW.duty_days(monday, monday + timedelta(days=4))]
    assert len(holders) == (4 if monday == date(2026, 3, 30) else 5)
    assert all(holders) and all(a != b for a, b in pairwise(holders))
    friday_before = ask("phone", at(monday - timedelta(days=3)))
    assert friday_before is not None and friday_before != holders[0]
    # 15:30 local is outside, whatever the UTC offset of the week
    assert ask("phone", at(monday, 15, 30)) is None


def test_dst_instants_in_utc() -> None:
    utc = ZoneInfo("UTC")
    assert ask("phone", datetime(2026, 10, 23, 14, 30, tzinfo=utc)) is not None  # 16:30 CEST
    assert ask("phone", datetime(2026, 10, 26, 14, 30, tzinfo=utc)) is None  # 15:30 CET
    assert ask("phone", datetime(2026, 10, 26, 15, 30, tzinfo=utc)) is not None  # 16:30 CET


def test_public_holidays_and_closed_dates_have_no_duty_and_do_not_count() -> None:
    assert ask("phone", at(date(2026, 12, 23))) == J  # k = 22
    assert ask("phone", at(date(2026, 12, 24))) is None  # closed
    assert ask("phone", at(date(2026, 12, 25))) is None  # Christmas, DE-BE
    assert ask("phone", at(date(2026, 12, 28))) == L  # k = 23: the holidays are skipped
    assert ask("phone", at(date(2026, 4, 3))) is None  # Good Friday
    assert ask("phone", at(date(2026, 4, 2))) != ask("phone", at(date(2026, 4, 7)))  # Thu → Tue after Easter


def test_a_person_in_another_time_zone_asks_in_their_own_time() -> None:
    # 10:30 in New York is 16:30 in Berlin (EST, UTC-5)
    assert ask("phone", at(date(2026, 11, 24), 10, 30, NEW_YORK)) == L
    assert ask("phone", at(date(2026, 11, 24), 9, 30, NEW_YORK)) is None
    # between the US (2026-03-08) and the EU (2026-03-29) clock changes the gap is 5 hours
    assert ask("phone", at(date(2026, 3, 16), 11, 30, NEW_YORK)) is not None
    assert ask("phone", at(date(2026, 3, 16), 10, 30, NEW_YORK)) is None


def test_swap_override_is_scoped_to_one_role_and_one_date() -> None:
    wed = date(2026, 11, 25)
    swap = Override(day=wed, role="phone", person="mira", reason="swap", replaced=J, seq=1)
    assert ask("phone", at(wed), overrides=[swap]) == "mira"
    assert ask("standby", at(wed), overrides=[swap]) == L
    assert ask("phone", at(wed + timedelta(days=2)), overrides=[swap]) == J
    # the newest override of a (date, role) wins
    later = Override(day=wed, role="phone", person="paul", seq=2)
    assert ask("phone", at(wed), overrides=[later, swap]) == "paul"


def test_plan_beats_rotation_and_override_beats_plan() -> None:
    thu = date(2026, 11, 26)
    plans = {(thu, "phone"): J, (thu, "standby"): L}
    assert ask("phone", at(thu)) == L
    assert ask("phone", at(thu), plans=plans) == J
    assert ask("phone", at(thu), plans=plans, overrides=[Override(thu, "phone", "mira")]) == "mira"


def test_vacation_with_substitute() -> None:
    away = Absence("lea", date(2026, 11, 30), date(2026, 12, 4), "vacation", substitute="mira")
    assert week(date(2026, 11, 30), absences=[away])[:5] == [
        ("mira", J), (J, "mira"), ("mira", J), (J, "mira"), ("mira", J)]
    assignment = assignment_on("phone", date(2026, 11, 30), DutyFacts.build(ROTA, absences=[away]), WINDOW)
    assert (assignment.person, assignment.source, assignment.planned, assignment.covered_for) == (
        "mira", "substitute", L, L)


@pytest.mark.parametrize(("fallback", "expected"), [("team", J), ("coordinator", "sarah"), ("none", None)])
def test_vacation_without_substitute_uses_the_fallback(fallback: str, expected: str | None) -> None:
    away = Absence("lea", date(2026, 11, 30), date(2026, 12, 4))
    assert ask("phone", at(date(2026, 11, 30)), absences=[away], fallback=fallback) == expected
    assert ask("standby", at(date(2026, 11, 30)), absences=[away], fallback=fallback) == J


def test_team_fallback_prefers_a_free_member_then_the_coordinator() -> None:
    three = RotaVersion(ALWAYS, ("jonas", "lea", "mira"), ("phone", "standby"), anchor=ANCHOR)
    mon = date(2026, 11, 23)  # k = 0: phone jonas, standby lea, mira free
    sick = Absence("jonas", mon, mon, "sick")
    assert ask("phone", at(mon), rota=three, absences=[sick]) == "mira"
    both = [sick, Absence("lea", mon, mon, "sick"), Absence("mira", mon, mon)]
    assert ask("phone", at(mon), rota=three, absences=both) == "sarah"
    assert ask("phone", at(mon), rota=three, absences=[*both, Absence("sarah", mon, mon)]) is None


def test_substitute_who_is_away_too_falls_back() -> None:
    mon = date(2026, 11, 30)
    absences = [Absence("lea", mon, mon, substitute="mira"), Absence("mira", mon, mon, "sick")]
    assert ask("phone", at(mon), absences=absences) == J


def test_sickness_today_only() -> None:
    tue = date(2026, 11, 24)
    sick = Absence("jonas", tue, tue, "sick")
    assert ask("standby", at(tue), absences=[sick]) == L  # Lea holds both today
    assert ask("phone", at(tue), absences=[sick]) == L
    assert ask("phone", at(tue + timedelta(days=1)), absences=[sick]) == J
    # someone covers: an override, and the sick person is no longer in the way
    cover = Override(tue, "standby", "mira", reason="cover", replaced=J)
    assert ask("standby", at(tue), absences=[sick], overrides=[cover]) == "mira"


def test_rota_edits_never_change_earlier_answers() -> None:
    edit = RotaVersion(valid_from=date(2026, 12, 1), members=("lea", "mira"), roles=("phone", "standby"),
                       anchor=ANCHOR)
    history = RotaHistory((ROTA,)).edited(edit)
    days = WINDOW.duty_days(date(2026, 11, 2), date(2026, 12, 18))
    for day in days:
        before = ask("phone", at(day), rota=ROTA)
        after = ask("phone", at(day), rota=history)
        if day < edit.valid_from:
            assert after == before, day
        else:
            k = WINDOW.duty_day_index(day)
            assert after == ("lea", "mira")[k % 2], day
    # the first version also answers for dates before it was written
    assert RotaHistory((edit,)).at(date(2020, 1, 1)) == edit
    # two edits on one date: the later one wins
    again = RotaVersion(valid_from=date(2026, 12, 1), members=("paul",), roles=("phone",), anchor=ANCHOR)
    assert history.edited(again).at(date(2026, 12, 2)) == again


def test_weekly_rotation() -> None:
    weekly = RotaVersion(ALWAYS, ("jonas", "lea"), ("phone", "standby"), rotation="weekly", anchor=ANCHOR)
    assert week(date(2026, 11, 23), rota=weekly)[:5] == [(J, L)] * 5
    assert week(date(2026, 11, 30), rota=weekly)[:5] == [(L, J)] * 5
    assert week(date(2026, 11, 16), rota=weekly)[:5] == [(L, J)] * 5  # the week before the anchor's


def test_three_members_follow_the_design_rule() -> None:
    three = RotaVersion(ALWAYS, ("a", "b", "c"), ("phone", "standby"), anchor=ANCHOR)
    facts = DutyFacts.build(three)
    for day in WINDOW.duty_days(date(2026, 11, 16), date(2026, 12, 11)):
        k = WINDOW.duty_day_index(day)
        got = {role: a.person for role, a in assignments_on(day, facts, WINDOW).items()}
        assert got == {"phone": three.members[k % 3], "standby": three.members[(1 + k) % 3]}


def test_no_duty_on_a_non_duty_day_even_with_an_override() -> None:
    sat = date(2026, 11, 28)
    assert ask("phone", at(sat), overrides=[Override(sat, "phone", "mira")]) is None
