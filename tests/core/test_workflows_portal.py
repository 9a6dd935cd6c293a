"""The portal's process (handbook 003) on its example config, on Matrix, through the simulator: the
category gives priority and SLA target, the required information is asked in the ticket's room,
standard answers are FAQ links, deferral takes a reason of 2.7 and a review date (with a reminder),
duplicates are merged with both users told, and every change of state reaches the user."""

from __future__ import annotations

import re

from workflow_sim import run

from bot.i18n import t
from storage.models import Timer

ORG = "portal"
START = "2026-11-24T09:50:00+03:00"
TEAM = "#techsupport-team"


def ru(name: str, /, **values: object) -> str:
    return t("ru", name, **{"prefix": "!", **values})


def staff(user: str, text: str, after: str = "1m") -> dict:
    return {"after": after, "user": user, "channel": TEAM, "text": text}


def organiser(user: str = "svetlana", key: str = "ZOO-1", at: str | None = None) -> list[dict]:
    first: dict = {"user": user, "channel": "#organizers",
                   "text": "!ticket Регистрация участников не сохраняется, ошибка 500"}
    first.update({"at": at} if at else {"after": "1m"})
    return [first,
            {"after": "1m", "user": user, "ticket": key, "text": "Вкладка «Участники» → «Сохранить»"},
            {"after": "1m", "user": user, "ticket": key, "text": "48213"}]


async def test_from_intake_to_close(tmp_path) -> None:
    steps = [
        *organiser(at="2026-11-24T10:07:00+03:00"),
        {"after": "1m", "user": "nikolai", "dm": True, "text": "Прошу объединить две карточки моей собаки"},
        {"after": "1m", "user": "nikolai", "ticket": "ZOO-2", "text": "120045 и 120046"},
        staff("irina", "!ticket reply ZOO-1 Исправляем."),
        staff("irina", "!ticket sla ZOO-1"),
        staff("pavel", "!ticket sla ZOO-2"),
        staff("irina", "!ticket solve ZOO-1 Настройка формы исправлена."),
        {"after": "5m", "user": "svetlana", "action": "satisfied", "ticket": "ZOO-1"},
    ]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    assert result.errors() == []
    # the category "organizers" (from the room) gives priority 1, its 2-hour target, and Irina
    ticket = await result.ticket("ZOO-1")
    assert (ticket.topic, ticket.priority, ticket.data["priority_source"]) == ("organizers", 1, "category")
    assert result.has(ru("routing.assigned_to_you", key="ZOO-1", priority=1, topic="organizers",
                         title=ticket.title, substitute=""), to="@irina")
    assert result.has("response-P1", to="@irina")
    # the merge request: category "merge", priority 3, resolution target of 30 working days, Pavel
    merge = await result.ticket("ZOO-2")
    assert (merge.topic, merge.priority, merge.data["targets"]) == ("merge", 3, {"resolve": "merge"})
    assert merge.data["doc"] == {"object_id": "120045 и 120046"}
    sla = [text for text in result.texts(to="@pavel") if text.startswith(ru("sla.head", key="ZOO-2", priority=3))]
    # 30 working days of 8 hours from 10:10 on 24 Nov (`dutydesk sla deadline … --target merge` agrees)
    assert sla and "(merge)" in sla[0] and "чт, 14 янв., 10:10" in sla[0]
    # the required information (2.2) was asked in the room, one question at a time
    room = {"to": "ticket:ZOO-1"}
    assert result.has(ru("intake.needed", key="ZOO-1", fields="шаги для воспроизведения, номер (ID) объекта",
                         prefix="!", example="steps"), **room)
    assert ru("intake.ask.object_id") in result.texts(**room)
    # closing: the solution with the question (Matrix: numbered choices for the buttons, and the commands), then thanks
    (question,) = result.about(kind="feedback", **room)
    assert question["buttons"] == ["satisfied", "notfixed"] and "!ticket satisfied ZOO-1" in question["text"]
    assert result.has(ru("closing.thanks", key="ZOO-1"), **room)
    assert (await result.ticket("ZOO-1")).state == "closed"


