"""The desk: settings, clock, storage and registry that every service of one bot process shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.calendar import BusinessCalendar, build_calendars
from bot.core.clock import Clock
from bot.core.features import Features
from bot.core.registry import Registry
from bot.core.types import Capability, Platform, Target
from bot.privacy.detector import ProblemDetector
from bot.settings import Settings
from bot.sla import SlaPolicy, build_policies

COMMAND_PREFIX = {Platform.SLACK: "/", Platform.MATRIX: "!", Platform.CONSOLE: "/", Platform.SIM: "/"}


@dataclass
class Desk:
    settings: Settings
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    registry: Registry
    # the timer handlers, jobs, unit-of-work steps and hooks of the installed features (bot/features.py)
    features: Features = field(default_factory=Features)
    # capabilities of each running adapter, by platform
    platforms: dict[Platform, frozenset[Capability]] = field(default_factory=dict)
    prefixes: dict[Platform, str] = field(default_factory=lambda: dict(COMMAND_PREFIX))

    @cached_property
    def calendars(self) -> dict[str, BusinessCalendar]:
        return build_calendars(self.settings.calendars)

    @cached_property
    def policies(self) -> dict[str, SlaPolicy]:
        return build_policies(self.settings.sla, self.calendars)

    @cached_property
    def detector(self) -> ProblemDetector:
        return ProblemDetector.from_config(self.settings.channels.detector)

    @property
    def language(self) -> str:
        return self.settings.desk.language

    @property
    def informal(self) -> bool:
        """Requesters are addressed with "du"/"ты" ([desk] formal = false); staff text is informal anyway."""
        return not self.settings.desk.formal

    @property
    def prefix(self) -> str:
        return self.settings.desk.ticket_prefix

    def command_groups(self) -> set[str]:
        """The first words of the desk's commands (``ticket``, ``duty`` …): the ``desk`` port of the adapters."""
        return self.registry.groups()

    def can(self, platform: Platform, capability: Capability) -> bool:
        return capability in self.platforms.get(platform, frozenset())

    def offers_buttons(self, platform: Platform) -> bool:
        """Buttons can be answered there: as buttons, or as numbered options (Matrix)."""
        return self.can(platform, Capability.BUTTONS) or self.can(platform, Capability.CHOICES)

    def duty_targets(self) -> list[Target]:
        """The duty channels on every running platform (``slack:#x`` limits one to that platform)."""
        return [
            Target(kind="channel", platform=platform, channel_id=channel)
            for only, channel in self.settings.channels.duty_entries()
            for platform in self.platforms
            # the mailbox has no channels: the duty team reads chat
            if (only is None or only == platform.value) and platform != Platform.MAIL
        ]

    def is_duty_channel(self, channel_id: str) -> bool:
        names = {channel for _, channel in self.settings.channels.duty_entries()}
        return channel_id in names
