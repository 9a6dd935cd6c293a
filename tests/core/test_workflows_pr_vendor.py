"""The PR vendor's process (handbook 004) on its example config, through the simulator: tickets are
assigned by the routing rules to the product's people, a substitute when someone is away; technical
problems are documented with the handbook's checklist before they start; deletions walk reason,
volume, prepayment and order, then go to accounting."""

from __future__ import annotations

from workflow_sim import run

from bot.i18n import t

ORG = "pr-vendor"
WEDNESDAY = "2026-11-25T09:05:00+01:00"
INTERN = "#kundenservice-intern"
ALL_DOC = ["Windows 10", "Firefox 133", "WLAN", "Anlegen, Senden: Fehler", "bis 16 Uhr", "limited", "zum ersten Mal"]


def de(name: str, /, **values: object) -> str:
    return t("de", name, **{"prefix": "/", **values})


def staff(user: str, text: str, after: str = "1m") -> dict:
    return {"after": after, "user": user, "channel": INTERN, "text": text}


def customer(user: str, text: str, **where: object) -> dict:
    return {"after": "1m", "user": user, "text": text, **(where or {"dm": True})}


def owner(result, key: str) -> str | None:
    assigned = [line["to"] for line in result.about(ticket=key, kind="notice") if line["to"].startswith("@")]
    return assigned[0] if assigned else None


async def test_routing_by_keyword_topic_and_channel_with_substitutes(tmp_path) -> None:
    steps = [
        staff("dennis", "/duty away 2026-11-25 2026-11-27"),
        customer("tom", "Bitte kündigen Sie mein Blog2Social-Abo."),               # keyword: rechnung (first rule)
        customer("anna", "/ticket -t blog2social Instagram-Posts ohne Bild",       # topic: Dennis away → Severin
                 channel="#community-blog2social"),
        customer("otto", "/ticket Seit heute kann ich mich nicht anmelden",        # channel: prg-support
                 channel="#community-pr-gateway"),
        customer("ute", "Was kostet ein Upgrade auf das große Paket?"),            # keyword: prg-vertrieb
        customer("ida", "Hallo, eine Frage zu Influma"),                           # keyword: influma
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY)
    assert result.errors() == []
    assert [(await result.ticket(f"KS-{n}")).topic for n in range(1, 6)] == [
        "rechnung", "blog2social", "prg-support", "prg-vertrieb", "influma"]
    assert [owner(result, f"KS-{n}") for n in range(1, 6)] == ["@linda", "@severin", "@daniel", "@klaus", "@marcus"]
    (severin,) = result.about(to="@severin")
    assert severin["text"].endswith(t("en", "routing.substitute", who="Dennis"))  # Severin reads English


async def test_nobody_available_goes_to_the_team_channel(tmp_path) -> None:
    steps = [staff("marcus", "/duty away 2026-11-25 2026-11-26"),
             customer("ida", "Influma zeigt keine Statistiken mehr.")]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY)
    assert result.has(de("routing.nobody", key="KS-1", topic="influma", people="Marcus"), to=INTERN)
    assert (await result.ticket("KS-1")).assignee_id is None


async def test_a_technical_problem_starts_only_with_the_checklist_data(tmp_path) -> None:
    steps = [
        customer("berger", "/ticket PR-Gateway: Versand bricht mit Fehler ab", channel="#community-pr-gateway"),
        {"after": "1m", "user": "daniel", "action": "take", "ticket": "KS-1"},
        staff("daniel", "/ticket status KS-1 in_progress"),
        *[{"after": "1m", "user": "berger", "ticket": "KS-1", "text": answer} for answer in ALL_DOC[:5]],
        {"after": "1m", "user": "berger", "ticket": "KS-1", "text": "sehr dringend"},
        *[{"after": "1m", "user": "berger", "ticket": "KS-1", "text": answer} for answer in ALL_DOC[5:]],
        staff("daniel", "/ticket doc KS-1"),
        staff("daniel", "/ticket doc KS-1 urgency wichtig"),
        staff("daniel", "/ticket doc KS-1 colour blue"),
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY)
    missing = ("Betriebssystem mit Version, Browser mit Version, Internetverbindung, Schritte zum Nachvollziehen, "
               "Erreichbarkeit für Rückfragen, Dringlichkeit, Häufigkeit und Betroffene")
    # the answer to the Take button of the ticket's card, where it was pressed
    assert result.has(de("intake.taken_waiting", key="KS-1", fields=missing), **{"for": "@daniel"})
    choices = "SHOW-STOPPER / LIMITED USABILITY / NICE TO HAVE"
    errors = result.errors()
    assert errors[0] == de("intake.incomplete", key="KS-1", fields=missing)
    assert errors[1] == de("intake.bad_urgency", value="sehr dringend", choices=choices)
    assert errors[2] == de("intake.bad_urgency", value="wichtig", choices=choices)
    assert errors[3].startswith("„colour“ ist kein Feld der Dokumentation; die Felder sind: description (genaue ")
    ticket = await result.ticket("KS-1")
    assert ticket.state == "in_progress"
    assert ticket.data["doc"]["urgency"] == "LIMITED USABILITY" and ticket.priority == 2
    assert result.has(de("intake.nothing_missing", key="KS-1"), to=INTERN)


