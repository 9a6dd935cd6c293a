"""The config sections of the handbooks' processes (issue 9), with the checks that reach other sections.

```toml
[[routing]]                       # topic by keyword or channel, and who gets it (substitutes in order)
topic = "blog2social"
keywords = ["blog2social", "b2s"]
channels = ["#b2s"]
assignees = ["severin", "dennis"]

[vendor]                          # reporting to the vendor (/ticket vendor ID)
name = "Hosting vendor"
authorised = ["dave", "erin"]
sla = "vendor"                    # the vendor clock's [sla] policy
phone = "+49 30 999"
emergency_phone = "+49 171 999"   # offered outside the vendor's hours (default: phone)

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
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from bot.core.config import (
    PersonKeys,
    PolicyName,
    Section,
    defined,
    did_you_mean,
    is_loading,
    keys_of,
    refuse,
    unknown,
)
from bot.sla.durations import WallDuration

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

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class RoutingRule(Section):
    topic: str
    keywords: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    assignees: PersonKeys = Field(default_factory=list)


class VendorConfig(Section):
    name: str = "vendor"
    authorised: PersonKeys = Field(default_factory=list)
    sla: PolicyName | None = None
    phone: str | None = None
    # offered outside the vendor's hours for emergencies (default: phone)
    emergency_phone: str | None = None


def known_topics() -> frozenset[str] | None:
    """The topics the config being loaded names: [[routing]] topics, [categories.*], the [deletion] topic."""
    if not is_loading():
        return None
    routing = defined("routing")
    topics = {rule["topic"] for rule in routing if isinstance(rule, dict) and isinstance(rule.get("topic"), str)} \
        if isinstance(routing, list) else set()
    topics |= keys_of("categories") or set()
    deletion = defined("deletion")
    if isinstance(deletion, dict):
        topic = deletion.get("topic", "deletion")
        topics |= {topic} if isinstance(topic, str) else set()
    return frozenset(topics)


class IntakeRule(Section):
    topic: str  # "*": every ticket
    required: list[str]

    @field_validator("topic")
    @classmethod
    def _known_topic(cls, value: str) -> str:
        """Where the desk names its topics, an intake rule is for one of them (a misspelt one never applies)."""
        known = known_topics()
        if known and value != "*" and value not in known:
            refuse(("", unknown("topic", value, known, "topics") + "; or \"*\" for every ticket"))
        return value

    @field_validator("required")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        strange = [name for name in value if name not in DOC_FIELDS]
        if strange:
            guesses = [f"\"{guess}\"" for name in strange if (guess := did_you_mean(name, DOC_FIELDS))]
            hint = f"; did you mean {', '.join(guesses)}?" if guesses else ""
            raise ValueError(f"unknown field(s) {', '.join(strange)}{hint}; known: {', '.join(DOC_FIELDS)}")
        if len(set(value)) != len(value):
            raise ValueError("a field is listed twice")
        return value


def _one_rule_per_topic(rules: list[IntakeRule]) -> list[IntakeRule]:
    topics = [rule.topic for rule in rules]
    if len(set(topics)) != len(topics):
        raise ValueError("a topic has two [[intake]] entries; merge them")
    return rules


Intake = Annotated[list[IntakeRule], AfterValidator(_one_rule_per_topic)]


class ChecklistItem(Section):
    key: str
    label: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("a short lower-case name, e.g. \"outage\"")
        return value


class TriageConfig(Section):
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


class CategoryConfig(Section):
    label: str | None = None
    priority: int | None = None
    response: str | None = None  # a target of the desk's [sla] policy (first response)
    resolve: str | None = None   # … and of the resolution clock

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | None) -> int | None:
        if value is not None and value not in (1, 2, 3):
            raise ValueError("priority is 1 (high), 2 (normal) or 3 (low)")
        return value

    @field_validator("response", "resolve")
    @classmethod
    def _target_of_the_desk_policy(cls, value: str | None) -> str | None:
        if value is None or not is_loading():
            return value
        policy = defined("desk", "sla")
        if policy is None:
            raise ValueError("the desk has no SLA policy; set [desk] sla")
        targets = keys_of("sla", str(policy), "targets")
        if targets and value not in targets:  # none: the policy is unknown or broken, a problem of its own
            raise ValueError(unknown("target", value, targets, "targets", of=f"policy \"{policy}\""))
        return value


class FaqEntry(Section):
    title: str
    url: str


class DeferralConfig(Section):
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


class DeletionConfig(Section):
    accounting: PersonKeys
    topic: str = "deletion"
    keywords: list[str] = Field(default_factory=list)
    urgent_reasons: list[str] = Field(default_factory=list)

    @field_validator("accounting")
    @classmethod
    def _someone(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name who gets a deletion once the order is in")
        return value


class ResolutionConfig(Section):
    require_solution: bool = True
    ask_feedback: bool = True
    feedback_wait: WallDuration = timedelta(days=3)
