"""Routing (PR vendor's "Ticketzuweisung"): which topic a ticket has and who gets it.

A ticket's topic is the one chosen (``/ticket -t TOPIC``, the form's topic), else the first
``[[routing]]`` rule (in config order, most specific first) with a keyword that starts a word of the
report, else the first rule that lists the channel it came from; a report with a keyword of
``[deletion]`` is a deletion (its topic) before anything else. The rule's ``assignees`` are in
order: the first who is not away today (``/duty away``, ``/duty sick``: the duty absences) gets the
ticket, the next ones are the substitutes.

The topic is also the ticket's category: ``[categories.TOPIC]`` gives it a priority (unless the
requester chose one, or the urgency set it) and the desk SLA targets of its clocks.
"""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import person_by_key
from bot.core.desk import Desk
from bot.duty.notify import name_of, post_duty, tell
from bot.i18n import t
from bot.settings import Settings
from bot.tickets import service
from bot.workflow.config import CategoryConfig, RoutingRule
from storage.models import DutyAbsence, Ticket


def _matches(keyword: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(keyword.lower()), text.lower()) is not None


def choose(settings: Settings, *, text: str, topic: str | None, channel: str | None) -> RoutingRule | None:
    """The routing rule of a report (see the module docstring for the order)."""
    rules = settings.routing
    deletion = settings.deletion
    if topic:
        if deletion is not None and topic == deletion.topic:
            return RoutingRule(topic=deletion.topic)
        return next((rule for rule in rules if rule.topic == topic), None)
    # a deletion request names the product too: it is a deletion first
    if deletion is not None and any(_matches(keyword, text) for keyword in deletion.keywords):
        return RoutingRule(topic=deletion.topic)
    for rule in rules:
        if any(_matches(keyword, text) for keyword in rule.keywords):
            return rule
    if channel:
        for rule in rules:
            if channel in rule.channels:
                return rule
    return None


def known_topics(settings: Settings) -> list[str]:
    """The topics a ticket can have: the routing rules', the categories', the deletion workflow's."""
    topics = [rule.topic for rule in settings.routing]
    topics += [name for name in settings.categories if name not in topics]
    if settings.deletion is not None and settings.deletion.topic not in topics:
        topics.append(settings.deletion.topic)
    return topics


def topic_for(settings: Settings, *, text: str, topic: str | None, channel: str | None) -> str | None:
    if topic:
        return topic
    rule = choose(settings, text=text, topic=None, channel=channel)
    return rule.topic if rule is not None else None


def category(settings: Settings, topic: str | None) -> CategoryConfig | None:
    return settings.categories.get(topic) if topic else None


def initial_priority(settings: Settings, topic: str | None, given: int | None) -> tuple[int, str]:
    """(priority, source) of a new ticket: chosen by the requester, else by its category, else 2."""
    if given is not None:
        return given, "given"
    cat = category(settings, topic)
    if cat is not None and cat.priority is not None:
        return cat.priority, "category"
    return 2, "default"


def today(desk: Desk) -> date:
    return desk.clock.now().astimezone(ZoneInfo(desk.settings.desk.timezone)).date()


async def absence(session: AsyncSession, key: str, day: date) -> DutyAbsence | None:
    """The vacation or sickness of ``key`` that covers ``day``, if any."""
    return await session.scalar(
        select(DutyAbsence).where(DutyAbsence.person == key, DutyAbsence.cancelled.is_(False),
                                  DutyAbsence.first_day <= day, DutyAbsence.last_day >= day)
        .order_by(DutyAbsence.id.desc()).limit(1))


async def pick(session: AsyncSession, desk: Desk, candidates: list[str]) -> tuple[str | None, list[str]]:
    """The first candidate who is not away today, and the ones skipped because they are.

    When every candidate is away, the substitute the first of them named for the absence
    (``/duty away FROM TO @SUBSTITUTE``: the handbook's "Vertretung, wird benannt") takes it, if
    they are on the team and not away themselves."""
    day = today(desk)
    skipped: list[str] = []
    named: list[str] = []
    for key in candidates:
        away = await absence(session, key, day)
        if away is None:
            return key, skipped
        skipped.append(key)
        if away.substitute and away.substitute not in candidates:
            named.append(away.substitute)
    for key in named:
        if key in desk.settings.people and await absence(session, key, day) is None:
            return key, skipped
    return None, skipped


