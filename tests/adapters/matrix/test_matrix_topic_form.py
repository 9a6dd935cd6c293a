"""The step-by-step ticket form on Matrix asks each topic's ``[[intake]]`` fields (the pr-vendor
example's rules), on the real Synapse: the topic first, then what that topic needs, required."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from matrix_harness import MatrixHarness
from sqlalchemy import select

from storage.models import Ticket

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = tomllib.loads((ROOT / "examples" / "pr-vendor" / "dutydesk.toml").read_text(encoding="utf-8"))
SECTIONS = {"intake": EXAMPLE["intake"],
            "routing": [{"topic": rule["topic"], "keywords": rule.get("keywords", []), "assignees": ["anna"]}
                        for rule in EXAMPLE["routing"]]}
TOPICS = [rule["topic"] for rule in EXAMPLE["routing"]]


async def _after(matrix: MatrixHarness, person: Any, room: str, event_id: str) -> bool:
    timeline = await person.timeline(room)
    ids = [e["event_id"] for e in timeline]
    return event_id in ids and any(e.get("sender") == matrix.bot_id for e in timeline[ids.index(event_id) + 1:])


async def test_the_form_asks_the_chosen_topics_fields(make_matrix: Any) -> None:
    matrix: MatrixHarness = await make_matrix(**SECTIONS)
    dm = await matrix.dm_with_bot("rita")
    rita = matrix.people["rita"]
    said_before = 0
    replies: list[str] = []
    answers = ["!ticket", str(TOPICS.index("prg-support") + 1), "Press release stuck in the queue since Monday",
               "1. upload\n2. send", "-", "-", "Windows 11", "Firefox 133", "LAN", "mornings, +49 30 1234567",
               "every release since Monday", "2", "-"]
    for text in answers:
        said = await rita.send(dm, text)
        await matrix.settle(until=functools.partial(_after, matrix, rita, dm, said))
        texts = [e["content"]["body"] for e in await rita.from_bot(dm, matrix.bot_id)]
        replies.append("\n".join(texts[said_before:]))
        said_before = len(texts)

    # the topic first; a requester's form has no "for (caller / e-mail)", the team's field
    assert "(1/7) Topic" in replies[0] and "6. prg-support" in replies[0]
    assert "(2/11)" in replies[1]  # the topic's fields make the form longer
    assert "Which operating system" in replies[4]  # object id skipped: optional
    assert "Please fill this in." in replies[5] and "Which operating system" in replies[5]  # required
    assert "How are you connected" in replies[7]
    async with matrix.bot.desk.sessions() as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
    assert ticket.topic == "prg-support" and ticket.priority == 2
    assert ticket.data["doc"] == {"steps": "1. upload\n2. send", "urgency": "LIMITED USABILITY", "os": "Windows 11",
                                  "browser": "Firefox 133", "connection": "LAN",
                                  "reachability": "mornings, +49 30 1234567",
                                  "frequency": "every release since Monday"}
    assert "HW-1" in replies[-1]  # the receipt
    assert not any("we need" in reply for reply in replies)  # nothing left to ask
