"""The ticket form: the handbooks' documentation checklist as a form any platform can show
(a Slack modal; step-by-step prompts where a platform has no forms), its validation, and the
ticket a submission opens (the checklist answers are kept in ``ticket.data["doc"]``).

With ``[[intake]]`` rules the form asks what the chosen topic needs (:func:`form_for`): the topic
comes first where the rules differ per topic, and the topic's required fields are required in
the form (a screenshot is a file: it is asked for in the ticket's space afterwards).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.contacts import address as contact_address
from bot.contacts import intake as contact_intake
from bot.core.context import Context
from bot.core.errors import Refused
from bot.core.types import TICKET_FORM_ID, FormField, FormSpec, MessageKind, Reply
from bot.i18n import t
from bot.settings import Settings
from bot.tickets import limits, service
from bot.workflow import rules
from bot.workflow.config import DOC_FIELDS as INTAKE_FIELDS

FORM_ID = TICKET_FORM_ID
URGENCIES = ("SHOW-STOPPER", "LIMITED USABILITY", "NICE TO HAVE")
# without an explicit priority the urgency decides it
URGENCY_PRIORITY = {"SHOW-STOPPER": 1, "LIMITED USABILITY": 2, "NICE TO HAVE": 3}
PRIORITIES = ("1", "2", "3")
# the checklist fields that go to ticket.data["doc"], in the order they are shown
DOC_FIELDS = ("steps", "object_id", "environment", "urgency")
# the other [[intake]] fields a topic's form may ask (the description is always asked; a screenshot is a file)
EXTRA_FIELDS = tuple(f for f in INTAKE_FIELDS if f not in DOC_FIELDS and f not in ("description", "screenshot"))
MULTILINE_EXTRA = frozenset({"frequency", "image", "reachability"})
MIN_DESCRIPTION = 10
MAX_FIELD = 3000


def label(lang: str, name: str) -> str:
    """A field's short label (the form's own, else the intake catalogue's)."""
    return t(lang, f"form.ticket.{name}") if name in (*DOC_FIELDS, "description", "topic", "priority", "contact") \
        else rules.label(lang, name)


def ticket_form(lang: str, topics: Sequence[str] = (), required: Sequence[str] = (), *,
                topic_first: bool = False, staff: bool = False) -> FormSpec:
    """The form in ``lang``; ``topics`` (the routing topics) make the topic a choice, else free text.

    ``required``: the intake fields the chosen topic needs (they become required; those the base form
    lacks are asked with the intake question); ``topic_first`` where the topic decides what is asked;
    ``staff``: the form of the support team, with the "for (caller / e-mail)" field a requester never sees
    (a requester's submission with it anyway is refused when the ticket would be opened)."""
    wanted = [name for name in required if name in DOC_FIELDS or name in EXTRA_FIELDS]
    base = [
        FormField(name="description", label=label(lang, "description"), required=True, multiline=True),
        FormField(name="steps", label=label(lang, "steps"), required="steps" in wanted, multiline=True),
        FormField(name="object_id", label=label(lang, "object_id"), required="object_id" in wanted),
        FormField(name="environment", label=label(lang, "environment"), required="environment" in wanted),
    ]
    if "environment" not in wanted and ("os" in wanted or "browser" in wanted):
        base.pop()  # the topic asks operating system and browser one by one
    extra = [FormField(name=name, label=t(lang, f"intake.ask.{name}"), required=True,
                       multiline=name in MULTILINE_EXTRA) for name in EXTRA_FIELDS if name in wanted]
    topic = FormField(name="topic", label=label(lang, "topic"), choices=tuple(topics))
    fields = [*base, *extra, FormField(name="urgency", label=label(lang, "urgency"), required=True, choices=URGENCIES)]
    fields = [topic, *fields] if topic_first else [*fields, topic]
    fields.append(FormField(name="priority", label=label(lang, "priority"), choices=PRIORITIES))
    # the phone duty opens the ticket for a caller or a mail sender (bot/contacts); the team's field, optional
    if staff:
        fields.append(FormField(name="contact", label=label(lang, "contact")))
    return FormSpec(form_id=FORM_ID, title=t(lang, "form.ticket.title"), fields=tuple(fields))


def topics_of(settings: Settings) -> list[str]:
    return [rule.topic for rule in settings.routing]


def per_topic(settings: Settings) -> bool:
    """Whether the topic changes what the form asks (an ``[[intake]]`` rule for a topic, not only "*")."""
    return bool(topics_of(settings)) and any(rule.topic != "*" for rule in settings.intake)