def apply_category(session: AsyncSession, desk: Desk, ticket: Ticket) -> None:
    """The category's SLA targets and (unless chosen otherwise) its priority."""
    cat = category(desk.settings, ticket.topic)
    if cat is None:
        return
    data = dict(ticket.data or {})
    targets = {clock: name for clock in ("response", "resolve") if (name := getattr(cat, clock))}
    if targets and data.get("targets") != targets:
        data["targets"] = targets
        service.touch(session, ticket)
    # the ticket form sets the priority from its urgency answer (or the form's priority field)
    source = data.get("priority_source") or ("urgency" if (data.get("doc") or {}).get("urgency") else None)
    if cat.priority is not None and source not in ("given", "urgency", "team"):
        data["priority_source"] = "category"
        if ticket.priority != cat.priority:
            old = ticket.priority
            ticket.priority = cat.priority
            service.log(session, ticket, "priority", desk.clock.now(), None, old=str(old), new=str(cat.priority),
                        body=f"category {ticket.topic}")
            if cat.priority == 1:
                service.raised(session, ticket)
            elif old == 1:
                service.lowered(session, ticket)
            service.tell_requester(session, desk, ticket, "routing.category_priority", old=old, new=cat.priority,
                                   category=cat.label or ticket.topic)
    ticket.data = data


async def route(session: AsyncSession, desk: Desk, ticket: Ticket, *, topic: str | None = None,
                reassign: bool = False) -> str | None:
    """Gives ``ticket`` its topic, category and assignee by the rules; returns the assignee's key.

    A ticket that has an assignee keeps it unless ``reassign``."""
    settings = desk.settings
    if topic is not None and topic != ticket.topic:
        ticket.topic = topic
    rule = choose(settings, text=f"{ticket.title}\n{ticket.description}", topic=ticket.topic,
                  channel=ticket.origin_channel)
    if rule is not None and ticket.topic is None:
        ticket.topic = rule.topic
    apply_category(session, desk, ticket)
    if rule is None or not rule.assignees or (ticket.assignee_id is not None and not reassign):
        return None
    chosen, skipped = await pick(session, desk, list(rule.assignees))
    now = desk.clock.now()
    if chosen is None:
        service.log(session, ticket, "route", now, None, new=rule.topic, body="nobody:" + ",".join(skipped))
        post_duty(desk, session, "routing.nobody", ticket=ticket.key, key=ticket.key, topic=rule.topic,
                  people=", ".join(name_of(desk, key) for key in skipped))
        return None
    await assign_key(session, desk, ticket, chosen, topic=rule.topic, instead_of=skipped[0] if skipped else None)
    return chosen


# ticket.data[ROUTED]: who routing gave the ticket to, for which topic; while that person still has it,
# the ticket follows their absences (bot.routing.away); an assignment by hand ends that
ROUTED = "routed"


async def assign_key(session: AsyncSession, desk: Desk, ticket: Ticket, key: str, *, topic: str | None,
                     instead_of: str | None = None, note_key: str = "routing.assigned_to_you") -> None:
    """Assigns ``ticket`` to the person ``key`` on the bot's behalf and tells them by DM."""
    person = await person_by_key(session, key)
    if person is None:
        return
    old = ticket.assignee_id
    ticket.assignee_id = person.id
    # a new dict: an in-place change of a flushed JSON value would go unnoticed
    ticket.data = {**(ticket.data or {}), ROUTED: {"topic": topic, "assignee": key}}
    now = desk.clock.now()
    service.log(session, ticket, "assign", now, None, old=str(old) if old else None, new=key)
    service.log(session, ticket, "route", now, None, new=topic,
                body=f"substitute:{instead_of}" if instead_of else None)
    def substitute(lang: str) -> str:
        return t(lang, "routing.substitute", who=name_of(desk, instead_of)) if instead_of else ""

    await tell(session, desk, key, note_key, key=ticket.key, priority=ticket.priority, topic=topic or "—",
               title=ticket.title, substitute=substitute, ticket=ticket.key)