async def test_a_standard_answer_is_a_link_to_the_faq(tmp_path) -> None:
    steps = [*organiser(at="2026-11-24T10:07:00+03:00"),
             staff("irina", "!ticket answer ZOO-1 faq:registration Посмотрите, пожалуйста, инструкцию."),
             staff("irina", "!ticket answer ZOO-1 faq:nothing"),
             {"after": "1m", "user": "anna", "dm": True, "text": "!kb регистрация"},
             {"after": "1m", "user": "anna", "dm": True, "text": "!kb паспорт"}]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    answer = ru("faq.answer", title="Регистрация участников на мероприятие",
                url="https://zooportal.example/help/registration")
    assert result.has(f"Ирина: Посмотрите, пожалуйста, инструкцию.\n{answer}", to="ticket:ZOO-1")
    assert result.errors() == [ru("faq.unknown", ref="faq:nothing", keys="faq:photos, faq:registration, "
                                                                         "faq:screenshots")]
    # a user searching finds the FAQ article (never the team's solutions), or is told to open a ticket
    assert result.has(ru("kb.faq_line", key="registration", title="Регистрация участников на мероприятие",
                         url="https://zooportal.example/help/registration"), to="@anna")
    assert result.has(ru("kb.nothing_faq", query="паспорт", prefix="!"), to="@anna")
    # the link is the agent's first answer: the first-response clock is met
    assert (await result.ticket("ZOO-1")).data["sla"]["response"]["state"] == "met"


async def test_deferral_with_a_reason_of_the_handbook_and_a_review_reminder(tmp_path) -> None:
    steps = [*organiser(at="2026-11-24T10:07:00+03:00"),
             staff("irina", "!ticket defer ZOO-1 3 2026-11-30 Нужен выпуск обновления."),
             {"until": "2026-11-30T11:00:00+03:00"}]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    label = "Нужна диагностика, доработка или выпуск обновления"
    assert result.has(ru("defer.requester", key="ZOO-1", reason=label, date="пн, 30 нояб.",
                         note="Нужен выпуск обновления."), to="ticket:ZOO-1")
    assert result.has(ru("defer.done", key="ZOO-1", reason=label, review="пн, 30 нояб., 10:00"), to="@irina")
    (reminder,) = result.about(kind="reminder")
    assert (reminder["to"], reminder["at"]) == ("@irina", "2026-11-30T07:00:00Z")
    ticket = await result.ticket("ZOO-1")
    assert ticket.state == "deferred" and ticket.data["deferral"]["reason"] == "needs_release"
    assert ticket.data["sla"]["response"]["state"] == "met"  # telling the user is the first answer


async def test_deferral_refusals(tmp_path) -> None:
    steps = [*organiser(at="2026-11-24T10:07:00+03:00"),
             staff("irina", "!ticket defer ZOO-1 laziness 2026-11-30"),
             staff("irina", "!ticket defer ZOO-1 no_info 2026-11-24"),
             staff("irina", "!ticket defer ZOO-1 no_info tomorrowish"),
             {"after": "1m", "user": "svetlana", "dm": True, "text": "!ticket defer ZOO-1 no_info 2026-11-30"}]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    errors = result.errors()
    assert errors[0].startswith(ru("defer.unknown_reason", reason="laziness", reasons="\0").split("\0")[0])
    assert "1. no_repro — Проблему невозможно повторить" in errors[0]
    assert "7. unconstructive — " in errors[0]
    assert errors[1:] == [ru("defer.date_past", date="вт, 24 нояб.", today="вт, 24 нояб."),
                          ru("defer.bad_date", text="tomorrowish"), ru("access.staff_only")]
    assert (await result.ticket("ZOO-1")).state != "deferred"


async def test_duplicates_are_merged_and_both_users_told(tmp_path) -> None:
    steps = [*organiser(at="2026-11-24T10:07:00+03:00"), *organiser("marina", "ZOO-2"),
             staff("irina", "!ticket merge ZOO-1 ZOO-2"),
             staff("irina", "!ticket merge ZOO-1 ZOO-1"),
             staff("irina", "!ticket merge ZOO-2 ZOO-1"),
             staff("irina", "!ticket merge ZOO-1 ZOO-2"),
             {"after": "1m", "user": "marina", "dm": True, "text": "!ticket show ZOO-1"},
             staff("irina", "!ticket solve ZOO-1 Исправлено."),
             {"after": "1m", "user": "marina", "dm": True, "text": "!ticket satisfied ZOO-1"}]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    assert result.has(ru("merge.duplicate_requester", key="ZOO-2", into="ZOO-1"), to="ticket:ZOO-2")
    assert result.has(ru("merge.keep_requester", key="ZOO-1", duplicate="ZOO-2"), to="ticket:ZOO-1")
    assert not result.has("marina", to="ticket:ZOO-1")  # no names of the other user
    assert result.errors() == [ru("merge.same", key="ZOO-1"), ru("merge.target_merged", key="ZOO-2", into="ZOO-1"),
                               ru("merge.already", key="ZOO-2", into="ZOO-1"),
                               ru("closing.requester_only", key="ZOO-1")]
    # Marina follows ZOO-1 (its state, not Svetlana's report) and gets its solution in her own ticket's room
    assert ru("ticket.show_followed", key="ZOO-1", state=ru("state.in_progress"), priority=1,
              merged="ZOO-2") in result.texts(to="@marina")
    assert result.has(ru("closing.solution_of_merged", key="ZOO-2", into="ZOO-1", text="Исправлено."),
                      to="ticket:ZOO-2")
    duplicate = await result.ticket("ZOO-2")
    assert (duplicate.state, duplicate.data["merged_into"]) == ("merged", "ZOO-1")
    # a merged ticket warns nobody: its clocks stopped
    assert not [line for line in result.about(kind="sla_warning") if line["ticket"] == "ZOO-2"]
    assert not await result.rows(Timer, Timer.ticket_id == duplicate.id, Timer.kind.like("sla:%"),
                                 Timer.fired_at.is_(None))


