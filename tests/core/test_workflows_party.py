"""The party desk's process (handbook 000) on its example config, through the simulator: contact,
documentation asked of the member, the internal checklist, the report to the provider only by the
two authorised people and only on the provider's hours, the solution written up, the member asked
whether they are satisfied, closed. Plus every refusal and guard on the way."""

from __future__ import annotations

from datetime import UTC, datetime

from workflow_sim import run

from bot.i18n import t
from storage.models import Solution, Timer

ORG = "party-desk"
TUESDAY = "2026-11-24T08:50:00+01:00"
INTERN = "#smv-support-intern"
ITEMS = "outage,usage,reachable,usable,configured,internal,tried"
PROVIDER = "support@provider.example"  # [mail] vendor of the example
# a ticked item is named by its configured label
OUTAGE = "„Handelt es sich tatsächlich um eine Betriebsstörung?“"


def de(name: str, /, **values: object) -> str:
    # the party desk says "du" to its members ([desk] formal = false); the team's text has one form anyway
    return t("de", name, informal=True, **{"prefix": "/", **values})


def report(at: str = "2026-11-24T09:02:00+01:00", priority: str = "-p1") -> list[dict]:
    """Kai reports an outage and documents it (steps, browser) in the ticket's space."""
    return [
        {"at": at, "user": "kai", "channel": "#smv-technik",
         "text": f"/ticket {priority} Die SMV ist nicht erreichbar, beim Login kommt Fehler 502"},
        {"after": "1m", "user": "kai", "ticket": "SMV-1", "text": "Login-Seite öffnen, anmelden: 502"},
        {"after": "1m", "user": "kai", "ticket": "SMV-1", "text": "Firefox 133"},
    ]


def staff(user: str, text: str, after: str = "1m") -> dict:
    return {"after": after, "user": user, "channel": INTERN, "text": text}


async def test_from_intake_to_close(tmp_path) -> None:
    steps = [
        {"at": "2026-11-24T09:02:00+01:00", "user": "kai", "channel": "#smv-technik",
         "text": "/ticket -p1 Die SMV ist nicht erreichbar, beim Login kommt Fehler 502"},
        staff("jana", "/ticket take SMV-1"),
        {"after": "1m", "user": "kai", "ticket": "SMV-1", "text": "Login-Seite öffnen, anmelden: 502",
         "attach": ["fehler.png"]},
        {"after": "1m", "user": "kai", "ticket": "SMV-1", "text": "Firefox 133"},
        staff("jana", f"/ticket check SMV-1 {ITEMS} alles geprüft"),
        staff("denis", "/ticket vendor SMV-1 DL-1"),
        staff("denis", "/ticket sla SMV-1"),
        staff("jana", "/ticket status SMV-1 in_progress", after="2h"),
        staff("jana", "/ticket solve SMV-1 Login-Dienst neu gestartet. https://wiki.example/502"),
        {"after": "10m", "user": "kai", "action": "satisfied", "ticket": "SMV-1"},
        staff("jana", "/kb login-dienst"),
    ]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == []
    space = {"to": "ticket:SMV-1"}
    # the documentation is asked of the member, in the ticket's private space, one question at a time
    assert result.has(de("intake.needed", key="SMV-1", fields="Schritte zum Nachvollziehen, Browser mit Version",
                         prefix="/", example="steps"), **space)
    assert de("intake.ask.steps") in result.texts(**space)
    assert de("intake.ask.browser") in result.texts(**space)
    # the agent has it, but it starts only with the documentation complete
    assert result.has(de("intake.taken_waiting", key="SMV-1", fields="Schritte zum Nachvollziehen, "
                                                                        "Browser mit Version"), kind="reply")
    assert result.has(de("intake.complete", key="SMV-1"), **space)
    assert result.has(de("ticket.state_changed", key="SMV-1", state=de("state.in_progress"),
                         who="SMV Berlin Support"), **space)
    # reported to the provider: the member is told, the Prio-1 shows the phone number
    assert result.has(de("vendor.requester", key="SMV-1", vendor="SMV-Dienstleister"), **space)
    assert result.has("\n".join([de("vendor.reported", key="SMV-1", vendor="SMV-Dienstleister", id="DL-1"),
                                  de("vendor.mailed", address=PROVIDER),
                                  de("vendor.due", vendor="SMV-Dienstleister", due="Di., 24. Nov., 13:07"),
                                  de("vendor.phone_p1", phone="+49 30 5550 1600")]))
    # the documented report went to the provider by mail ([mail] vendor), in a thread of its own
    (mailed,) = result.about(to=f"mail:{PROVIDER}")
    assert (mailed["kind"], mailed["ticket"], mailed["at"]) == ("vendor", "SMV-1", "2026-11-24T08:07:00Z")
    assert mailed["subject"] == "[SMV-1] Die SMV ist nicht erreichbar, beim Login kommt Fehler 502"
    for part in ("Login-Seite öffnen, anmelden: 502", "Firefox 133", "fehler.png", "DL-1", "Denis"):
        assert part in mailed["text"], part
    # the vendor clock runs from the report (09:07, before the 12:00 cut-off: 4 working hours)
    assert result.has(de("sla.clock_vendor")) and result.has("Di., 24. Nov., 13:07")
    # the solution and the satisfaction question with two buttons
    (question,) = result.about(kind="feedback", **space)
    assert question["buttons"] == ["satisfied", "notfixed"]
    assert "Login-Dienst neu gestartet" in question["text"]
    assert result.has(de("closing.thanks", key="SMV-1"), **space)
    assert result.has("Login-Dienst neu gestartet", to=INTERN)  # /kb finds it
    ticket = await result.ticket("SMV-1")
    assert ticket.state == "closed" and ticket.data["satisfaction"] == "satisfied"
    assert ticket.data["vendor"]["ticket"] == "DL-1" and set(ticket.data["checks"]) == set(ITEMS.split(","))
    assert ticket.data["doc"] == {"steps": "Login-Seite öffnen, anmelden: 502", "browser": "Firefox 133"}
    kinds = [e.kind for e in await result.events("SMV-1")]
    assert kinds.count("vendor") == 1 and "attachment" in kinds and kinds.count("check") == 7
    (solution,) = await result.rows(Solution)
    assert solution.url == "https://wiki.example/502"


