"""The config sections of the handbooks' processes (issue 9) and their cross-checks.

```toml
[access]                          # desk roles from platform groups, on top of [people.*] roles
slack_groups = { agent = "S0123", lead = ["S0456"] }
matrix_rooms = { agent = "!team:example.org" }

[[intake]]                        # the documentation a ticket of a topic needs ("*": every ticket)
topic = "technical"
required = ["os", "browser", "steps", "object_id", "urgency"]

[triage]                          # the internal analysis checklist agents tick (/ticket check ID ITEM)
checklist = [{ key = "outage", label = "Really an outage?" }, …]
before_vendor = true              # every item ticked before the vendor is asked

[categories.organizers]           # category (= topic) → priority and desk SLA targets
priority = 1
response = "response-P1"          # a target of the desk's [sla] policy (first response)
resolve = "merge"                 # … and for the resolution clock

[faq.registration]                # standard answers: /ticket answer ID faq:registration
title = "Registering participants"
url = "https://example.org/faq/registration"

[deferral]                        # /ticket defer ID REASON DATE: reasons from the handbook's list
reasons = { no_repro = "Cannot be reproduced", … }
review_at = "10:00"               # the reminder on the review date, wall time of the desk's calendar

[deletion]                        # the deletion workflow (/ticket deletion ID STEP …)
accounting = ["linda", "khadija"] # the ticket goes to them (substitutes in order) once the order is in
topic = "loeschung"
urgent_reasons = ["abmahnung"]    # reasons that mean: delete on the own portals at once

[resolution]                      # closing the loop
require_solution = true           # resolved only with a solution (/ticket solve ID TEXT|URL)
ask_feedback = true               # the requester is asked: satisfied / not fixed
feedback_wait = "3d"              # no answer within this (wall) time closes the ticket
```
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from bot.settings import Settings

STAFF = ("agent", "lead", "coordinator", "admin")

# the documentation fields of the handbooks (000 step 4, 003 2.2/2.4, 004 "Technische Probleme")
DOC_FIELDS = (
    "description",   # exact description of what happened
    "steps",         # steps to reproduce
    "object_id",     # the id of the object concerned (003 2.2)
    "os",            # operating system and version
    "browser",       # browser and version
    "environment",   # OS and browser in one answer (the ticket form)
    "connection",    # LAN, WLAN, mobile
    "image",         # image upload: format, size, dimensions, program
    "screenshot",    # a screenshot as an attachment (JPG, GIF, PNG)
    "reachability",  # when and how the requester can be reached
    "urgency",       # SHOW-STOPPER / LIMITED USABILITY / NICE TO HAVE
    "frequency",     # has it happened before, to which customers
    "login",         # the login or e-mail of the account (003 2.5)
)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def wall_span(text: str) -> timedelta:
    """``30m``, ``2h``, ``3d``: wall-clock time."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"\"{text}\" is not a duration; use e.g. 30m, 2h or 3d")
    return timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessConfig(_Section):
    # role → platform group id(s): a Slack user group ("S0123") or a Matrix room ("!room:server")
    slack_groups: dict[str, str | list[str]] = Field(default_factory=dict)
    matrix_rooms: dict[str, str | list[str]] = Field(default_factory=dict)

    @field_validator("slack_groups", "matrix_rooms")
    @classmethod
    def _roles(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for role in value:
            if role not in STAFF:
                raise ValueError(f"unknown role \"{role}\"; roles are {', '.join(STAFF)} "
                                 "(anyone else is a requester)")
        return value

    def groups(self, platform: str) -> dict[str, list[str]]:
        """role → group ids for a platform; the simulator and the console see both kinds."""
        tables = {"slack": [self.slack_groups], "matrix": [self.matrix_rooms]}.get(
            platform, [self.slack_groups, self.matrix_rooms])
        out: dict[str, list[str]] = {}
        for table in tables:
            for role, ids in table.items():
                out.setdefault(role, []).extend([ids] if isinstance(ids, str) else ids)
        return out


class IntakeRule(_Section):
    topic: str
    required: list[str]

    @field_validator("required")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in DOC_FIELDS]
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(DOC_FIELDS)}")
        if len(set(value)) != len(value):
            raise ValueError("a field is listed twice")
        return value


class ChecklistItem(_Section):
    key: str
    label: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("a short lower-case name, e.g. \"outage\"")
        return value


class TriageConfig(_Section):
    checklist: list[ChecklistItem]
    before_vendor: bool = True

    @field_validator("checklist")
    @classmethod
    def _unique(cls, value: list[ChecklistItem]) -> list[ChecklistItem]:
        keys = [item.key for item in value]
        if len(set(keys)) != len(keys):
            raise ValueError("checklist keys must be unique")
        if not value:
            raise ValueError("a checklist needs at least one item")
        return value


class CategoryConfig(_Section):
    label: str | None = None
    priority: int | None = None
    response: str | None = None
    resolve: str | None = None

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | None) -> int | None:
        if value is not None and value not in (1, 2, 3):
            raise ValueError("priority is 1 (high), 2 (normal) or 3 (low)")
        return value


class FaqEntry(_Section):
    title: str
    url: str


class DeferralConfig(_Section):
    reasons: dict[str, str]
    review_at: str = "09:00"

    @field_validator("reasons")
    @classmethod
    def _reasons(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("list the reasons a ticket may be deferred for")
        for key in value:
            if not _KEY.match(key):
                raise ValueError(f"reason \"{key}\": a short lower-case name, e.g. \"no_repro\"")
        return value

    @field_validator("review_at")
    @classmethod
    def _time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("a wall time like \"09:00\"")
        return value


class DeletionConfig(_Section):
    accounting: list[str]
    topic: str = "deletion"
    keywords: list[str] = Field(default_factory=list)
    urgent_reasons: list[str] = Field(default_factory=list)


class ResolutionConfig(_Section):
    require_solution: bool = True
    ask_feedback: bool = True
    feedback_wait: str = "3d"

    @field_validator("feedback_wait")
    @classmethod
    def _wait(cls, value: str) -> str:
        wall_span(value)
        return value


def check(settings: Settings) -> list[str]:
    """Cross-section checks of the process sections (one line per problem)."""
    src = settings.source
    problems: list[str] = []
    people = settings.people

    def need_person(key: str, where: str) -> None:
        if key not in people:
            known = ", ".join(sorted(people)) or "none defined"
            problems.append(f"{src}: {where}: unknown person \"{key}\" (people: {known}); add [people.{key}]")

    policy = settings.sla.get(settings.desk.sla) if settings.desk.sla else None
    for name, category in settings.categories.items():
        for clock in ("response", "resolve"):
            target = getattr(category, clock)
            if target is None:
                continue
            if policy is None:
                problems.append(f"{src}: categories.{name}.{clock}: the desk has no SLA policy; set [desk] sla")
            elif target not in policy.targets:
                known = ", ".join(sorted(policy.targets))
                problems.append(f"{src}: categories.{name}.{clock}: unknown target \"{target}\" of policy "
                                f"\"{settings.desk.sla}\" (targets: {known})")
    topics = [rule.topic for rule in settings.intake]
    if len(set(topics)) != len(topics):
        problems.append(f"{src}: intake: a topic has two [[intake]] entries; merge them")
    if settings.deletion is not None:
        if not settings.deletion.accounting:
            problems.append(f"{src}: deletion.accounting: name who gets a deletion once the order is in")
        for i, key in enumerate(settings.deletion.accounting):
            need_person(key, f"deletion.accounting[{i}]")
    return problems
