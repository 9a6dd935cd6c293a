"""Running a scenario in-process (``bot.simulate.simulate``) against an example desk's config, and reading
its transcript and its database afterwards. Used by tests/core/test_workflows_*.py."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bot.simulate import simulate
from storage.db import make_engine, make_sessionmaker
from storage.models import Ticket, TicketEvent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Run:
    lines: list[dict[str, Any]]
    db_url: str

    def about(self, **match: object) -> list[dict[str, Any]]:
        """The messages sent whose keys have these values (``to="ticket:HW-1"``, ``kind="error"`` …); a message
        changed in place (an ``updated`` line) is in :meth:`updates`, not here."""
        return [line for line in self.lines if "text" in line and "updated" not in line
                and all(line.get(k) == v for k, v in match.items())]

    def updates(self, **match: object) -> list[dict[str, Any]]:
        """The ``updated`` lines (a message changed in place: a card, a used button) with these values."""
        return [line for line in self.lines if "updated" in line and all(line.get(k) == v for k, v in match.items())]

    def texts(self, **match: object) -> list[str]:
        return [line["text"] for line in self.about(**match)]

    def has(self, text: str, **match: object) -> bool:
        """Some line (matching ``match``) contains ``text``."""
        return any(text in shown for shown in self.texts(**match))

    def errors(self) -> list[str]:
        return self.texts(kind="error")

    async def ticket(self, key: str) -> Ticket:
        engine = make_engine(self.db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return (await session.scalars(select(Ticket).where(Ticket.key == key))).one()
        finally:
            await engine.dispose()

    async def events(self, key: str) -> list[TicketEvent]:
        engine = make_engine(self.db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                ticket = (await session.scalars(select(Ticket).where(Ticket.key == key))).one()
                return list((await session.scalars(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all())
        finally:
            await engine.dispose()

    async def rows(self, model: type, *where: Any) -> list[Any]:
        engine = make_engine(self.db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return list((await session.scalars(select(model).where(*where))).all())
        finally:
            await engine.dispose()


async def run(tmp_path: Path, org: str | None, steps: list[dict[str, Any]], *, start: str,
              platform: str = "slack", config: dict[str, Any] | None = None,
              groups: dict[str, list[str]] | None = None, db_url: str | None = None) -> Run:
    """Runs ``steps`` on the example desk ``org`` (its dutydesk.toml) or on an inline ``config``, on a
    new SQLite file or on ``db_url`` (the conftest's fixture: an empty database on either backend)."""
    scenario: dict[str, Any] = {
        "config": config if config is not None else str(EXAMPLES / org / "dutydesk.toml"),  # type: ignore[operator]
        "platform": platform,
        "start": start,
        "steps": steps,
    }
    if groups:
        scenario["groups"] = groups
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False), encoding="utf-8")
    db_url = db_url or f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}"
    out = io.StringIO()
    await simulate(path, out, db_url=db_url)
    return Run([json.loads(line) for line in out.getvalue().splitlines()], db_url)