async def test_only_the_authorised_report_to_the_vendor(tmp_path) -> None:
    steps = [*report(), staff("jana", f"/ticket check SMV-1 {ITEMS}"), staff("jana", "/ticket vendor SMV-1")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == [de("vendor.not_authorised", vendor="SMV-Dienstleister", who="Denis, Victor")]
    assert (await result.ticket("SMV-1")).state != "vendor"


async def test_no_vendor_report_while_the_documentation_is_incomplete(tmp_path) -> None:
    steps = [
        {"at": "2026-11-24T09:02:00+01:00", "user": "kai", "channel": "#smv-technik",
         "text": "/ticket -p1 Login geht nicht, Fehler 502"},
        {"after": "1m", "user": "kai", "ticket": "SMV-1", "text": "Login-Seite öffnen, anmelden: 502"},
        staff("jana", f"/ticket check SMV-1 {ITEMS}"),
        staff("denis", "/ticket vendor SMV-1"),
    ]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == [de("intake.incomplete", key="SMV-1", fields="Browser mit Version")]
    assert all(e.kind != "vendor" for e in await result.events("SMV-1"))


async def test_no_vendor_report_before_the_internal_checklist_is_done(tmp_path) -> None:
    steps = [*report(), staff("jana", "/ticket check SMV-1 outage,usage"), staff("victor", "/ticket vendor SMV-1")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == [de("vendor.checklist_open", key="SMV-1",
                                  items="reachable, usable, configured, internal, tried")]


async def test_outside_the_vendors_hours_the_report_waits_for_the_opening(tmp_path) -> None:
    steps = [*report(), staff("jana", f"/ticket check SMV-1 {ITEMS}"),
             {"at": "2026-11-24T17:30:00+01:00", "user": "denis", "channel": INTERN, "text": "/ticket vendor SMV-1"},
             {"until": "2026-11-25T09:00:00+01:00"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == []
    (answer,) = [line for line in result.about(to=INTERN, kind="reply") if "Dienstleister" in line["text"]]
    assert answer["text"] == "\n".join([
        de("vendor.queued", key="SMV-1", vendor="SMV-Dienstleister", opens="Mi., 25. Nov., 08:00"),
        de("vendor.mailed_queued", address=PROVIDER),
        de("vendor.due_queued", vendor="SMV-Dienstleister", due="Mi., 25. Nov., 12:00"),
        de("vendor.emergency", phone="+49 30 5550 1699"),
        de("vendor.phone_p1", phone="+49 30 5550 1600"),
    ])
    # the mail goes when the provider opens, not when the report was typed
    (mailed,) = result.about(to=f"mail:{PROVIDER}")
    assert (mailed["kind"], mailed["at"]) == ("vendor", "2026-11-25T07:00:00Z")
    # at 08:00 the timer reports it and reminds Denis
    (opened,) = result.about(to="@denis")
    assert opened["at"] == "2026-11-25T07:00:00Z"
    assert opened["text"] == de("vendor.opened", vendor="SMV-Dienstleister", key="SMV-1", prefix="/")
    (vendor,) = [e for e in await result.events("SMV-1") if e.kind == "vendor"]
    assert vendor.at == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    ticket = await result.ticket("SMV-1")
    assert ticket.state == "vendor"
    # the vendor clock runs from the opening: P1, 4 working hours
    assert datetime.fromisoformat(ticket.data["sla"]["vendor"]["due"]) == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


async def test_a_second_report_while_queued_keeps_one_report_and_adds_the_vendors_id(tmp_path, db_url) -> None:
    """The defect: a second /ticket vendor SMV-1 DL-1 while the report waited for the opening failed with
    "something went wrong" (a second timer with the same due instant broke the timers' unique key)."""
    late = "2026-11-24T17:30:00+01:00"
    steps = [*report(), staff("jana", f"/ticket check SMV-1 {ITEMS}"),
             {"at": late, "user": "denis", "channel": INTERN, "text": "/ticket vendor SMV-1"},
             staff("denis", "/ticket vendor SMV-1 DL-1"),
             staff("victor", "/ticket vendor SMV-1"),
             staff("denis", "/ticket sla SMV-1"),
             {"until": "2026-11-25T09:00:00+01:00"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY, db_url=db_url)
    assert result.errors() == []
    values = dict(key="SMV-1", vendor="SMV-Dienstleister", opens="Mi., 25. Nov., 08:00")
    assert result.has(de("vendor.queued_id", id="DL-1", **values), to=INTERN)
    assert result.has(de("vendor.queued_already", **values), to=INTERN)
    # /ticket sla: the vendor clock that starts at the opening, not "the desk has no SLA policy"
    assert result.has(de("sla.vendor_queued", clock=de("sla.clock_vendor"), due="Mi., 25. Nov., 12:00", **{
        k: v for k, v in values.items() if k != "key"}), to=INTERN)
    assert not result.has(de("sla.none", key="SMV-1"))
    # one queued report, reported once at the opening with the id given meanwhile
    timers = await result.rows(Timer, Timer.kind == "workflow:vendor")
    assert len(timers) == 1 and timers[0].fired_at is not None
    (vendor,) = [e for e in await result.events("SMV-1") if e.kind == "vendor"]
    assert vendor.new == "DL-1" and vendor.at == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    assert (await result.ticket("SMV-1")).data["vendor"]["ticket"] == "DL-1"


async def test_sla_before_the_report_names_the_vendors_clock_not_a_missing_policy(tmp_path) -> None:
    steps = [*report(), staff("denis", "/ticket sla SMV-1")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.has(de("sla.none_vendor", key="SMV-1", vendor="SMV-Dienstleister"), to=INTERN)


async def test_a_normal_priority_report_shows_no_phone_number(tmp_path) -> None:
    steps = [*report(priority="-p2"), staff("jana", f"/ticket check SMV-1 {ITEMS}"),
             staff("victor", "/ticket vendor SMV-1")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.has(de("vendor.reported", key="SMV-1", vendor="SMV-Dienstleister", id="—"))
    assert not result.has("+49 30 5550 1600")


async def test_resolved_only_with_the_solution_written_up(tmp_path) -> None:
    steps = [*report(), staff("jana", "/ticket take SMV-1"), staff("jana", "/ticket status SMV-1 resolved"),
             staff("jana", "/ticket solve SMV-1   ")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors()[0] == de("closing.needs_solution", key="SMV-1")
    assert (await result.ticket("SMV-1")).state == "in_progress"


async def test_no_answer_to_the_question_closes_the_ticket(tmp_path) -> None:
    steps = [*report(), staff("jana", "/ticket take SMV-1"), staff("jana", "/ticket solve SMV-1 Neu gestartet."),
             {"until": "2026-11-27T10:00:00+01:00"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    (closed,) = [line for line in result.about(to="ticket:SMV-1")
                 if line["text"] == de("closing.closed_no_answer", key="SMV-1", prefix="/")]
    assert closed["at"] == "2026-11-27T08:06:00Z"  # three days after the question
    ticket = await result.ticket("SMV-1")
    assert (ticket.state, ticket.data["satisfaction"]) == ("closed", "no_answer")


async def test_not_fixed_reopens_and_forgets_the_solution(tmp_path) -> None:
    steps = [*report(), staff("jana", "/ticket take SMV-1"), staff("jana", "/ticket solve SMV-1 Neu gestartet."),
             {"after": "5m", "user": "kai", "action": "notfixed", "ticket": "SMV-1"},
             {"until": "2026-11-28T10:00:00+01:00"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.has(de("closing.reopened", key="SMV-1"), to="ticket:SMV-1")
    assert result.has(de("closing.not_fixed_agent", key="SMV-1", who="kai", text="—"), to="@jana")
    ticket = await result.ticket("SMV-1")
    assert ticket.state == "in_progress" and "solution" not in ticket.data
    assert await result.rows(Solution) == []
    # the question's timer does not close the reopened ticket
    assert [r.cancelled for r in await result.rows(Timer, Timer.kind == "workflow:feedback")] == [True]


async def test_only_the_requester_answers_the_question(tmp_path) -> None:
    steps = [*report(), staff("jana", "/ticket take SMV-1"), staff("jana", "/ticket solve SMV-1 Neu gestartet."),
             {"after": "1m", "user": "jana", "action": "satisfied", "ticket": "SMV-1"},
             {"after": "1m", "user": "kai", "action": "satisfied", "ticket": "SMV-1"},
             # the question's buttons are spent once answered: typed, the command finds the ticket closed
             {"after": "1m", "user": "kai", "dm": True, "text": "/ticket notfixed SMV-1"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == [
        de("closing.requester_only", key="SMV-1"),
        de("closing.no_question", key="SMV-1", state=de("state.closed")),
    ]


async def test_the_checklist_in_chat_and_its_refusals(tmp_path) -> None:
    steps = [*report(),
             staff("jana", "/ticket check SMV-1"),
             staff("jana", "/ticket check SMV-1 outage Login-Dienst antwortet 502"),
             staff("jana", "/ticket check SMV-1 nonsense"),
             staff("jana", "/ticket uncheck SMV-1 usage"),
             {"after": "1m", "user": "kai", "dm": True, "text": "/ticket check SMV-1 outage"},
             staff("jana", "/ticket show SMV-1"),
             {"after": "1m", "user": "kai", "dm": True, "text": "/ticket show SMV-1"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    (listing,) = [text for text in result.texts(to=INTERN) if text.startswith(de("triage.head", key="SMV-1"))]
    assert "☐ 1. outage: Handelt es sich tatsächlich um eine Betriebsstörung?" in listing
    assert result.has(de("triage.ticked", key="SMV-1", item=OUTAGE, done=1, total=7,
                         open="usage, reachable, usable, configured, internal, tried"))
    assert result.errors() == [
        de("triage.unknown_item", item="nonsense",
           items="1. outage, 2. usage, 3. reachable, 4. usable, 5. configured, 6. internal, 7. tried"),
        de("triage.not_ticked", key="SMV-1", item="Wurde die Software vom Mitglied korrekt benutzt?"),
        de("access.staff_only"),
    ]
    agent_view = next(text for text in result.texts(to=INTERN) if text.startswith("SMV-1:"))
    assert de("workflow.show_checklist", done=1, total=7, items="✓ Handelt es sich tatsächlich um eine "
              "Betriebsstörung? (Jana) · ☐ Wurde die Software vom Mitglied korrekt benutzt? · ☐ Ist die Software "
              "aktuell erreichbar?")[:200] in agent_view
    member_view = next(text for text in result.texts(to="@kai") if text.startswith("SMV-1:"))
    assert "Betriebsstörung" not in member_view  # the checklist is internal
    assert de("workflow.show_doc", doc="Schritte zum Nachvollziehen: Login-Seite öffnen, anmelden: 502 · "
              "Browser mit Version: Firefox 133") in member_view


async def test_a_member_of_the_slack_group_is_an_agent(tmp_path) -> None:
    steps = [*report(),
             {"after": "1m", "user": "mia", "channel": INTERN, "text": "/queue"},
             {"after": "1m", "user": "mia", "channel": INTERN, "text": "/ticket check SMV-1 outage"},
             {"after": "1m", "user": "max", "channel": INTERN, "text": "/queue"}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY, groups={"S05SMVHELP": ["mia"]})
    assert result.has("SMV-1", to=INTERN, **{"for": "@mia"})
    assert result.has(de("triage.ticked", key="SMV-1", item=OUTAGE, done=1, total=7,
                         open="usage, reachable, usable, configured, internal, tried"))
    assert result.errors() == [de("access.staff_only")]


async def test_a_second_report_only_records_the_vendors_id(tmp_path) -> None:
    steps = [*report(), staff("jana", f"/ticket check SMV-1 {ITEMS}"), staff("denis", "/ticket vendor SMV-1"),
             staff("victor", "/ticket vendor SMV-1"), staff("victor", "/ticket vendor SMV-1 DL-9")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == [de("vendor.already", key="SMV-1", vendor="SMV-Dienstleister", id="—", prefix="/")]
    assert result.has(de("vendor.id_recorded", key="SMV-1", id="DL-9", vendor="SMV-Dienstleister"))
    assert [e.kind for e in await result.events("SMV-1")].count("vendor") == 1  # the clock started once


def reported() -> list[dict]:
    return [*report(), staff("jana", "/ticket take SMV-1"), staff("jana", f"/ticket check SMV-1 {ITEMS}"),
            staff("denis", "/ticket vendor SMV-1")]


async def test_the_providers_answer_by_mail_is_the_teams_and_names_its_ticket(tmp_path) -> None:
    steps = [*reported(),
             {"after": "5m", "mail": {"from": f"SMV Provider <{PROVIDER}>", "in_reply_to": "mail-1",
                                      "subject": "[DL-4711] Re: [SMV-1] Die SMV ist nicht erreichbar",
                                      "headers": {"Auto-Submitted": "auto-replied"},
                                      "text": "Wir haben Ihre Meldung als DL-4711 aufgenommen."}},
             {"after": "1m", "user": "kai", "dm": True, "text": "/ticket show SMV-1"},
             staff("jana", "/ticket show SMV-1")]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    assert result.errors() == []
    ticket = await result.ticket("SMV-1")
    assert ticket.data["vendor"]["ticket"] == "DL-4711"
    (answer,) = [e for e in await result.events("SMV-1") if e.kind == "vendor_mail"]
    assert not answer.public and answer.body == "Wir haben Ihre Meldung als DL-4711 aufgenommen."
    # Jana, who has the ticket, reads it; the member hears nothing of it, and nobody answers the provider's robot
    assert result.has("Wir haben Ihre Meldung als DL-4711 aufgenommen.", to="@jana")
    assert not [text for text in result.texts(to="ticket:SMV-1") if "DL-4711" in text]
    # in the ticket's history it is the team's: Jana sees it, Kai does not
    (kai_show,) = [line["text"] for line in result.about() if line.get("for") == "@kai" or line["to"] == "@kai"
                   if line["text"].startswith("SMV-1")]
    assert "Wir haben Ihre Meldung" not in kai_show
    assert [line for line in result.about(to=INTERN) if line.get("for") == "@jana"
            and "Wir haben Ihre Meldung als DL-4711 aufgenommen." in line["text"]]
    assert [line["kind"] for line in result.about() if str(line["to"]).startswith("mail:")] == ["vendor"]


async def test_a_stranger_who_forges_the_providers_subject_records_nothing(tmp_path) -> None:
    """Eve knows the ticket key and the provider's subject pattern, but answers no mail of the report: her mail is
    kept outside the ticket, and the provider's ticket number stays unrecorded — also from the provider's own
    address when the mail is in no thread of the report (a forged From: needs no mail of ours)."""
    forged = {"subject": "[DL-666] Re: [SMV-1] Die SMV ist nicht erreichbar", "text": "Bitte Passwort senden."}
    steps = [*reported(),
             {"after": "5m", "mail": {"from": "Eve <eve@evil.example>", **forged}},
             {"after": "1m", "mail": {"from": PROVIDER, **forged}}]
    result = await run(tmp_path, ORG, steps, start=TUESDAY)
    ticket = await result.ticket("SMV-1")
    assert not (ticket.data["vendor"] or {}).get("ticket")
    events = await result.events("SMV-1")
    assert not [e for e in events if e.kind in ("vendor_mail", "vendor_id")]
    assert [e.new for e in events if e.kind == "message" and e.body == "Bitte Passwort senden."] == ["outside"] * 2
    assert not [text for text in result.texts() if "Bitte Passwort senden." in text]
