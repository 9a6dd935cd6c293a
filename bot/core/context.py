"""What a command handler gets: the unit of work, the actor, and the ways to say things."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.types import InboundEvent
from bot.i18n import t

if TYPE_CHECKING:
    from bot.core.desk import Desk
    from storage.models import Person


@dataclass
class Actor:
    person: Person
    roles: frozenset[str]
    language: str
    timezone: str

    @property
    def is_staff(self) -> bool:
        return bool(self.roles)

    def has(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


@dataclass
class Context:
    session: AsyncSession
    desk: Desk
    event: InboundEvent
    actor: Actor
    prefix: str
    extra: dict[str, Any] = field(default_factory=dict)

    def t(self, key: str, /, **values: Any) -> str:
        # requesters of an informal desk are addressed "du"/"ты"; the team's text is the same either way
        return t(self.actor.language, key, informal=self.desk.informal and not self.actor.is_staff, **values)

    @property
    def now(self):
        return self.desk.clock.now()

    def when(self, value: datetime, zone: str | None = None) -> str:
        """An instant as this reader reads it: in their zone (or ``zone``), in their language's form."""
        from bot.i18n.format import instant

        return instant(self.actor.language, value, zone or self.actor.timezone, now=self.now)
