"""Composition: the features this build installs, each added by its one ``register(features)``.

The order is the order of their commands in the registry and of their unit-of-work steps within a stage;
``/help`` comes last, since it lists what the others registered.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.contacts import feature as contacts
from bot.core.features import Features
from bot.core.registry import Registry
from bot.digest import feature as digest
from bot.duty import feature as duty
from bot.mailbox import feature as mailbox
from bot.reports import feature as reports
from bot.routing import feature as routing
from bot.sla import feature as sla
from bot.tickets import feature as tickets
from bot.workflow import feature as workflow
from commands import help as help_commands

INSTALLED: tuple[Callable[[Features], None], ...] = (
    tickets.register, contacts.register, workflow.register, sla.register, duty.register, digest.register,
    routing.register, reports.register, mailbox.register,
)


def install() -> Features:
    features = Features()
    for register in INSTALLED:
        register(features)
    help_commands.register(features.commands)
    return features


def build_registry() -> Registry:
    """Every command the installed features offer, as the bot parses them."""
    return install().commands