async def test_the_user_is_told_of_every_change_of_state(tmp_path) -> None:
    steps = [*organiser(at="2026-11-24T10:07:00+03:00"),
             staff("irina", "!ticket status ZOO-1 waiting_requester"),
             {"after": "5m", "user": "svetlana", "ticket": "ZOO-1", "text": "Chrome 131"},
             staff("irina", "!ticket defer ZOO-1 no_repro 2026-11-26"),
             staff("irina", "!ticket status ZOO-1 in_progress", after="1h"),
             staff("irina", "!ticket solve ZOO-1 Готово."),
             {"after": "1m", "user": "svetlana", "action": "notfixed", "ticket": "ZOO-1"},
             # closing goes through the solution ([resolution] require_solution); from feedback staff may close
             staff("irina", "!ticket solve ZOO-1 Готово, теперь точно."),
             staff("irina", "!ticket close ZOO-1")]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    changes = [e for e in await result.events("ZOO-1") if e.kind == "state"]
    told = result.texts(to="ticket:ZOO-1")
    # every change of state the user did not make themselves shows in their room
    by_others = [e for e in changes if e.new != "feedback" and e.body != "requester answered"]
    assert len(by_others) == 8
    assert ru("ticket.state_changed", key="ZOO-1", state=ru("state.waiting_requester"), who="Ирина") in told
    assert ru("defer.requester", key="ZOO-1", reason="Проблему невозможно повторить, доступа к объекту нет",
              date="чт, 26 нояб.", note="—") in told
    assert ru("ticket.state_changed", key="ZOO-1", state=ru("state.in_progress"), who="Ирина") in told
    assert any("Готово." in text for text in told)
    assert ru("closing.reopened", key="ZOO-1") in told
    assert ru("ticket.state_changed", key="ZOO-1", state=ru("state.closed"), who="Ирина") in told


async def test_a_30_working_day_target_shows_working_days_and_the_requester_no_target_name(tmp_path) -> None:
    """"осталось 9д 23ч рабочего времени" read 239 business hours as days of 24: the merge target's time left is
    said in working days (of the desk's 8 hours) and hours; the requester sees the clock, never "(merge)"."""
    steps = [
        {"at": "2026-11-24T10:07:00+03:00", "user": "nikolai", "dm": True,
         "text": "Прошу объединить две карточки моей собаки"},
        {"after": "1m", "user": "nikolai", "ticket": "ZOO-1", "text": "120045 и 120046"},
        {"at": "2026-11-24T12:38:00+03:00", "user": "pavel", "channel": TEAM, "text": "!ticket sla ZOO-1"},
        {"after": "1m", "user": "nikolai", "dm": True, "text": "!ticket sla ZOO-1"},
    ]
    result = await run(tmp_path, ORG, steps, start=START, platform="matrix")
    assert result.errors() == []
    head = ru("sla.head", key="ZOO-1", priority=3)
    (team,) = [text for text in result.texts(to="@pavel") if text.startswith(head)]
    (requester,) = [text for text in result.texts() if text.startswith(head) and text != team]
    # opened at 10:07, 2 h 31 min of business time used at 12:38: 29 working days, 5 h 29 min are left
    assert "(merge)" in team and "осталось 29 рабочих дней 5 часов 29 минут" in team
    merge_line = team.splitlines()[-1]
    assert "рабочего времени" not in merge_line and not re.search(r"\d+д", merge_line)
    assert "merge" not in requester and "(response)" not in requester
    assert "осталось 29 рабочих дней 5 часов 28 минут" in requester  # a minute later
