"""The internal analysis checklist of ``[triage]`` (party desk, handbook 000 step 3): agents tick the
items in chat (``/ticket check ID ITEM [NOTE]``), ``/ticket show`` shows them to agents, and with
``before_vendor`` the vendor is asked only when every item is ticked.

Ticks live in ``ticket.data["checks"]`` (item → who, when, note); each is a ``check`` event too.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.settings import Settings
from bot.tickets import service
from bot.workflow.config import ChecklistItem
from storage.models import Person, Ticket


def items(settings: Settings) -> list[ChecklistItem]:
    return list(settings.triage.checklist) if settings.triage is not None else []


def find(settings: Settings, text: str) -> ChecklistItem | None:
    """An item by key (``outage``), by number (``1``), or by a unique start of its key."""
    listed = items(settings)
    word = text.strip().lower()
    if word.isdigit() and 1 <= int(word) <= len(listed):
        return listed[int(word) - 1]
    exact = [item for item in listed if item.key == word]
    if exact:
        return exact[0]
    starts = [item for item in listed if item.key.startswith(word)] if word else []
    return starts[0] if len(starts) == 1 else None


def ticks(ticket: Ticket) -> dict[str, dict[str, str]]:
    return dict((ticket.data or {}).get("checks") or {})


def unchecked(settings: Settings, ticket: Ticket) -> list[ChecklistItem]:
    done = ticks(ticket)
    return [item for item in items(settings) if item.key not in done]


def tick(session: AsyncSession, desk: Desk, ticket: Ticket, item: ChecklistItem, actor: Person,
         note: str | None) -> None:
    done = ticks(ticket)
    done[item.key] = {"by": actor.display_name, "at": desk.clock.now().isoformat(), "note": note or ""}
    ticket.data = {**(ticket.data or {}), "checks": done}
    service.log(session, ticket, "check", desk.clock.now(), actor, new=item.key, body=note)


def untick(session: AsyncSession, desk: Desk, ticket: Ticket, item: ChecklistItem, actor: Person) -> bool:
    done = ticks(ticket)
    if done.pop(item.key, None) is None:
        return False
    ticket.data = {**(ticket.data or {}), "checks": done}
    service.log(session, ticket, "uncheck", desk.clock.now(), actor, new=item.key)
    return True
