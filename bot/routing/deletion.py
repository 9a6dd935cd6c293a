"""The deletion workflow of the PR vendor's handbook ("Löschungen"), as guided steps:

1. ``reason``  — why (warning letter, court ruling vs. "link hygiene"); talk about alternatives.
   A reason that names one of ``[deletion] urgent_reasons`` means: delete on the own portals at once.
2. ``volume``  — narrow the volume down: one finding the customer names usually stands for a release
   distributed to many places.
3. ``prepayment`` — present the procedure; prepayment is required (``paid``). An exception
   (``exception REASON``) only after agreement with the management or the project lead: a lead records it.
4. ``order``   — the deletion order was sent and came back signed.
Then the ticket is assigned to accounting (``[deletion] accounting``, substitutes in order).

``/ticket deletion ID`` shows where a ticket stands and what comes next; each step is
``/ticket deletion ID STEP TEXT``. Steps go in order; the state lives in ``ticket.data["deletion"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.errors import Refused, Worded
from bot.i18n import t
from bot.routing import assign_key, pick
from bot.tickets import service
from storage.models import Person, Ticket

STEPS = ("reason", "volume", "prepayment", "order")


def step_label(lang: str, step: str) -> str:
    """A step as the reader's language names it (the command keeps the step's key: ``… deletion KS-4 volume``)."""
    return t(lang, f"deletion.step_{step}") if step in STEPS else step


def step_word(step: str) -> Worded:
    return Worded(step, lambda lang: step_label(lang, step))
PAID_WORDS = {"paid", "bezahlt", "received", "eingegangen", "оплачено", "yes", "ja"}
EXCEPTION_WORDS = {"exception", "ausnahme", "исключение"}


@dataclass(frozen=True)
class StepDone:
    step: str
    next_step: str | None
    urgent: bool = False
    accounting: str | None = None
    nobody: bool = False


def state_of(ticket: Ticket) -> dict[str, str]:
    return dict((ticket.data or {}).get("deletion") or {})


def next_step(ticket: Ticket) -> str | None:
    done = state_of(ticket)
    if done.get("accounting"):
        return None
    return next((step for step in STEPS if step not in done), None)


def begin(session: AsyncSession, desk: Desk, ticket: Ticket, actor: Person) -> bool:
    """Marks the ticket as a deletion (its topic too); False when it was one already."""
    data = dict(ticket.data or {})
    if "deletion" in data:
        return False
    data["deletion"] = {}
    ticket.data = data
    config = desk.settings.deletion
    if config is not None and ticket.topic != config.topic:
        ticket.topic = config.topic
    service.log(session, ticket, "deletion", desk.clock.now(), actor, new="start")
    return True


async def record(session: AsyncSession, desk: Desk, ticket: Ticket, step: str, text: str, actor: Person,
                 *, may_except: bool) -> StepDone:
    """Records one step; raises Refused when it is out of order or not allowed."""
    config = desk.settings.deletion
    if config is None:
        raise Refused("deletion.not_configured")
    begin(session, desk, ticket, actor)
    expected = next_step(ticket)
    if expected is None:
        raise Refused("deletion.finished", key=ticket.key)
    if step not in STEPS:
        raise Refused("deletion.unknown_step", step=step, steps=" → ".join(STEPS))
    done = state_of(ticket)
    if step != expected and step not in done:
        raise Refused("deletion.out_of_order", key=ticket.key, step=step, expected=expected)
    text = " ".join(text.split())
    if not text:
        raise Refused("deletion.needs_text", step=step_word(step))
    urgent = False
    if step == "prepayment":
        word, _, rest = text.partition(" ")
        if word.lower() in PAID_WORDS:
            text = "paid"
        elif word.lower() in EXCEPTION_WORDS:
            if not may_except:
                raise Refused("deletion.exception_needs_lead")
            if not rest.strip():
                raise Refused("deletion.exception_needs_reason")
            text = f"exception: {rest.strip()}"
        else:
            raise Refused("deletion.prepayment_required", key=ticket.key)
    if step == "reason":
        urgent = any(word.lower() in text.lower() for word in config.urgent_reasons)
    done[step] = text
    ticket.data = {**(ticket.data or {}), "deletion": done}
    service.log(session, ticket, "deletion", desk.clock.now(), actor, old=step, new=text[:255], body=text)
    following = next_step(ticket)
    if following is not None:
        return StepDone(step, following, urgent=urgent)
    # the order is in: accounting takes over
    chosen, _skipped = await pick(session, desk, list(config.accounting))
    if chosen is None:
        return StepDone(step, None, nobody=True)
    # a new dict: the one above may be flushed already, and an in-place change would go unnoticed
    ticket.data = {**(ticket.data or {}), "deletion": {**done, "accounting": chosen}}
    await assign_key(session, desk, ticket, chosen, topic=config.topic,
                     instead_of=config.accounting[0] if chosen != config.accounting[0] else None,
                     note_key="deletion.to_accounting")
    service.tell_requester(session, desk, ticket, "deletion.order_received")
    return StepDone(step, None, accounting=chosen)
