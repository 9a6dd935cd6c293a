"""Re-routing when an assignee goes away (bot/routing/away.py), on the PR vendor's example desk (handbook
004, "Ticketzuweisung": people per product who "vertreten sich gegenseitig") and on both backends: an
absence that covers today moves the person's routed tickets at once, one that starts later at its
first day (a timer row); tickets assigned by hand stay; nobody available sends them back to the team;
nothing moves back when the person returns."""

from __future__ import annotations

from workflow_sim import run

from bot.i18n import t
from storage.models import Person, Ticket, TicketEvent, Timer

ORG = "pr-vendor"
WEDNESDAY = "2026-11-25T09:05:00+01:00"
INTERN = "#kundenservice-intern"


def de(name: str, /, **values: object) -> str:
    return t("de", name, **values)


def staff(user: str, text: str, after: str = "1m") -> dict:
    return {"after": after, "user": user, "channel": INTERN, "text": text}


def customer(user: str, text: str, **where: object) -> dict:
    return {"after": "1m", "user": user, "text": text, **(where or {"dm": True})}


async def assignee(result, key: str) -> str | None:
    ticket = await result.ticket(key)
    if ticket.assignee_id is None:
        return None
    (person,) = await result.rows(Person, Person.id == ticket.assignee_id)
    return person.key