async def test_the_urgency_sets_the_priority_unless_the_customer_chose_one(tmp_path) -> None:
    answers = ["Windows", "Edge 120", "LAN", "Senden", "jederzeit", "SHOW-STOPPER", "nein"]
    steps = [customer("a", "/ticket PR-Gateway Versand geht nicht", channel="#community-pr-gateway"),
             *[{"after": "1m", "user": "a", "ticket": "KS-1", "text": x} for x in answers],
             customer("b", "/ticket -p3 PR-Gateway Versand geht nicht", channel="#community-pr-gateway"),
             *[{"after": "1m", "user": "b", "ticket": "KS-2", "text": x} for x in answers]]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY)
    assert [(await result.ticket(k)).priority for k in ("KS-1", "KS-2")] == [1, 3]
    assert result.has(de("ticket.priority_changed", key="KS-1", old=2, new=1), to="ticket:KS-1")
    # the raised Prio-1 escalates to a person: the desk's one duty role, the phone duty (Daniel this Wednesday)
    assert [line["to"] for line in result.about(kind="ping")] == ["@daniel"]


async def test_the_deletion_workflow_to_accounting(tmp_path) -> None:
    steps = [
        staff("linda", "/duty away 2026-11-25 2026-11-25"),
        customer("kanzlei", "Bitte löschen Sie unsere Pressemitteilung, wir haben eine Abmahnung erhalten."),
        staff("daniel", "/ticket take KS-1"),
        staff("daniel", "/ticket deletion KS-1"),
        staff("daniel", "/ticket deletion KS-1 volume 14 Fundstellen"),
        staff("daniel", "/ticket deletion KS-1 reason Abmahnung wegen Bildrechten"),
        staff("daniel", "/ticket deletion KS-1 volume 14 Fundstellen"),
        staff("daniel", "/ticket deletion KS-1 prepayment später"),
        staff("ajmal", "/ticket deletion KS-1 prepayment exception Stammkunde"),  # not a lead
        staff("phillippe", "/ticket deletion KS-1 prepayment exception"),
        staff("phillippe", "/ticket deletion KS-1 prepayment exception Stammkunde, mit GF abgestimmt"),
        staff("daniel", "/ticket deletion KS-1 order LA-118"),
        staff("daniel", "/ticket deletion KS-1 order LA-119"),
        {"after": "1m", "user": "kanzlei", "dm": True, "text": "/ticket deletion KS-1 order LA-120"},
    ]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY)
    assert (await result.ticket("KS-1")).topic == "loeschung"  # the deletion keyword wins over "Pressemitteilung"
    assert result.has(de("deletion.started", key="KS-1", step="Grund", guide=de("deletion.guide_reason"),
                         prefix="/"))
    assert result.has(de("deletion.urgent"))  # a warning letter: delete on the own portals at once
    assert result.errors() == [
        de("deletion.out_of_order", key="KS-1", step="volume", expected="reason", prefix="/"),
        de("deletion.prepayment_required", key="KS-1"),
        de("deletion.exception_needs_lead"),
        de("deletion.exception_needs_reason"),
        de("deletion.finished", key="KS-1"),
        de("access.staff_only"),
    ]
    # the order is in: accounting (Linda is away, so Khadija) gets it, the customer is told
    assert result.has(de("deletion.handed_over", key="KS-1", who="Khadija"))
    assert owner(result, "KS-1") == "@khadija"
    assert result.has(de("deletion.order_received", key="KS-1"), to="ticket:KS-1")
    ticket = await result.ticket("KS-1")
    assert ticket.data["deletion"] == {"reason": "Abmahnung wegen Bildrechten", "volume": "14 Fundstellen",
                                       "prepayment": "exception: Stammkunde, mit GF abgestimmt",
                                       "order": "LA-118", "accounting": "khadija"}


async def test_routing_again_with_a_topic(tmp_path) -> None:
    steps = [customer("ida", "Eine Frage zu meinem Konto"),
             staff("daniel", "/ticket route KS-1 influma"),
             staff("daniel", "/ticket route KS-1 weather"),
             {"after": "1m", "user": "ida", "dm": True, "text": "/ticket route KS-1 rechnung"}]
    result = await run(tmp_path, ORG, steps, start=WEDNESDAY)
    assert result.has(de("routing.routed", key="KS-1", topic="influma", person="Marcus"), to=INTERN)
    assert owner(result, "KS-1") == "@marcus"
    assert result.errors() == [
        de("routing.unknown_topic", topic="weather", topics="rechnung, pressemitteilung, influma, blog2social, "
                                                           "prg-vertrieb, prg-support, loeschung"),
        de("access.staff_only"),
    ]
