"""The scripted adapter behind `dutydesk simulate`: it writes every message the bot sends as one
transcript JSON line, using the scenario's names (DESIGN.md, "Scenario and transcript")."""

from __future__ import annotations

import json
from datetime import UTC
from typing import IO

from bot.core.clock import Clock
from bot.core.ports import DeliveryError
from bot.core.types import Capability, OutboundMessage, Platform, Removal, Visibility

PROFILES: dict[str, frozenset[Capability]] = {
    # Slack: ephemeral messages, buttons, modals, private channels, and deleting with a user token
    "slack": frozenset({Capability.EPHEMERAL, Capability.MODALS, Capability.BUTTONS, Capability.THREADS,
                        Capability.REACTIONS, Capability.DMS, Capability.PRIVATE_ROOMS, Capability.DELETE}),
    # Matrix: no ephemeral messages and no buttons (reactions or numbered replies instead)
    "matrix": frozenset({Capability.THREADS, Capability.REACTIONS, Capability.DMS, Capability.PRIVATE_ROOMS,
                         Capability.DELETE}),
}
PREFIXES = {"slack": "/", "matrix": "!"}


def iso_utc(clock: Clock) -> str:
    return clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimAdapter:
    platform = Platform.SIM

    def __init__(self, profile: str, clock: Clock, out: IO[str], private_channels: set[str],
                 can_remove: bool = True) -> None:
        self.profile = profile
        self.can_remove = can_remove
        self.capabilities = PROFILES[profile]
        self.clock = clock
        self.out = out
        self.private_channels = private_channels
        self.lines: list[dict[str, object]] = []
        self.closed = False

    def emit(self, line: dict[str, object]) -> None:
        self.lines.append(line)
        if self.closed:
            return
        try:
            self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.out.flush()
        except BrokenPipeError:
            # the reader went away (`simulate … | head`): the run stops at the next step
            self.closed = True

    async def send(self, message: OutboundMessage) -> str | None:
        target = message.target
        extra: dict[str, object] = {}
        if target.kind == "ephemeral":
            to, visibility = target.channel_id, Visibility.EPHEMERAL
            extra["for"] = f"@{target.user_id}"
        elif target.kind == "dm":
            to, visibility = f"@{target.user_id}", Visibility.PRIVATE
        elif target.kind == "ticket":
            to, visibility = f"ticket:{target.ticket}", Visibility.PRIVATE
        else:
            to = target.channel_id
            visibility = Visibility.PRIVATE if to in self.private_channels else Visibility.PUBLIC
        line: dict[str, object] = {
            "at": iso_utc(self.clock),
            "to": to,
            "visibility": visibility.value,
            "kind": message.kind,
            "ticket": message.ticket,
            "text": message.text,
            **extra,
        }
        if message.buttons:
            line["buttons"] = [b.action for b in message.buttons]
        self.emit(line)
        return f"sim-{message.id}"

    async def remove(self, removal: Removal) -> str:
        """Removes a person's public message, unless the scenario took that right away."""
        if not self.can_remove:
            raise DeliveryError("the bot may not remove other people's messages here", permanent=True)
        self.emit({"at": iso_utc(self.clock), "removed": removal.message_id, "from": removal.target.channel_id})
        return removal.message_id