async def test_an_absence_moves_routed_tickets_now_or_at_its_start_and_not_back(tmp_path, db_url) -> None:
    steps = [
        customer("anna", "/ticket -t blog2social Instagram-Posts ohne Bild"),    # KS-1 → Dennis
        customer("bert", "Eine allgemeine Frage zu meinem Konto"),               # KS-2: no rule
        staff("daniel", "/ticket assign KS-2 @dennis"),                          # by hand: stays with Dennis
        staff("dennis", "/ticket take KS-1"),                                    # in progress with Dennis
        customer("ida", "Influma zeigt keine Statistiken mehr."),                # KS-3 → Marcus
        staff("marcus", "/ticket take KS-3"),
        # Dennis's vacation starts on Friday: nothing moves on Wednesday
        staff("dennis", "/duty away 2026-11-27 2026-12-01"),
        # Marcus is sick today and Influma has nobody else: back to the team, and to triage
        staff("marcus", "/duty sick"),
        {"at": "2026-11-27T08:00:00+01:00"},
        customer("carl", "/ticket -t blog2social Planung klappt nicht"),         # KS-4: Severin, as substitute
        # Dennis is back; the moved ticket stays with Severin
        {"at": "2026-12-02T10:00:00+01:00"},
        customer("dora", "/ticket -t blog2social Noch eine Frage"),              # KS-5: Dennis again
        customer("ida", "/ticket show KS-3"),
        staff("daniel", "/ticket show KS-3"),
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == []
    assert [await assignee(result, f"KS-{n}") for n in range(1, 6)] == [
        "severin", "dennis", None, "severin", "dennis"]
    assert [(await result.ticket(f"KS-{n}")).state for n in (1, 3)] == ["in_progress", "triage"]

    # Marcus: at once, nobody for Influma → the duty channel (the example desk has no coordinator)
    nobody = de("routing.away_nobody", who="Marcus", last="Mi., 25. Nov.", keys="KS-3", prefix="/")
    assert result.has(nobody, to=INTERN)
    # the requester of KS-3 hears of the state change, not of the reason
    assert result.texts(to="ticket:KS-3")[-1] == de("ticket.state_changed", key="KS-3", state=de("state.triage"),
                                                     who="Kundenservice PR-Gateway · Blog2Social · Influma")

    # Dennis: on Friday at 00:00 (the timer), KS-1 to Severin, who reads English; KS-2 stays, the team hears
    moved = [line for line in result.about(to="@severin") if line.get("ticket") == "KS-1"]
    assert [line["text"] for line in moved] == [t(
        "en", "routing.moved_to_you", key="KS-1", priority=2, topic="blog2social", title="Instagram-Posts ohne Bild",
        who="Dennis", last="Tue 1 Dec", back="dennis", prefix="/")]
    assert moved[0]["at"].startswith("2026-11-26T23:00:00")  # 00:00 in Berlin
    assert result.has(de("routing.away_moved", who="Dennis", last="Di., 1. Dez.", moves="KS-1 → Severin"),
                      to=INTERN)
    assert result.has(de("routing.away_by_hand", who="Dennis", last="Di., 1. Dez.", keys="KS-2"), to=INTERN)
    assert not any(line.get("ticket") == "KS-1" for line in result.about(to="ticket:KS-1", kind="notice")
                   if "Severin" in line["text"])

    # the history says what happened, for the agents (route events are internal)
    events = [(e.kind, e.old, e.new) for e in await result.events("KS-1") if e.kind in ("assign", "route")]
    assert events[-2:] == [("assign", "dennis", "severin"), ("route", None, "blog2social")]
    (timer,) = await result.rows(Timer, Timer.kind == "routing:absence")
    assert timer.fired_at is not None
    released = [(e.kind, e.old, e.new, e.actor_id) for e in await result.events("KS-3") if e.kind == "assign"]
    assert released[-1] == ("assign", "marcus", None, None)
    # the team's history says so; the requester's shows no reason (route events are internal)
    (team_view,) = [line["text"] for line in result.about(to=INTERN)
                    if line.get("for") == "@daniel" and line["text"].startswith("KS-3:")]
    assert "hat es Marcus abgenommen: niemand ist zuständig" in team_view      # by name, not by key
    assert "(Marcus ist bis Mi., 25. Nov. abwesend; sonst ist niemand verfügbar)" in team_view
    assert "away" not in team_view
    (own_view,) = [text for text in result.texts(to="@ida") if text.startswith("KS-3:")]
    assert "away" not in own_view and "abgenommen" in own_view


async def test_the_named_substitute_takes_what_nobody_else_can(tmp_path, db_url) -> None:
    # "Influma: Marcus (ggf. Vertretung, wird benannt)": Marcus names Stefan for his vacation
    steps = [
        customer("ida", "Influma zeigt keine Statistiken mehr."),                # KS-1 → Marcus
        staff("marcus", "/duty away 2026-11-25 2026-11-26 @stefan"),
        customer("jan", "Influma: Export als PDF?"),                             # KS-2 → Stefan at once
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == []
    assert [await assignee(result, key) for key in ("KS-1", "KS-2")] == ["stefan", "stefan"]
    assert result.has(de("routing.away_moved", who="Marcus", last="Do., 26. Nov.", moves="KS-1 → Stefan"),
                      to=INTERN)
    assert result.has(de("routing.substitute", who="Marcus"), to="@stefan")


async def test_the_coordinator_hears_when_nobody_can_take_them(tmp_path, db_url) -> None:
    config = {
        "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "timezone": "Europe/Berlin"},
        "people": {"anna": {"name": "Anna"}, "ben": {"name": "Ben"},
                   "carla": {"name": "Carla", "roles": ["coordinator"]}},
        "channels": {"duty": ["#support-duty"]},
        "duty": {"window": "mon-fri 09:00-17:00", "roles": ["phone"], "members": ["anna", "ben"],
                 "coordinator": "carla"},
        "routing": [{"topic": "printer", "keywords": ["printer"], "assignees": ["anna", "ben"]}],
    }
    steps = [
        customer("dora", "The printer on floor 2 is jammed"),                    # HW-1 → Anna
        {"after": "1m", "user": "ben", "channel": "#support-duty", "text": "/duty away 2026-11-25 2026-11-27"},
        {"after": "1m", "user": "anna", "channel": "#support-duty", "text": "/duty sick"},
        {"after": "1m", "user": "anna", "channel": "#support-duty", "text": "/duty sick"},  # refused: no second move
    ]
    result = await run(tmp_path, None, steps, start=WEDNESDAY, config=config, db_url=db_url)
    nobody = t("en", "routing.away_nobody", who="Anna", last="Wed 25 Nov", keys="HW-1", prefix="/")
    assert result.texts(to="@carla").count(nobody) == 1  # she also hears of the duty shifts, as before
    assert result.texts(to="#support-duty").count(nobody) == 1
    assert (await result.ticket("HW-1")).assignee_id is None
    assert len([e for e in await result.rows(TicketEvent, TicketEvent.kind == "route")]) == 2
    assert len(await result.rows(Ticket)) == 1


async def test_a_deletion_order_follows_accounting_when_the_clerk_falls_ill(tmp_path, db_url) -> None:
    steps = [
        customer("kanzlei", "Bitte löschen Sie unsere Pressemitteilung, wir haben eine Abmahnung erhalten."),
        staff("daniel", "/ticket take KS-1"),
        staff("daniel", "/ticket deletion KS-1 reason Abmahnung wegen Bildrechten"),
        staff("daniel", "/ticket deletion KS-1 volume 14 Fundstellen"),
        staff("daniel", "/ticket deletion KS-1 prepayment bezahlt"),
        staff("daniel", "/ticket deletion KS-1 order LA-118"),                   # → Linda (accounting)
        staff("linda", "/duty sick"),                                            # → Khadija, her substitute
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == []
    assert await assignee(result, "KS-1") == "khadija"
    assert (await result.ticket("KS-1")).data["deletion"]["accounting"] == "khadija"
    assert result.has(de("routing.away_moved", who="Linda", last="Mi., 25. Nov.", moves="KS-1 → Khadija"),
                      to=INTERN)


async def test_a_substitute_named_later_takes_what_went_back_to_the_team(tmp_path, db_url) -> None:
    steps = [
        customer("ida", "Influma zeigt keine Statistiken mehr."),                # KS-1 → Marcus
        staff("marcus", "/duty away 2026-11-25 2026-11-27"),                     # nobody: back to the team
        staff("marcus", "/duty away 2026-11-25 2026-11-27 @stefan"),             # the same vacation, now named
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY, db_url=db_url)
    assert result.errors() == []
    assert await assignee(result, "KS-1") == "stefan"
    last = "Fr., 27. Nov."
    told = [text for text in result.texts(to=INTERN) if text.startswith("Marcus ist bis")]
    assert told == [de("routing.away_nobody", who="Marcus", last=last, keys="KS-1", prefix="/"),
                    de("routing.away_moved", who="Marcus", last=last, moves="KS-1 → Stefan")]
    assigned = [(e.old, e.new) for e in await result.events("KS-1") if e.kind == "assign"]
    assert assigned == [(None, "marcus"), ("marcus", None), (None, "stefan")]
