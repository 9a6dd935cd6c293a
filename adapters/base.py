"""What every platform adapter offers the core: capabilities and a way to send one message."""

from __future__ import annotations

from typing import Protocol

from bot.core.types import Capability, OutboundMessage, Platform, Removal


class Adapter(Protocol):
    platform: Platform
    capabilities: frozenset[Capability]

    async def send(self, message: OutboundMessage) -> str | None:
        """Delivers one outbox message; returns the platform's id for it, or raises DeliveryError."""
        ...

    async def remove(self, removal: Removal) -> str | None:
        """Takes a person's message off a channel (only where the adapter has ``Capability.DELETE``);
        returns the removed message's id, or raises DeliveryError."""
        ...
