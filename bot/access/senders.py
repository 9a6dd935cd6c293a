"""The sender check of the support mailbox (handbook 003, 2.5): with ``[mail] senders = "known"`` only the
addresses of ``[people]`` (``email``) and of ``[[senders]]`` rules open tickets by mail. Anyone else gets one
polite answer that names the rule and how to register, and no ticket."""

from __future__ import annotations

from fnmatch import fnmatchcase

from bot.core.types import InboundEvent, Platform
from bot.settings import Settings


def known(settings: Settings, address: str) -> bool:
    address = address.strip().lower()
    if any(person.email and person.email.strip().lower() == address for person in settings.people.values()):
        return True
    return any(fnmatchcase(address, rule.address) for rule in settings.senders)


def refused(settings: Settings, event: InboundEvent) -> bool:
    """Whether ``event`` is a new request by mail from a sender the check keeps out."""
    return (event.actor.platform == Platform.MAIL and event.kind == "dm" and settings.mail.senders == "known"
            and not known(settings, event.actor.user_id))
