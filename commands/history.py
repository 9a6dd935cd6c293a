"""A ticket's history as its reader reads it: states, fields, checklist items, deletion steps and people by their
names in the reader's language, instants in the reader's zone (``/ticket show``). The log keeps keys; only
this wording turns them into words."""

from __future__ import annotations

import contextlib
from datetime import datetime

from bot.core.context import Context
from bot.duty.notify import day_text, name_of
from bot.routing.deletion import step_label
from bot.workflow import rules, triage
from storage.models import Person, TicketEvent

_CHOICES = {"satisfied": "workflow.satisfaction_satisfied", "notfixed": "workflow.satisfaction_notfixed"}


async def _person(ctx: Context, value: str | None) -> str:
    """A person named in an event: a people key, or (older assignment events) a person's row id."""
    if not value:
        return ""
    if value in ctx.desk.settings.people:
        return name_of(ctx.desk, value)
    if value.isdigit():
        person = await ctx.session.get(Person, int(value))
        return person.display_name if person is not None else value
    return value


def _route_note(ctx: Context, body: str | None) -> str:
    """Why a ticket was routed as it was, from the codes routing logs (``substitute:anna:2026-11-25``,
    ``away:anna:2026-11-25``, ``nobody:ben,carla``); older English notes are shown as they were written."""
    if not body:
        return ""
    code, _, rest = body.partition(":")
    lang = ctx.actor.language
    if code == "substitute":
        who, _, last = rest.partition(":")
        if last:
            return ctx.t("event.route_substitute_until", who=name_of(ctx.desk, who),
                         last=day_text(lang, datetime.fromisoformat(last).date()))
        return ctx.t("event.route_substitute", who=name_of(ctx.desk, who))
    if code == "away":
        who, _, last = rest.partition(":")
        return ctx.t("event.route_away", who=name_of(ctx.desk, who),
                     last=day_text(lang, datetime.fromisoformat(last).date()))
    if code == "nobody":
        return ctx.t("event.route_nobody", people=", ".join(name_of(ctx.desk, key) for key in rest.split(",") if key))
    return body


async def worded(ctx: Context, event: TicketEvent, kind: str) -> dict[str, str]:
    """``old``, ``new`` and ``body`` of an event, worded for the reader."""
    old, new, body = event.old or "", event.new or "", event.body or ""
    lang = ctx.actor.language
    if kind == "state":
        old, new = (ctx.t(f"state.{value}") if value else "" for value in (old, new))
    elif kind in ("assign", "unassign"):
        old, new = await _person(ctx, old), await _person(ctx, new)
    elif kind == "doc":
        old = rules.label(lang, old)
    elif kind in ("check", "uncheck"):
        labels = {item.key: item.label for item in triage.items(ctx.desk.settings)}
        new = labels.get(new, new)
    elif kind == "deletion":
        old = step_label(lang, old)
        if body == "paid":
            body = ctx.t("deletion.paid")
        elif body.startswith("exception: "):
            body = ctx.t("deletion.exception", reason=body.removeprefix("exception: "))
    elif kind == "route":
        body = _route_note(ctx, body)
    elif kind == "vendor_queued" and new:
        with contextlib.suppress(ValueError):  # an older row's text stays as it was
            new = ctx.when(datetime.fromisoformat(new))
    elif kind == "feedback" and new in _CHOICES:
        new = ctx.t(_CHOICES[new])
    return {"old": old, "new": new, "body": body}
