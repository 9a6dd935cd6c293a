"""The pure rules of the processes: what documentation a ticket still lacks, the guards the ticket
service applies before a change of state, and the normalised form of an answer.

Intake: the documentation a ticket needs before work starts (``[[intake]]`` per topic).

The answers live in ``ticket.data["doc"]`` (the ticket form writes the same place). When a ticket
opens with something missing, the bot lists what is needed in the ticket's private space and asks
for one field at a time; the requester's next message there answers the field asked for, and
``/ticket doc ID FIELD VALUE`` fills any field (the requester or an agent). A screenshot (JPG, GIF,
PNG) sent to the ticket answers ``screenshot``.

The guard: a ticket whose documentation is incomplete does not start (``new``, ``triage``,
``waiting_requester``, ``deferred`` → ``in_progress``) and does not go to the vendor; the refusal
names the missing fields. Once complete, an assigned ticket that waits in ``new``/``triage``
starts by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import Refused, Worded
from bot.i18n import t
from bot.settings import Settings
from bot.tickets.states import State
from bot.workflow.config import IntakeRule

if TYPE_CHECKING:
    from storage.models import Ticket

URGENCIES = ("SHOW-STOPPER", "LIMITED USABILITY", "NICE TO HAVE")
URGENCY_PRIORITY = {"SHOW-STOPPER": 1, "LIMITED USABILITY": 2, "NICE TO HAVE": 3}
_URGENCY_WORDS = {
    "SHOW-STOPPER": ("showstopper", "1", "p1", "high", "hoch", "blocker", "критично"),
    "LIMITED USABILITY": ("limitedusability", "limited", "2", "p2", "normal", "eingeschränkt", "частично"),
    "NICE TO HAVE": ("nicetohave", "nice", "3", "p3", "low", "niedrig", "пожелание"),
}
# states from which a ticket starts work; the guard applies to these (a reopen restores work as it was)
BEFORE_WORK = frozenset({State.NEW, State.TRIAGE, State.WAITING_REQUESTER, State.DEFERRED})
ASKING_STATES = frozenset({State.NEW.value, State.TRIAGE.value, State.WAITING_REQUESTER.value})
# the states a ticket is in once its solution is written up
SOLVED_STATES = frozenset({State.RESOLVED, State.FEEDBACK, State.CLOSED})
MAX_VALUE = 1000


def rule_for(settings: Settings, topic: str | None) -> IntakeRule | None:
    """The ``[[intake]]`` entry of a topic, else the one for every ticket (``topic = "*"``)."""
    rules = {rule.topic: rule for rule in settings.intake}
    return rules.get(topic or "") or rules.get("*")


def doc_of(ticket: Ticket) -> dict[str, str]:
    return dict((ticket.data or {}).get("doc") or {})


def _has(ticket: Ticket, doc: dict[str, str], field: str) -> bool:
    if doc.get(field):
        return True
    if field == "description":
        return bool((ticket.description or "").strip())
    if field in ("os", "browser"):  # the ticket form asks OS and browser in one question
        return bool(doc.get("environment"))
    if field == "environment":
        return bool(doc.get("os") and doc.get("browser"))
    return False


def missing(settings: Settings, ticket: Ticket) -> list[str]:
    """The required fields that have no answer yet, in the configured order."""
    rule = rule_for(settings, ticket.topic)
    if rule is None:
        return []
    doc = doc_of(ticket)
    return [field for field in rule.required if not _has(ticket, doc, field)]


def label(lang: str, field: str) -> str:
    return t(lang, f"intake.field.{field}")


def labels(lang: str, fields: list[str]) -> str:
    return ", ".join(label(lang, field) for field in fields)


def field_word(field: str) -> Worded:
    """A documentation field in a refusal: its key for code, its label for the reader."""
    return Worded(field, lambda lang: label(lang, field))


def fields_word(fields: list[str]) -> Worded:
    return Worded(",".join(fields), lambda lang: labels(lang, fields))


def guard(settings: Settings, ticket: Ticket, target: State) -> None:
    """Raises Refused when ``ticket`` may not go to ``target`` yet:

    - to ``in_progress`` (from before work) or to ``vendor`` with incomplete documentation;
    - to ``resolved`` without a written solution, where ``[resolution] require_solution``.
    """
    current = State(ticket.state)
    if target == State.VENDOR or (target == State.IN_PROGRESS and current in BEFORE_WORK):
        fields = missing(settings, ticket)
        if fields:
            raise Refused("intake.incomplete", key=ticket.key, fields=fields_word(fields))
    resolution = settings.resolution
    if target == State.RESOLVED and resolution is not None and resolution.require_solution \
            and not (ticket.data or {}).get("solution"):
        raise Refused("closing.needs_solution", key=ticket.key)


def close_guard(settings: Settings, ticket: Ticket, *, by_requester: bool) -> None:
    """Where ``[resolution] require_solution`` holds, the team closes a ticket only through its solution
    (handbook 000 steps 8–9: document the solution, tell the member, ask whether they are satisfied, then
    close): ``/ticket close`` is refused before ``resolved``. The requester may always withdraw their own."""
    resolution = settings.resolution
    if by_requester or resolution is None or not resolution.require_solution:
        return
    if State(ticket.state) not in (State.RESOLVED, State.FEEDBACK, State.CLOSED):
        raise Refused("closing.close_needs_solution", key=ticket.key)


def asking(ticket: Ticket) -> str | None:
    """The field the bot asked the requester for last (their next message answers it)."""
    return ((ticket.data or {}).get("intake") or {}).get("asking")


def normalise(field: str, value: str) -> str:
    """The stored form of an answer; raises Refused for a value that cannot be right."""
    text = " ".join(value.split())
    if not text:
        raise Refused("intake.empty", field=field_word(field))
    if len(text) > MAX_VALUE:
        raise Refused("intake.too_long", field=field_word(field), max=str(MAX_VALUE))
    if field == "urgency":
        compact = text.lower().replace("-", "").replace("_", "").replace(" ", "")
        for urgency, words in _URGENCY_WORDS.items():
            if compact in words or compact == urgency.lower().replace("-", "").replace(" ", ""):
                return urgency
        raise Refused("intake.bad_urgency", field=field_word(field), value=text[:40], choices=" / ".join(URGENCIES))
    return text