def required_for(settings: Settings, topic: str | None) -> tuple[str, ...]:
    """The intake fields the form asks for ``topic`` (the topic's rule, else the one for every ticket)."""
    rule = rules.rule_for(settings, (topic or "").strip() or None)
    return tuple(rule.required) if rule is not None else ()


def form_for(settings: Settings, lang: str, topic: str | None = None, *, staff: bool = False) -> FormSpec:
    """The ticket form of this desk for ``topic`` (None: not chosen yet); ``staff``: with the team's fields."""
    return ticket_form(lang, topics_of(settings), required_for(settings, topic), topic_first=per_topic(settings),
                       staff=staff)


def validate(values: Mapping[str, str], lang: str, topics: Sequence[str] = (),
             required: Sequence[str] = (), region: str | None = None) -> dict[str, str]:
    """Field name → what is wrong with it (in ``lang``); empty when the submission is fine.
    ``required``: further fields that must be answered (the chosen topic's intake fields); ``region``: the
    country a phone number without its country code is read in."""
    errors: dict[str, str] = {}
    for name in required:
        if name in (*DOC_FIELDS, *EXTRA_FIELDS) and not (values.get(name) or "").strip():
            errors[name] = t(lang, "form.ticket.required")
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
    contact = (values.get("contact") or "").strip()
    if contact:
        try:
            contact_address.parse(contact, region)
        except Refused as refused:
            errors["contact"] = refused.text(lang) if refused.key == "contact.bad_phone" \
                else t(lang, "form.ticket.bad_contact")
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
    return {name: values[name].strip() for name in (*DOC_FIELDS, *EXTRA_FIELDS) if (values.get(name) or "").strip()}


def ticket_text(values: Mapping[str, str], lang: str) -> str:
    """The description first (its first line is the title), then the checklist answers, labelled."""
    lines = [(values.get("description") or "").strip()]
    doc = doc_of(values)
    if doc:
        lines.append("")
        lines += [t(lang, "form.ticket.doc_line", label=label(lang, name), value=value)
                  for name, value in doc.items()]
    return "\n".join(lines)


async def create_from_form(ctx: Context) -> list[Reply]:
    """Opens the ticket a submitted form describes and answers with the receipt."""
    values = ctx.event.form_values
    lang = ctx.actor.language
    topics = [rule.topic for rule in ctx.desk.settings.routing]
    errors = validate(values, lang, topics, region=contact_address.region_of(ctx.desk.settings))
    if errors:
        lines = [t(lang, "form.ticket.invalid")]
        lines += [f"{label(lang, name)}: {problem}" for name, problem in errors.items()]
        return [Reply(text="\n".join(lines), kind=MessageKind.ERROR)]
    priority = priority_of(values)
    chose = (values.get("priority") or "").strip() in PRIORITIES
    requester_source = "given" if chose else ("urgency" if (values.get("urgency") or "").strip() else "default")
    contact = (values.get("contact") or "").strip()
    if contact:
        _ticket, receipt = await contact_intake.open_for(
            ctx, contact, text=ticket_text(values, lang), priority=priority, doc=doc_of(values),
            topic=(values.get("topic") or "").strip() or None,
            priority_source="team" if requester_source != "default" else requester_source)
        return [receipt]
    held = await limits.hold(ctx.session, ctx.desk, ctx.actor.person, ticket_text(values, lang), lang,
                             ctx.actor.timezone)
    if held is not None:
        return [held]
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
        priority_source="team" if ctx.actor.is_staff and requester_source != "default" else requester_source,
    )
    return [Reply(
        text=ctx.t("ticket.receipt", key=ticket.key, priority=priority, priority_name=ctx.t(f"priority.{priority}"),
                   next=await service.next_step(ctx.session, ctx.desk, ticket, ctx.actor.language)),
        kind=MessageKind.RECEIPT,
        ticket=ticket.key,
    )]


class TicketFormModel:
    """The ticket form port of one desk (bot/core/ports.py): what an adapter shows and checks."""

    extra_fields = EXTRA_FIELDS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = topics_of(settings)

    def spec(self, lang: str, topic: str | None = None, *, staff: bool = False) -> FormSpec:
        return form_for(self.settings, lang, topic if topic in self.topics else None, staff=staff)

    def per_topic(self) -> bool:
        return per_topic(self.settings)

    def required(self, topic: str | None) -> tuple[str, ...]:
        return required_for(self.settings, topic if topic in self.topics else None)

    def validate(self, values: Mapping[str, str], lang: str, required: Sequence[str]) -> dict[str, str]:
        return validate(values, lang, self.topics, required, contact_address.region_of(self.settings))
