"""The ticket state machine (bot/tickets/states.py): every pair of states, allowed or refused."""

from __future__ import annotations

import itertools

import pytest

from bot.core.errors import Refused
from bot.tickets.states import DONE_STATES, OPEN_STATES, SETTABLE, TRANSITIONS, State, check

S = State
# The table written out by hand from DESIGN.md: new → triage → in_progress ⇄ waiting_requester → resolved →
# feedback → closed, plus vendor, deferred and merged (a duplicate, from any open state: terminal); a
# reopened ticket without an assignee goes back to triage.
EXPECTED: dict[State, set[State]] = {
    S.NEW: {S.TRIAGE, S.IN_PROGRESS, S.WAITING_REQUESTER, S.RESOLVED, S.CLOSED, S.DEFERRED, S.MERGED, S.VENDOR},
    S.TRIAGE: {S.IN_PROGRESS, S.WAITING_REQUESTER, S.RESOLVED, S.CLOSED, S.DEFERRED, S.MERGED, S.VENDOR},
    S.IN_PROGRESS: {S.TRIAGE, S.WAITING_REQUESTER, S.RESOLVED, S.CLOSED, S.DEFERRED, S.MERGED, S.VENDOR},
    S.WAITING_REQUESTER: {S.TRIAGE, S.IN_PROGRESS, S.RESOLVED, S.CLOSED, S.DEFERRED, S.MERGED},
    S.VENDOR: {S.IN_PROGRESS, S.WAITING_REQUESTER, S.RESOLVED, S.CLOSED, S.MERGED},
    S.DEFERRED: {S.TRIAGE, S.IN_PROGRESS, S.CLOSED, S.MERGED},
    S.RESOLVED: {S.FEEDBACK, S.CLOSED, S.IN_PROGRESS, S.TRIAGE},
    S.FEEDBACK: {S.CLOSED, S.IN_PROGRESS, S.TRIAGE},
    S.CLOSED: {S.IN_PROGRESS, S.TRIAGE},
    S.MERGED: set(),
}
PAIRS = list(itertools.product(State, State))


def test_the_table_is_the_documented_one() -> None:
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("current", "target"), [p for p in PAIRS if p[1] in EXPECTED[p[0]]],
                         ids=lambda s: s.value)
def test_allowed_transition(current: State, target: State) -> None:
    check(current, target, has_assignee=True)
    if target != State.IN_PROGRESS:
        check(current, target, has_assignee=False)


@pytest.mark.parametrize(("current", "target"), [p for p in PAIRS if p[1] not in EXPECTED[p[0]] and p[0] != p[1]],
                         ids=lambda s: s.value)
def test_refused_transition(current: State, target: State) -> None:
    for has_assignee in (True, False):
        with pytest.raises(Refused) as refused:
            check(current, target, has_assignee=has_assignee)
        assert refused.value.key == "ticket.bad_transition"
        values = refused.value.values
        assert (values["old"], values["new"]) == (current.value, target.value)
        assert values["allowed"] == (", ".join(sorted(s.value for s in EXPECTED[current])) or "—")


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_staying_in_a_state_is_refused(state: State) -> None:
    with pytest.raises(Refused) as refused:
        check(state, state, has_assignee=True)
    assert (refused.value.key, refused.value.values) == ("ticket.already_in_state", {"state": state.value})


@pytest.mark.parametrize("current", [s for s in State if S.IN_PROGRESS in EXPECTED[s]], ids=lambda s: s.value)
def test_in_progress_needs_an_assignee(current: State) -> None:
    with pytest.raises(Refused) as refused:
        check(current, State.IN_PROGRESS, has_assignee=False)
    assert refused.value.key == "ticket.needs_assignee"


def test_merged_is_terminal() -> None:
    for target in State:
        with pytest.raises(Refused):
            check(State.MERGED, target, has_assignee=True)
    assert State.MERGED in DONE_STATES


def test_open_and_done_states_split_every_state() -> None:
    assert set(State) == OPEN_STATES | DONE_STATES
    assert not OPEN_STATES & DONE_STATES


def reachable(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_is_reachable_from_new() -> None:
    assert reachable(State.NEW) == set(State)


@pytest.mark.parametrize("state", [s for s in State if s != State.MERGED], ids=lambda s: s.value)
def test_every_living_ticket_can_be_closed(state: State) -> None:
    assert State.CLOSED in reachable(state)


def test_closed_and_done_tickets_can_be_reopened() -> None:
    for state in (State.CLOSED, State.RESOLVED, State.FEEDBACK):
        assert TRANSITIONS[state] & {State.TRIAGE, State.IN_PROGRESS}


def test_settable_states_are_states_an_agent_works_in() -> None:
    assert set(SETTABLE) == {State.TRIAGE, State.IN_PROGRESS, State.WAITING_REQUESTER, State.RESOLVED}
