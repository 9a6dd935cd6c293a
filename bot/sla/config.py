"""The ``[sla.NAME]`` section of ``dutydesk.toml`` (see DESIGN.md, Configuration)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from bot.calendar.hours import parse_clock_time
from bot.core.config import CalendarName
from bot.sla.durations import parse_duration


class SlaTargetConfig(BaseModel):
    """One named target, e.g. ``P1 = { within = "4h", cutoff = "12:00" }``."""

    model_config = ConfigDict(extra="forbid")

    within: str
    cutoff: str | None = None

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("cutoff")
    @classmethod
    def _cutoff(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_clock_time(value)
            except ValueError as exc:
                raise ValueError(f'cutoff: {exc}; e.g. cutoff = "12:00"') from None
        return value


class SlaPolicyConfig(BaseModel):
    """A policy: the calendar it runs on, how a working day is read, and its named targets."""

    model_config = ConfigDict(extra="forbid")

    calendar: CalendarName
    working_day: Literal["hours", "closing"] = "hours"
    targets: dict[str, SlaTargetConfig]

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: dict[str, SlaTargetConfig]) -> dict[str, SlaTargetConfig]:
        if not value:
            raise ValueError('a policy needs at least one target, e.g. targets.P1 = { within = "4h" }')
        return value
