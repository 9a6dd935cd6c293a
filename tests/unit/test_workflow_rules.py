"""The pure rules of the processes: documentation fields and answers, the guards, the routing order,
and the config checks of the process sections."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from bot.core.errors import Refused
from bot.routing import choose, initial_priority, topic_for
from bot.settings import ConfigError, settings_from_data
from bot.tickets.states import State
from bot.workflow.rules import guard, missing, normalise

BASE = {
    "desk": {"ticket_prefix": "HW", "sla": "desk"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 09:00-17:00"]}},
    "sla": {"desk": {"calendar": "office", "targets": {"response": {"within": "4h"}, "merge": {"within": "30d"}}}},
    "people": {"linda": {}, "khadija": {}, "dennis": {}, "severin": {}},
    "intake": [{"topic": "*", "required": ["steps", "os", "browser"]},
               {"topic": "merge", "required": ["object_id"]}],
    "routing": [{"topic": "rechnung", "keywords": ["rechnung", "kündig"], "assignees": ["linda", "khadija"]},
                {"topic": "blog2social", "keywords": ["b2s", "blog2social"], "channels": ["#b2s"],
                 "assignees": ["dennis", "severin"]}],
    "categories": {"merge": {"priority": 3, "resolve": "merge"}},
    "deletion": {"accounting": ["linda"], "keywords": ["löschen"]},
    "resolution": {},
}


def settings(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return settings_from_data(data, "(test)")


def ticket(topic=None, state="new", doc=None, data=None, description="it fails"):
    return SimpleNamespace(key="HW-1", topic=topic, state=state, description=description,
                           data={**(data or {}), **({"doc": doc} if doc else {})})


@pytest.mark.parametrize(("answer", "stored"), [
    ("SHOW-STOPPER", "SHOW-STOPPER"), ("show stopper", "SHOW-STOPPER"), ("showstopper", "SHOW-STOPPER"),
    ("1", "SHOW-STOPPER"), ("Limited_Usability", "LIMITED USABILITY"), ("eingeschränkt", "LIMITED USABILITY"),
    ("nice to have", "NICE TO HAVE"), ("3", "NICE TO HAVE"),
])
def test_urgency_answers(answer: str, stored: str) -> None:
    assert normalise("urgency", answer) == stored


@pytest.mark.parametrize(("field", "value", "key"), [
    ("urgency", "urgent!", "intake.bad_urgency"), ("steps", "   ", "intake.empty"),
    ("os", "x" * 1001, "intake.too_long"),
])
def test_answers_that_are_refused(field: str, value: str, key: str) -> None:
    with pytest.raises(Refused) as refused:
        normalise(field, value)
    assert refused.value.key == key


def test_what_is_missing_by_topic_and_what_covers_what() -> None:
    desk = settings()
    assert missing(desk, ticket()) == ["steps", "os", "browser"]
    assert missing(desk, ticket(doc={"environment": "Windows 11, Firefox 133"})) == ["steps"]
    assert missing(desk, ticket(topic="merge")) == ["object_id"]
    assert missing(desk, ticket(topic="merge", doc={"object_id": "120045"})) == []
    assert missing(settings(intake=[]), ticket()) == []


def test_the_guards() -> None:
    desk = settings()
    with pytest.raises(Refused) as refused:
        guard(desk, ticket(state="triage"), State.IN_PROGRESS)
    assert refused.value.values == {"key": "HW-1", "fields": "steps,os,browser"}
    assert refused.value.text("en") == ("HW-1 cannot go on yet: its documentation is incomplete. "
                                                 "Missing: steps to reproduce, operating system and version, "
                                                 "browser and version.")
    with pytest.raises(Refused):
        guard(desk, ticket(state="in_progress"), State.VENDOR)
    guard(desk, ticket(state="closed"), State.IN_PROGRESS)  # a reopen restores the work as it was
    with pytest.raises(Refused) as refused:
        guard(desk, ticket(state="in_progress"), State.RESOLVED)
    assert refused.value.key == "closing.needs_solution"
    guard(desk, ticket(state="in_progress", data={"solution": {"text": "done"}}), State.RESOLVED)
    guard(settings(resolution={"require_solution": False}), ticket(state="in_progress"), State.RESOLVED)


def test_routing_order_topic_then_keywords_then_channel() -> None:
    desk = settings()
    assert choose(desk, text="Rechnung zu B2S", topic=None, channel="#b2s").topic == "rechnung"  # rule order
    assert choose(desk, text="posts fail", topic=None, channel="#b2s").topic == "blog2social"
    assert choose(desk, text="Rechnung", topic="blog2social", channel=None).topic == "blog2social"
    assert choose(desk, text="Bitte den Beitrag löschen, Rechnung folgt", topic=None, channel=None).topic == "deletion"
    assert choose(desk, text="Vorrechnung", topic=None, channel=None) is None  # keywords start a word
    assert topic_for(desk, text="hello", topic=None, channel="#general") is None


def test_initial_priority() -> None:
    desk = settings()
    assert initial_priority(desk, "merge", None) == (3, "category")
    assert initial_priority(desk, "merge", 1) == (1, "given")
    assert initial_priority(desk, None, None) == (2, "default")


@pytest.mark.parametrize(("change", "problem"), [
    ({"intake": [{"topic": "*", "required": ["shoe size"]}]}, "intake.0.required: unknown field(s) shoe size"),
    ({"categories": {"merge": {"resolve": "nope"}}}, "categories.merge.resolve: unknown target \"nope\""),
    ({"categories": {"merge": {"priority": 5}}}, "categories.merge.priority: priority is 1 (high)"),
    ({"deletion": {"accounting": ["nobody"]}}, "deletion.accounting[0]: unknown person \"nobody\""),
    ({"access": {"slack_groups": {"boss": "S1"}}}, "access.slack_groups: unknown role \"boss\""),
    ({"resolution": {"feedback_wait": "soon"}}, "resolution.feedback_wait: \"soon\" is not a duration"),
    ({"deferral": {"reasons": {"Bad Key": "x"}}}, "deferral.reasons: reason \"Bad Key\""),
    ({"triage": {"checklist": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}},
     "triage.checklist: checklist keys must be unique"),
])
def test_config_problems_are_named(change: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings(**change)
    assert any(problem in line for line in error.value.problems), error.value.problems
