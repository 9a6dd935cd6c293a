"""A ticket's SLA clocks, derived from its ticket_events log.

The desk's policy (``[desk] sla``) names the targets by convention: ``response-P1`` … for the first
response, ``reply-P1`` … for the next reply, ``resolve-P1`` … for the resolution; a target without
the priority suffix (``response``) applies to every priority; a clock with no target is not kept.
The vendor clock uses the ``[vendor] sla`` policy's ``P1``/``P2``/``P3`` targets.

- first response: from the report to the first public message of a human agent (never the bot);
- next reply: from a requester's message that follows an agent's answer to the next agent answer;
- resolution: from the report; paused while waiting for the requester, stopped while deferred,
  resolved or closed, resumed on reopen;
- vendor: from the moment an authorised person reported to the vendor, with its own cut-off.

A priority change keeps every start and swaps the target, so a clock may be breached at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from bot.sla.clock import Pause, SlaClock
from bot.sla.policy import SlaPolicy, SlaTarget
from storage.models import Ticket, TicketEvent

ClockName = Literal["response", "reply", "resolve", "vendor"]
CLOCKS: tuple[ClockName, ...] = ("response", "reply", "resolve", "vendor")

# resolution clock: states in which it waits (pause) or does not run at all (stopped)
PAUSING = frozenset({"waiting_requester"})
STOPPING = frozenset({"deferred", "resolved", "feedback", "closed", "merged"})
# states in which no clock runs any more
ENDED = frozenset({"closed", "merged"})
WARN_FRACTION = 0.75


@dataclass(frozen=True)
class TicketClock:
    name: ClockName
    policy: SlaPolicy
    target: SlaTarget
    clock: SlaClock
    # when the clock met its target for good (first response given, resolved); None while open
    stopped_at: datetime | None
    # paused | stopped | running | met
    status: str

    @property
    def due(self) -> datetime | None:
        return self.clock.due

    def state_at(self, now: datetime) -> str:
        due = self.clock.due
        if self.stopped_at is not None:
            return "breached" if due is not None and self.stopped_at > due else "met"
        if due is not None and now >= due:
            return "breached"
        return self.status

    def remaining(self, now: datetime) -> timedelta:
        return self.clock.remaining(self.stopped_at or now)

    def warn_at(self) -> datetime | None:
        return self.clock.instant_at_fraction(WARN_FRACTION)


def _target(policy: SlaPolicy, clock: str, priority: int, *, bare: bool = False) -> SlaTarget | None:
    names = [f"P{priority}"] if bare else [f"{clock}-P{priority}", clock]
    for name in names:
        if name in policy.targets:
            return policy.targets[name]
    return None


def vendor_target(policy: SlaPolicy, priority: int) -> SlaTarget | None:
    """The vendor policy's target for a ticket of ``priority`` (``P1``/``P2``/``P3``)."""
    return _target(policy, "vendor", priority, bare=True)


def _desk_target(policy: SlaPolicy, ticket: Ticket, clock: str) -> SlaTarget | None:
    """The target a ticket's category names (``ticket.data["targets"]``, from ``[categories]``), else by
    the priority convention."""
    named = ((ticket.data or {}).get("targets") or {}).get(clock)
    if named and named in policy.targets:
        return policy.targets[named]
    return _target(policy, clock, ticket.priority)


def _is_agent_answer(event: TicketEvent, staff_ids: set[int]) -> bool:
    if event.kind == "reply":
        return True
    return event.kind == "message" and event.public and event.actor_id in staff_ids


def first_answer(events: Sequence[TicketEvent], staff_ids: set[int]) -> datetime | None:
    """The first response: the first public message of a human agent (the bot's receipt does not count)."""
    return next((e.at for e in events if _is_agent_answer(e, staff_ids)), None)


def _is_requester_message(event: TicketEvent, requester_id: int) -> bool:
    return event.kind == "message" and event.actor_id == requester_id


