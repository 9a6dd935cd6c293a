"""The scripted adapter behind `dutydesk simulate`: it writes every message the bot sends as one
transcript JSON line, using the scenario's names (DESIGN.md, "Scenario and transcript")."""

from __future__ import annotations

import json
from datetime import UTC
from typing import IO

from bot.core.clock import Clock
from bot.core.ports import DeliveryError
from bot.core.types import Button, Capability, OutboundMessage, Platform, Removal, Visibility

PROFILES: dict[str, frozenset[Capability]] = {
    # Slack: ephemeral messages, buttons, modals, private channels, and deleting with a user token
    "slack": frozenset({Capability.EPHEMERAL, Capability.MODALS, Capability.BUTTONS, Capability.THREADS,
                        Capability.REACTIONS, Capability.DMS, Capability.PRIVATE_ROOMS, Capability.DELETE,
                        Capability.ARCHIVE}),
    # Matrix: no ephemeral messages and no buttons (numbered choices answered by number or reaction instead)
    "matrix": frozenset({Capability.THREADS, Capability.REACTIONS, Capability.DMS, Capability.PRIVATE_ROOMS,
                         Capability.DELETE, Capability.CHOICES}),
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
        # line id → where it went, its ticket and the buttons it offers now (a change in place replaces them)
        self.offers: dict[str, tuple[str, str | None, tuple[Button, ...]]] = {}
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

    @staticmethod
    def line_id(message_id: int) -> str:
        """A bot line's ``id`` in the transcript (and the platform's id of its message: ``send`` returns it)."""
        return f"bot-{message_id}"

    async def send(self, message: OutboundMessage) -> str | None:
        target = message.target
        if message.space == "unarchive":
            return None  # usable again: the next message there shows it
        if message.space == "topic":
            return None  # the space's name and topic: no transcript line
        if message.space == "archive":
            said = await self.send(message.model_copy(update={"space": None}))
            self.emit({"at": iso_utc(self.clock), "archived": f"ticket:{target.ticket}"})
            return said
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
        if target.kind == "channel" and target.thread_id is not None:
            extra["thread"] = target.thread_id  # a reply in the thread of that line
        if message.updates is not None:
            # changed in place: which line, and its new text and buttons (the other keys as for any message,
            # so that a reader filtering by "to" or "kind" never meets a line without them)
            if message.updates in self.offers:
                self.offers[message.updates] = (to or "", message.ticket, message.buttons)
            self.emit({"at": iso_utc(self.clock), "updated": message.updates, "to": to,
                       "visibility": visibility.value, "kind": message.kind, "ticket": message.ticket,
                       "text": message.text, "buttons": [b.action for b in message.buttons]})
            return message.updates
        line: dict[str, object] = {
            "id": self.line_id(message.id),
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
            self.offers[self.line_id(message.id)] = (to or "", message.ticket, message.buttons)
        if message.files:  # the report's chart: name, media type and size, never the bytes
            line["files"] = [{"name": f.name, "type": f.type, "bytes": len(f.data)} for f in message.files]
        self.emit(line)
        return self.line_id(message.id)

    async def remove(self, removal: Removal) -> str:
        """Removes a person's public message, unless the scenario took that right away."""
        if not self.can_remove:
            raise DeliveryError("the bot may not remove other people's messages here", permanent=True)
        self.emit({"at": iso_utc(self.clock), "removed": removal.message_id, "from": removal.target.channel_id})
        return removal.message_id
