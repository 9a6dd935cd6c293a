"""What the features add to the desk, collected in one place.

Each feature package has one ``register(features)`` (in its ``feature.py``) that adds its command groups,
timer handlers, scheduled jobs, unit-of-work steps and hooks — as maubot plugins register their handlers and
Netflix Dispatch's plugins their scheduled tasks. The composition (bot/features.py) calls them in order;
nothing registers itself by being imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.core.registry import Registry
from bot.core.uow import Stage, UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.desk import Desk
    from bot.infra.scheduler import Job
    from storage.models import Timer

# a timer's work, in the unit of work that fires it (no commit)
TimerHandler = Callable[["AsyncSession", "Desk", "Timer"], Awaitable[None]]
# the jobs a feature schedules for a desk (none when the feature is off there)
JobSource = Callable[["Desk"], "list[Job]"]
# a step of UnitOfWork.finish
Finisher = Callable[[UnitOfWork], Awaitable[None]]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Hook(Generic[F]):
    """A point where one feature lets others join in (``duty`` calls the hooks of ``ABSENCE`` when someone is
    away; ``routing`` registers one that moves their tickets). Declared by the feature that calls it."""

    name: str


@dataclass
class Features:
    commands: Registry = field(default_factory=Registry)
    # by a timer's kind ("workflow:review"), or by a prefix for every kind it starts ("sla": "sla:response:warn")
    timers: dict[str, TimerHandler] = field(default_factory=dict)
    jobs: list[JobSource] = field(default_factory=list)
    finishers: dict[Stage, list[Finisher]] = field(default_factory=dict)
    hooks: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)

    def timer(self, kind: str, handler: TimerHandler) -> None:
        """``handler`` fires the timers of ``kind`` ("duty:away-self"), or of every kind that starts with
        ``kind:`` when it names no more than a prefix ("ping")."""
        if kind in self.timers:
            raise ValueError(f"two handlers for the timers {kind}")
        self.timers[kind] = handler

    def handler_of(self, kind: str) -> TimerHandler | None:
        return self.timers.get(kind) or self.timers.get(kind.partition(":")[0])

    def job(self, source: JobSource) -> None:
        self.jobs.append(source)

    def finish(self, stage: Stage, step: Finisher) -> None:
        self.finishers.setdefault(stage, []).append(step)

    def on(self, hook: Hook[F], fn: F) -> None:
        self.hooks.setdefault(hook.name, []).append(fn)

    def hooked(self, hook: Hook[F]) -> list[F]:
        return list(self.hooks.get(hook.name, ()))  # type: ignore[arg-type]

    def jobs_for(self, desk: Desk) -> list[Job]:
        """Every scheduled job of the features that are on for ``desk``."""
        return [job for source in self.jobs for job in source(desk)]
