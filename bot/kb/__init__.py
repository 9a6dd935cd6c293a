"""The knowledge base: documented solutions of resolved tickets and the FAQ articles of ``[faq]``.

``/kb WORDS`` finds FAQ articles (everyone) and solutions (agents) that contain every word.
Solutions are matched with SQL ``LIKE`` on a lower-cased copy (``solutions.search_text``, lower-cased
in Python so that Cyrillic and umlauts match on SQLite as on PostgreSQL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.workflow.config import FaqEntry
from storage.models import Solution, Ticket

URL = re.compile(r"https?://\S+")
MAX_RESULTS = 5


@dataclass(frozen=True)
class Found:
    ticket: str
    title: str
    text: str
    url: str | None
    at: datetime


def split_solution(text: str) -> tuple[str, str | None]:
    """The solution text and the first link in it (a knowledge-base article), if any."""
    text = text.strip()
    match = URL.search(text)
    return text, (match.group(0).rstrip(".,;)") if match else None)


def faq_entry(settings: Settings, ref: str) -> tuple[str, FaqEntry] | None:
    """``faq:KEY`` or ``KEY`` → the FAQ article."""
    key = ref.strip().removeprefix("faq:").strip().lower()
    entry = settings.faq.get(key)
    return (key, entry) if entry is not None else None


def add(session: AsyncSession, ticket: Ticket, text: str, url: str | None, author_id: int | None,
        now: datetime) -> Solution:
    row = Solution(ticket_id=ticket.id, text=text, url=url, author_id=author_id, created_at=now,
                   search_text=" ".join(part for part in (ticket.title, text, url or "") if part).lower())
    session.add(row)
    return row


def _words(query: str) -> list[str]:
    return [word for word in query.lower().split() if word][:8]


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(session: AsyncSession, query: str, limit: int = MAX_RESULTS) -> list[Found]:
    words = _words(query)
    if not words:
        return []
    stmt = select(Solution, Ticket.key, Ticket.title).join(Ticket, Ticket.id == Solution.ticket_id)
    for word in words:
        stmt = stmt.where(Solution.search_text.like(_like(word), escape="\\"))
    rows = await session.execute(stmt.order_by(Solution.id.desc()).limit(limit))
    return [Found(key, title, solution.text, solution.url, solution.created_at) for solution, key, title in rows.all()]


def search_faq(settings: Settings, query: str) -> list[tuple[str, FaqEntry]]:
    words = _words(query)
    found = []
    for key, entry in settings.faq.items():
        haystack = f"{key} {entry.title} {entry.url}".lower()
        if words and all(word in haystack for word in words):
            found.append((key, entry))
    return found[:MAX_RESULTS]
