"""Roles and permissions of a desk.

Roles: ``requester`` (anyone who writes to the bot and holds no other role), ``agent``, ``lead``,
``coordinator`` and ``admin`` (may do everything). A person's roles come from ``[people.KEY] roles``
and from the platform groups of ``[access]`` (see :mod:`bot.access.groups`).

What each role may do:

- a requester sees and changes only their own tickets (and tickets merged with theirs), fills in
  their documentation, answers the satisfaction question, searches the FAQ;
- agents (and leads) see every ticket, internal notes, the triage checklist and ``/queue``;
- a coordinator without the agent role is staff (takes tickets, duty) but sees no internal notes
  and no queue details;
- admins may do everything.

Every refusal says why (the ``access.*`` sentences).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.context import Actor

ROLES = ("requester", "agent", "lead", "coordinator", "admin")
STAFF_ROLES = ("agent", "lead", "coordinator", "admin")
# who works the tickets: sees internal notes, the checklist, the queue details
AGENT_ROLES = frozenset({"agent", "lead", "admin"})

# the permission of a command → the catalogue key of its refusal
REFUSALS = {
    "staff": "access.staff_only",
    "agent": "access.needs_agent",
    "lead": "access.needs_lead",
    "coordinator": "access.needs_coordinator",
    "admin": "access.needs_admin",
}


def is_agent(actor: Actor) -> bool:
    """Works tickets: an agent, a lead or an admin."""
    return bool(actor.roles & AGENT_ROLES)


def sees_internal(actor: Actor) -> bool:
    """Internal notes, the triage checklist and routing details are for agents only."""
    return is_agent(actor)


def refusal(actor: Actor, permission: str) -> str | None:
    """The catalogue key of the refusal for ``actor`` and a command's ``permission``, or None if allowed."""
    if permission == "anyone":
        return None
    if not actor.is_staff:
        return REFUSALS["staff"]
    if permission == "staff":
        return None
    if permission == "agent":
        return None if is_agent(actor) else REFUSALS["agent"]
    return None if actor.has(permission) else REFUSALS[permission]


def role_names(actor: Actor) -> str:
    """The actor's roles for a refusal: ``agent, lead`` or ``requester``."""
    return ", ".join(r for r in ROLES if r in actor.roles) or "requester"
