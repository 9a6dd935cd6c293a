"""The handbooks' processes on a ticket: `/ticket doc`, `/ticket check`/`uncheck` (triage checklist),
`/ticket route`, `/ticket answer ID faq:KEY`, `/ticket defer`, `/ticket merge`, `/ticket deletion`."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, field_validator

from bot import access, kb, routing
from bot.contacts import reach
from bot.core.context import Context
from bot.core.errors import BadValue, Refused, Worded
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.duty.notify import name_of
from bot.i18n import LANGUAGES, t
from bot.i18n.format import typed_day
from bot.routing import deletion
from bot.routing.deletion import step_label
from bot.tickets import service
from bot.workflow import defer as deferral
from bot.workflow import intake, rules, triage
from bot.workflow.config import DOC_FIELDS
from commands.ticket import KEY_ARG, KeyArgs, _key, confirmed, load, reply
from storage.models import Ticket

CHECK, OPEN = "✓", "☐"
_DAYS_AHEAD = re.compile(r"\+(\d{1,3})|\+?(\d{1,3})\s*(?:d|days?|t|tage?n?|д|дн|день|дня|дней)\.?")


class DocArgs(KeyArgs):
    field: str | None = None
    value: str | None = None

    @field_validator("field")
    @classmethod
    def _field(cls, value: str | None) -> str | None:
        if value is None:
            return value
        name = value.strip().lower().replace("-", "_")
        if name in DOC_FIELDS:
            return name
        for lang in LANGUAGES:  # the field's name as the reader's language calls it
            for key in DOC_FIELDS:
                if t(lang, f"intake.field.{key}").lower() == value.strip().lower():
                    return key
        raise BadValue("args.doc_field", value=value[:40], fields=Worded(
            ", ".join(DOC_FIELDS),
            lambda lang: ", ".join(f"{key} ({t(lang, f'intake.field.{key}')})" for key in DOC_FIELDS)))


class CheckArgs(KeyArgs):
    item: str | None = None
    note: str | None = None


class RouteArgs(KeyArgs):
    topic: str | None = None


class AnswerArgs(KeyArgs):
    ref: str
    text: str | None = None


class DeferArgs(KeyArgs):
    reason: str
    day: str
    note: str | None = None


class MergeArgs(BaseModel):
    keep: str
    duplicate: str

    _k = field_validator("keep", "duplicate")(classmethod(lambda cls, v: _key(v)))


class DeletionArgs(KeyArgs):
    step: str | None = None
    text: str | None = None


# --------------------------------------------------------------------------- /ticket show


def detail_lines(ctx: Context, ticket: Ticket) -> list[str]:
    """The processes' state of a ticket for `/ticket show` (the checklist and deletion steps for agents)."""
    settings = ctx.desk.settings
    lang = ctx.actor.language
    data = ticket.data or {}
    agent = access.sees_internal(ctx.actor)
    lines: list[str] = []
    doc = data.get("doc") or {}
    rule = rules.rule_for(settings, ticket.topic)
    fields = [*(rule.required if rule else []), *(f for f in doc if not rule or f not in rule.required)]
    if fields:
        given = [f"{rules.label(lang, f)}: {doc[f]}" for f in fields if doc.get(f)]
        lines.append(ctx.t("workflow.show_doc", doc=" · ".join(given) or "—"))
        missing = rules.missing(settings, ticket)
        if missing:
            lines.append(ctx.t("workflow.show_missing", fields=rules.labels(lang, missing)))
    if agent and settings.triage is not None:
        ticks = triage.ticks(ticket)
        items = triage.items(settings)
        shown = [f"{CHECK if item.key in ticks else OPEN} {item.label}"
                 + (f" ({ticks[item.key]['by']})" if item.key in ticks else "") for item in items]
        lines.append(ctx.t("workflow.show_checklist", done=len([i for i in items if i.key in ticks]),
                           total=len(items), items=" · ".join(shown)))
    vendor = data.get("vendor")
    if vendor:
        lines.append(ctx.t("workflow.show_vendor", vendor=settings.vendor.name if settings.vendor else "vendor",
                           id=vendor.get("ticket") or "—",
                           who=name_of(ctx.desk, vendor["by"]) if vendor.get("by") else "—"))
    queued = data.get("vendor_queued")
    if queued and not vendor:
        opens = ctx.when(_parse(queued["opens"]))
        lines.append(ctx.t("workflow.show_vendor_queued", opens=opens))
    deferred = data.get("deferral")
    if deferred and ticket.state == "deferred":
        lines.append(ctx.t("workflow.show_deferred", reason=deferred.get("label", "?"), date=deferred.get("review")))
    if data.get("merged_into"):
        lines.append(ctx.t("workflow.show_merged_into", into=data["merged_into"]))
    if data.get("merged"):
        lines.append(ctx.t("workflow.show_merged", keys=", ".join(data["merged"])))
    solution = data.get("solution")
    if solution:
        lines.append(ctx.t("workflow.show_solution", text=solution.get("text", "")))
    if data.get("satisfaction"):
        lines.append(ctx.t("workflow.show_satisfaction", answer=ctx.t(f"workflow.satisfaction_{data['satisfaction']}")))
    if agent and "deletion" in data:
        steps = data["deletion"]
        lang = ctx.actor.language
        progress = " · ".join(f"{CHECK if step in steps else OPEN} {step_label(lang, step)}" for step in deletion.STEPS)
        following = deletion.next_step(ticket)
        state = ctx.t("workflow.deletion_next", step=step_label(lang, following)) if following else \
            ctx.t("workflow.deletion_with", who=name_of(ctx.desk, steps.get("accounting")))
        lines.append(ctx.t("workflow.show_deletion", steps=progress, next=state))
    return lines


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --------------------------------------------------------------------------- documentation


