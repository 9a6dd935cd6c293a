"""Command groups; each module registers its commands with ``register(registry)``."""

from __future__ import annotations

from bot.core.registry import Registry
from commands import duty, escalation, kb, queue, sla, ticket, vendor, workflow
from commands import help as help_commands


def register_all(registry: Registry) -> Registry:
    for module in (ticket, workflow, vendor, kb, sla, escalation, duty, queue, help_commands):
        module.register(registry)
    return registry


def build_registry() -> Registry:
    return register_all(Registry())
