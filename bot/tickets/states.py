"""The ticket state machine of DESIGN.md and its guards."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from bot.core.errors import Refused, Worded
from bot.i18n import t


class State(StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    IN_PROGRESS = "in_progress"
    WAITING_REQUESTER = "waiting_requester"
    RESOLVED = "resolved"
    FEEDBACK = "feedback"
    CLOSED = "closed"
    VENDOR = "vendor"
    DEFERRED = "deferred"
    MERGED = "merged"


OPEN_STATES = frozenset(
    {State.NEW, State.TRIAGE, State.IN_PROGRESS, State.WAITING_REQUESTER, State.VENDOR, State.DEFERRED}
)
DONE_STATES = frozenset({State.RESOLVED, State.FEEDBACK, State.CLOSED, State.MERGED})

_WORKING = {State.IN_PROGRESS, State.WAITING_REQUESTER, State.RESOLVED, State.CLOSED, State.DEFERRED,
            State.MERGED, State.VENDOR}

TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.TRIAGE, *_WORKING}),
    State.TRIAGE: frozenset(_WORKING),
    State.IN_PROGRESS: frozenset(_WORKING - {State.IN_PROGRESS} | {State.TRIAGE}),
    # a duplicate can be merged from any open state; a reopened ticket without an assignee goes to triage
    State.WAITING_REQUESTER: frozenset({State.TRIAGE, State.IN_PROGRESS, State.RESOLVED, State.CLOSED, State.DEFERRED,
                                        State.MERGED}),
    State.VENDOR: frozenset({State.IN_PROGRESS, State.WAITING_REQUESTER, State.RESOLVED, State.CLOSED, State.MERGED}),
    State.DEFERRED: frozenset({State.TRIAGE, State.IN_PROGRESS, State.CLOSED, State.MERGED}),
    State.RESOLVED: frozenset({State.FEEDBACK, State.CLOSED, State.IN_PROGRESS, State.TRIAGE}),
    State.FEEDBACK: frozenset({State.CLOSED, State.IN_PROGRESS, State.TRIAGE}),
    State.CLOSED: frozenset({State.IN_PROGRESS, State.TRIAGE}),
    State.MERGED: frozenset(),
}

# states an agent may set directly with `/ticket status`; the others have their own commands
SETTABLE = (State.TRIAGE, State.IN_PROGRESS, State.WAITING_REQUESTER, State.RESOLVED)


def state_word(state: State) -> Worded:
    """A state in a refusal: its value for code, its name for the reader."""
    return Worded(state.value, lambda lang: t(lang, f"state.{state.value}"))


def states_word(states: Iterable[State]) -> Worded:
    values = sorted(s.value for s in states)
    return Worded(", ".join(values) or "—", lambda lang: ", ".join(t(lang, f"state.{v}") for v in values))


def check(current: State, target: State, *, has_assignee: bool) -> None:
    """Raises :class:`Refused` unless ``current → target`` is allowed."""
    if current == target:
        raise Refused("ticket.already_in_state", state=state_word(current))
    if target not in TRANSITIONS[current]:
        raise Refused("ticket.bad_transition", old=state_word(current), new=state_word(target),
                      allowed=states_word(TRANSITIONS[current]))
    if target == State.IN_PROGRESS and not has_assignee:
        raise Refused("ticket.needs_assignee")