def _state_intervals(events: Sequence[TicketEvent], states: frozenset[str]) -> list[Pause]:
    """Intervals the ticket spent in any of ``states`` (an open one while it still is)."""
    intervals: list[Pause] = []
    since: datetime | None = None
    for event in events:
        if event.kind not in ("state", "created"):
            continue
        entering = event.new in states
        if entering and since is None:
            since = event.at
        elif not entering and since is not None:
            intervals.append(Pause(since, event.at))
            since = None
    if since is not None:
        intervals.append(Pause(since, None))
    return intervals


def derive(
    ticket: Ticket,
    events: Sequence[TicketEvent],
    staff_ids: set[int],
    desk_policy: SlaPolicy | None,
    vendor_policy: SlaPolicy | None,
) -> list[TicketClock]:
    """Every clock the ticket has, from its log (events in id order)."""
    clocks: list[TicketClock] = []
    reported = ticket.created_at
    if desk_policy is not None:
        target = _desk_target(desk_policy, ticket, "response")
        if target is not None:
            first = first_answer(events, staff_ids)
            clock = desk_policy.clock(target, reported)
            clocks.append(TicketClock("response", desk_policy, target, clock, first,
                                      "met" if first else "running"))
        target = _target(desk_policy, "reply", ticket.priority)
        if target is not None:
            reply = _next_reply_clock(desk_policy, target, events, staff_ids, ticket.requester_id)
            if reply is not None:
                clocks.append(reply)
        target = _desk_target(desk_policy, ticket, "resolve")
        if target is not None:
            clocks.append(_resolution_clock(desk_policy, target, ticket, events))
    if vendor_policy is not None:
        # by position in the log, not by id: the events of the unit of work in progress have no id yet
        vendor_index = next((index for index, e in enumerate(events) if e.kind == "vendor"), None)
        target = vendor_target(vendor_policy, ticket.priority)
        if vendor_index is not None and target is not None:
            back = next((e.at for e in events[vendor_index + 1:] if e.kind == "state" and e.old == "vendor"), None)
            clock = vendor_policy.clock(target, events[vendor_index].at)
            clocks.append(TicketClock("vendor", vendor_policy, target, clock, back, "met" if back else "running"))
    if ticket.state in ENDED:
        # a closed or merged ticket waits for nothing: its open clocks stop (no warning, no breach)
        clocks = [replace(c, status="stopped") if c.stopped_at is None and c.status == "running" else c
                  for c in clocks]
    return clocks


def _next_reply_clock(policy: SlaPolicy, target: SlaTarget, events: Sequence[TicketEvent], staff_ids: set[int],
                      requester_id: int) -> TicketClock | None:
    """Runs from the requester's first message after an agent's answer until the next answer."""
    answered = False
    waiting_since: datetime | None = None
    last: TicketClock | None = None
    for event in events:
        if _is_agent_answer(event, staff_ids):
            if waiting_since is not None:
                clock = policy.clock(target, waiting_since)
                last = TicketClock("reply", policy, target, clock, event.at, "met")
                waiting_since = None
            answered = True
        elif answered and waiting_since is None and _is_requester_message(event, requester_id):
            waiting_since = event.at
    if waiting_since is not None:
        return TicketClock("reply", policy, target, policy.clock(target, waiting_since), None, "running")
    return last


def _resolution_clock(policy: SlaPolicy, target: SlaTarget, ticket: Ticket,
                      events: Sequence[TicketEvent]) -> TicketClock:
    pauses = _state_intervals(events, PAUSING) + _state_intervals(events, STOPPING)
    clock = policy.clock(target, ticket.created_at, pauses)
    if ticket.state in STOPPING:
        # resolved or closed: met (or breached) at that moment; deferred: held, not met
        since = max((p.start for p in clock.pauses if p.end is None), default=None)
        if ticket.state == "deferred":
            return TicketClock("resolve", policy, target, clock, None, "stopped")
        return TicketClock("resolve", policy, target, clock, since, "met")
    status = "paused" if ticket.state in PAUSING else "running"
    return TicketClock("resolve", policy, target, clock, None, status)
