"""The ticket form: the handbooks' documentation checklist as a form any platform can show
(a Slack modal; step-by-step prompts where a platform has no forms), its validation, and the
ticket a submission opens (the checklist answers are kept in ``ticket.data["doc"]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.context import Context
from bot.i18n import t
from bot.tickets import service
from bot.types import FormField, FormSpec, Reply

FORM_ID = "ticket"
URGENCIES = ("SHOW-STOPPER", "LIMITED USABILITY", "NICE TO HAVE")
# without an explicit priority the urgency decides it
URGENCY_PRIORITY = {"SHOW-STOPPER": 1, "LIMITED USABILITY": 2, "NICE TO HAVE": 3}
PRIORITIES = ("1", "2", "3")
# the checklist fields that go to ticket.data["doc"], in the order they are shown
DOC_FIELDS = ("steps", "object_id", "environment", "urgency")
MIN_DESCRIPTION = 10
MAX_FIELD = 3000


def ticket_form(lang: str, topics: Sequence[str] = ()) -> FormSpec:
    """The form in ``lang``; ``topics`` (the routing topics) make the topic a choice, else free text."""

    def label(name: str) -> str:
        return t(lang, f"form.ticket.{name}")

    return FormSpec(
        form_id=FORM_ID,
        title=t(lang, "form.ticket.title"),
        fields=(
            FormField(name="description", label=label("description"), required=True, multiline=True),
            FormField(name="steps", label=label("steps"), multiline=True),
            FormField(name="object_id", label=label("object_id")),
            FormField(name="environment", label=label("environment")),
            FormField(name="urgency", label=label("urgency"), required=True, choices=URGENCIES),
            FormField(name="topic", label=label("topic"), choices=tuple(topics)),
            FormField(name="priority", label=label("priority"), choices=PRIORITIES),
        ),
    )


def validate(values: Mapping[str, str], lang: str, topics: Sequence[str] = ()) -> dict[str, str]:
    """Field name → what is wrong with it (in ``lang``); empty when the submission is fine."""
    errors: dict[str, str] = {}
    description = (values.get("description") or "").strip()
    if not description:
        errors["description"] = t(lang, "form.ticket.required")
    elif len(description) < MIN_DESCRIPTION:
        errors["description"] = t(lang, "form.ticket.too_short", min=MIN_DESCRIPTION)
    urgency = (values.get("urgency") or "").strip()
    if not urgency:
        errors["urgency"] = t(lang, "form.ticket.required")
    elif urgency not in URGENCIES:
        errors["urgency"] = t(lang, "form.ticket.bad_choice")
    priority = (values.get("priority") or "").strip()
    if priority and priority not in PRIORITIES:
        errors["priority"] = t(lang, "form.ticket.bad_choice")
    topic = (values.get("topic") or "").strip()
    if topic and topics and topic not in topics:
        errors["topic"] = t(lang, "form.ticket.bad_choice")
    for name, value in values.items():
        if len(value or "") > MAX_FIELD and name not in errors:
            errors[name] = t(lang, "form.ticket.too_long", max=MAX_FIELD)
    return errors


def priority_of(values: Mapping[str, str]) -> int:
    priority = (values.get("priority") or "").strip()
    if priority in PRIORITIES:
        return int(priority)
    return URGENCY_PRIORITY.get((values.get("urgency") or "").strip(), 2)


def doc_of(values: Mapping[str, str]) -> dict[str, str]:
    """The checklist answers that were given, for ``ticket.data["doc"]``."""
    return {name: values[name].strip() for name in DOC_FIELDS if (values.get(name) or "").strip()}


def ticket_text(values: Mapping[str, str], lang: str) -> str:
    """The description first (its first line is the title), then the checklist answers, labelled."""
    lines = [(values.get("description") or "").strip()]
    doc = doc_of(values)
    if doc:
        lines.append("")
        lines += [t(lang, "form.ticket.doc_line", label=t(lang, f"form.ticket.{name}"), value=value)
                  for name, value in doc.items()]
    return "\n".join(lines)


async def create_from_form(ctx: Context) -> list[Reply]:
    """Opens the ticket a submitted form describes and answers with the receipt."""
    values = ctx.event.form_values
    lang = ctx.actor.language
    topics = [rule.topic for rule in ctx.desk.settings.routing]
    errors = validate(values, lang, topics)
    if errors:
        lines = [t(lang, "form.ticket.invalid")]
        lines += [f"{t(lang, f'form.ticket.{name}')}: {problem}" for name, problem in errors.items()]
        return [Reply(text="\n".join(lines), kind="error")]
    priority = priority_of(values)
    ticket = await service.create(
        ctx.session,
        ctx.desk,
        ctx.actor.person,
        text=ticket_text(values, lang),
        priority=priority,
        topic=(values.get("topic") or "").strip() or None,
        origin=ctx.event.channel,
        language=lang,
        doc=doc_of(values),
    )
    next_key = "ticket.next_p1" if priority == 1 else "ticket.next"
    return [Reply(
        text=ctx.t("ticket.receipt", key=ticket.key, priority=priority, priority_name=ctx.t(f"priority.{priority}"),
                   next=ctx.t(next_key, key=ticket.key)),
        kind="receipt",
        ticket=ticket.key,
    )]