async def doc(ctx: Context, args: DocArgs) -> list[Reply]:
    ticket = await load(ctx, args.key)
    lang = ctx.actor.language
    if args.field is None or not (args.value or "").strip():
        missing = rules.missing(ctx.desk.settings, ticket)
        if args.field is not None:
            raise Refused("intake.needs_value", key=ticket.key, field=args.field)
        if not missing:
            return reply(ctx, "intake.nothing_missing", key=ticket.key, ticket=ticket.key)
        return reply(ctx, "intake.missing_list", key=ticket.key, ticket=ticket.key,
                     fields=", ".join(f"{f} ({rules.label(lang, f)})" for f in missing), prefix=ctx.prefix,
                     example=missing[0])
    if args.field == "screenshot":
        raise Refused("intake.screenshot_as_file", key=ticket.key)
    left = await intake.fill(ctx.session, ctx.desk, ticket, args.field, args.value or "", ctx.actor.person)
    if left:
        return reply(ctx, "intake.saved", key=ticket.key, ticket=ticket.key, field=rules.label(lang, args.field),
                     fields=rules.labels(lang, left))
    return reply(ctx, "intake.saved_complete", key=ticket.key, ticket=ticket.key,
                 field=rules.label(lang, args.field))


# --------------------------------------------------------------------------- triage checklist


def _checklist_text(ctx: Context, ticket: Ticket) -> str:
    ticks = triage.ticks(ticket)
    lines = [ctx.t("triage.head", key=ticket.key)]
    for n, item in enumerate(triage.items(ctx.desk.settings), 1):
        mark = CHECK if item.key in ticks else OPEN
        by = ticks.get(item.key, {})
        extra = f" — {by['by']}" + (f": {by['note']}" if by.get("note") else "") if by else ""
        lines.append(f"{mark} {n}. {item.key}: {item.label}{extra}")
    return "\n".join(lines)


