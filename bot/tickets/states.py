"""The ticket state machine of DESIGN.md and its guards."""

from __future__ import annotations

from enum import StrEnum


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


class TransitionRefused(Exception):
    """A change the state machine does not allow; ``key`` and ``values`` make the user's message."""

    def __init__(self, key: str, /, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def check(current: State, target: State, *, has_assignee: bool) -> None:
    """Raises :class:`TransitionRefused` unless ``current → target`` is allowed."""
    if current == target:
        raise TransitionRefused("ticket.already_in_state", state=current.value)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "—"
        raise TransitionRefused("ticket.bad_transition", old=current.value, new=target.value, allowed=allowed)
    if target == State.IN_PROGRESS and not has_assignee:
        raise TransitionRefused("ticket.needs_assignee")
