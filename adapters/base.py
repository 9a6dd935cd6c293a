"""What every platform adapter offers the core: capabilities and a way to send one message."""

from __future__ import annotations

from typing import Protocol

from bot.core.types import Capability, OutboundMessage, Platform


class Adapter(Protocol):
    platform: Platform
    capabilities: frozenset[Capability]

    async def send(self, message: OutboundMessage) -> str | None:
        """Delivers one outbox message; returns the platform's id for it, or raises DeliveryError."""
        ...