async def check(ctx: Context, args: CheckArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    settings = ctx.desk.settings
    if settings.triage is None:
        raise Refused("triage.not_configured")
    if args.item is None:
        return [Reply(text=_checklist_text(ctx, ticket), ticket=ticket.key)]
    found = []
    for word in (w for w in args.item.split(",") if w.strip()):
        item = triage.find(settings, word)
        if item is None:
            raise Refused("triage.unknown_item", item=word.strip()[:40],
                          items=", ".join(f"{n}. {i.key}" for n, i in enumerate(triage.items(settings), 1)))
        found.append(item)
    for item in found:
        triage.tick(ctx.session, ctx.desk, ticket, item, ctx.actor.person, args.note)
    # what was ticked by its configured label; what is open by the key one types to tick it
    ticked = "; ".join(ctx.t("args.quoted", text=item.label) for item in found)
    left = triage.unchecked(settings, ticket)
    if not left:
        return reply(ctx, "triage.complete", key=ticket.key, item=ticked, ticket=ticket.key)
    return reply(ctx, "triage.ticked", key=ticket.key, item=ticked, ticket=ticket.key,
                 done=len(triage.items(settings)) - len(left), total=len(triage.items(settings)),
                 open=", ".join(i.key for i in left))


async def uncheck(ctx: Context, args: CheckArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    item = triage.find(ctx.desk.settings, args.item or "") if ctx.desk.settings.triage else None
    if item is None:
        raise Refused("triage.unknown_item", item=(args.item or "")[:40],
                      items=", ".join(i.key for i in triage.items(ctx.desk.settings)) or "—")
    if not triage.untick(ctx.session, ctx.desk, ticket, item, ctx.actor.person):
        raise Refused("triage.not_ticked", key=ticket.key, item=item.label)
    return reply(ctx, "triage.unticked", key=ticket.key, item=item.label, ticket=ticket.key)


# --------------------------------------------------------------------------- routing


async def route(ctx: Context, args: RouteArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    topics = routing.known_topics(ctx.desk.settings)
    if args.topic is not None and args.topic not in topics:
        raise Refused("routing.unknown_topic", topic=args.topic[:40], topics=", ".join(topics) or "—")
    chosen = await routing.route(ctx.session, ctx.desk, ticket, topic=args.topic, reassign=True)
    if chosen is None:
        return reply(ctx, "routing.not_routed", key=ticket.key, ticket=ticket.key, topic=ticket.topic or "—")
    return reply(ctx, "routing.routed", key=ticket.key, ticket=ticket.key, topic=ticket.topic or "—",
                 person=name_of(ctx.desk, chosen))


# --------------------------------------------------------------------------- standard answers


async def answer(ctx: Context, args: AnswerArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    found = kb.faq_entry(ctx.desk.settings, args.ref)
    if found is None:
        raise Refused("faq.unknown", ref=args.ref[:40],
                      keys=", ".join(f"faq:{k}" for k in ctx.desk.settings.faq) or "—")
    key, entry = found
    text = t(ticket.language, "faq.answer", title=entry.title, url=entry.url)
    if args.text:
        text = f"{args.text.strip()}\n{text}"
    service.add_reply(ctx.session, ctx.desk, ticket, ctx.actor.person, text)
    return await confirmed(ctx, ticket, "faq.sent", "contact.faq_recorded", "way", faq=key)


# --------------------------------------------------------------------------- deferral and merging


def _review_day(ctx: Context, text: str) -> date | None:
    today = ctx.now.astimezone(ZoneInfo(ctx.desk.settings.desk.timezone)).date()
    # "+7d", "+7 Tage", "+7 дней", "+7": days from today; else a day as people write it ("morgen", "30.11.")
    match = _DAYS_AHEAD.fullmatch(text.strip().lower())
    if match:
        return today + timedelta(days=int(match.group(1) or match.group(2)))
    return typed_day(text, today)


async def defer(ctx: Context, args: DeferArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    day = _review_day(ctx, args.day)
    if day is None:
        raise Refused("defer.bad_date", text=args.day[:40])
    label, review = await deferral.defer(ctx.session, ctx.desk, ticket, ctx.actor.person, args.reason, day, args.note)
    return reply(ctx, "defer.done", key=ticket.key, ticket=ticket.key, reason=label,
                 review=ctx.when(review))


async def merge(ctx: Context, args: MergeArgs) -> list[Reply]:
    keep = await load(ctx, args.keep, write=True)
    duplicate = await load(ctx, args.duplicate, write=True)
    await deferral.merge(ctx.session, ctx.desk, keep, duplicate, ctx.actor.person)
    # a caller (or an address without a mailbox) hears no notice from the bot: the team tells them
    unreached = [way.contact or "?" for way in [await reach.way_to_requester(ctx.session, ctx.desk, ticket)
                                                for ticket in (duplicate, keep)] if way.how in ("call", "pass_on")]
    if unreached:
        return reply(ctx, "merge.done_unreached", key=keep.key, duplicate=duplicate.key, ticket=keep.key,
                     contacts=", ".join(dict.fromkeys(unreached)))
    return reply(ctx, "merge.done", key=keep.key, duplicate=duplicate.key, ticket=keep.key)


# --------------------------------------------------------------------------- deletion workflow


async def deletion_step(ctx: Context, args: DeletionArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    if ctx.desk.settings.deletion is None:
        raise Refused("deletion.not_configured")
    if args.step is None:
        started = deletion.begin(ctx.session, ctx.desk, ticket, ctx.actor.person)
        following = deletion.next_step(ticket)
        if following is None:
            return reply(ctx, "deletion.finished", key=ticket.key, ticket=ticket.key)
        return reply(ctx, "deletion.started" if started else "deletion.status", key=ticket.key, ticket=ticket.key,
                     step=step_label(ctx.actor.language, following), guide=ctx.t(f"deletion.guide_{following}"),
                     prefix=ctx.prefix)
    done = await deletion.record(ctx.session, ctx.desk, ticket, args.step.lower(), args.text or "",
                                 ctx.actor.person, may_except=ctx.actor.has("lead"))
    lines = [ctx.t("deletion.recorded", key=ticket.key, step=step_label(ctx.actor.language, done.step))]
    if done.urgent:
        lines.append(ctx.t("deletion.urgent"))
    if done.next_step is not None:
        lines.append(ctx.t("deletion.next", step=done.next_step, label=step_label(ctx.actor.language, done.next_step),
                           guide=ctx.t(f"deletion.guide_{done.next_step}"), prefix=ctx.prefix, key=ticket.key))
    elif done.accounting is not None:
        lines.append(ctx.t("deletion.handed_over", key=ticket.key, who=name_of(ctx.desk, done.accounting)))
    elif done.nobody:
        lines.append(ctx.t("deletion.nobody", key=ticket.key))
    return [Reply(text="\n".join(lines), ticket=ticket.key)]


def register(registry: Registry) -> None:
    key = KEY_ARG
    registry.add(Command(("ticket", "doc"), DocArgs, doc, "help.ticket_doc",
                         (key, Arg("field", "positional", metavar="FIELD", required=False),
                          Arg("value", "rest", metavar="VALUE", required=False))))
    registry.add(Command(("ticket", "check"), CheckArgs, check, "help.ticket_check",
                         (key, Arg("item", "positional", metavar="ITEM", required=False),
                          Arg("note", "rest", metavar="NOTE", required=False)), permission="agent"))
    registry.add(Command(("ticket", "uncheck"), CheckArgs, uncheck, "help.ticket_uncheck",
                         (key, Arg("item", "positional", metavar="ITEM")), permission="agent"))
    registry.add(Command(("ticket", "route"), RouteArgs, route, "help.ticket_route",
                         (key, Arg("topic", "positional", metavar="TOPIC", required=False)), permission="agent"))
    registry.add(Command(("ticket", "answer"), AnswerArgs, answer, "help.ticket_answer",
                         (key, Arg("ref", "positional", metavar="faq:KEY"),
                          Arg("text", "rest", metavar="TEXT", required=False)), permission="agent"))
    registry.add(Command(("ticket", "defer"), DeferArgs, defer, "help.ticket_defer",
                         (key, Arg("reason", "positional", metavar="REASON"),
                          Arg("day", "positional", metavar="DATE"),
                          Arg("note", "rest", metavar="NOTE", required=False)), permission="agent"))
    registry.add(Command(("ticket", "merge"), MergeArgs, merge, "help.ticket_merge",
                         (Arg("keep", "positional", metavar="ID"), Arg("duplicate", "positional", metavar="DUPLICATE")),
                         permission="agent"))
    registry.add(Command(("ticket", "deletion"), DeletionArgs, deletion_step, "help.ticket_deletion",
                         (key, Arg("step", "positional", metavar="STEP", required=False),
                          Arg("text", "rest", metavar="TEXT", required=False)), permission="agent"))
