"""What the mail adapter remembers across restarts, in the core's state store (``platform_state``):

- ``mail:uid:<folder>`` — the folder's UIDVALIDITY and the last UID handed to the core;
- ``mail:msg:<hash of the Message-ID>`` — an inbound mail's subject, sender, references and whether it was automatic;
- ``mail:thread:<hash of the Message-ID>`` — the ticket a mail (ours or theirs) belongs to;
- ``mail:ticket:<KEY>`` — a ticket's mail thread: its subject and the Message-IDs for References;
- ``mail:buttons:<KEY>`` — the choices of the last mail of a ticket that offered some (the satisfaction question);
- ``mail:answers:<address>`` — when answers went to an address in the last hour (the rate limit).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bot.core.ports import StateTx

MAX_REFERENCES = 20


def mid(message_id: str) -> str:
    """A Message-ID as a short key (they may be hundreds of characters; the store's keys are 128)."""
    return hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:40]


@dataclass
class Thread:
    subject: str
    ids: list[str] = field(default_factory=list)   # oldest first

    def references(self) -> list[str]:
        return self.ids[-MAX_REFERENCES:]

    def add(self, message_id: str) -> None:
        if message_id not in self.ids:
            self.ids.append(message_id)
            del self.ids[:-MAX_REFERENCES * 2]


def _load(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


async def get_json(tx: StateTx, key: str) -> Any:
    return _load(await tx.get(key))


async def put_json(tx: StateTx, key: str, value: Any) -> None:
    await tx.put(key, json.dumps(value, ensure_ascii=False))


async def thread_of(tx: StateTx, ticket: str) -> Thread | None:
    data = await get_json(tx, f"mail:ticket:{ticket}")
    if not isinstance(data, dict):
        return None
    return Thread(str(data.get("subject", "")), [str(i) for i in data.get("ids", [])])


async def save_thread(tx: StateTx, ticket: str, thread: Thread) -> None:
    await put_json(tx, f"mail:ticket:{ticket}", {"subject": thread.subject, "ids": thread.ids})


async def ticket_of(tx: StateTx, message_ids: tuple[str, ...] | list[str]) -> str | None:
    """The ticket the first of ``message_ids`` that is known belongs to."""
    if not message_ids:
        return None
    found = await tx.get_many([f"mail:thread:{mid(i)}" for i in message_ids])
    for message_id in message_ids:
        key = found.get(f"mail:thread:{mid(message_id)}")
        if key:
            return key
    return None
