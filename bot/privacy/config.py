"""``[channels]``: the duty channels and the guarded public channels with their privacy mode.

```toml
[channels]
duty = ["#support-duty"]         # digests, pings, handovers; "slack:#x" / "matrix:#x" where several platforms run
guarded = ["#general"]           # public channels under the no-public-discussion rule
privacy_mode = "move"            # move | suggest | off
modes = { "#random" = "off" }    # per guarded channel
detector = { threshold = 2.0 }   # the problem-report detector: extra, exclude, disable_defaults, threshold
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bot.core.config import PLATFORM_PREFIXES, Problems, Section
from bot.privacy.detector import ProblemDetector

PrivacyMode = Literal["move", "suggest", "off"]


class ChannelsConfig(Section):
    duty: list[str] = Field(default_factory=list)
    guarded: list[str] = Field(default_factory=list)
    privacy_mode: PrivacyMode = "suggest"
    # per-channel override of privacy_mode, e.g. {"#general" = "move"}
    modes: dict[str, PrivacyMode] = Field(default_factory=dict)
    # the problem-report detector: extra, exclude (patterns per language "de"/"en"/"ru"/"*"),
    # disable_defaults, threshold
    detector: dict[str, Any] = Field(default_factory=dict)

    @field_validator("detector")
    @classmethod
    def _detector(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            ProblemDetector.from_config(value)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _duty_private_modes_guarded(self) -> ChannelsConfig:
        problems = Problems()
        for i, channel in enumerate(self.duty):
            if channel in self.guarded:
                problems.add(f"duty[{i}]", f"\"{channel}\" is also a guarded public channel; the duty channel "
                                           "shows ticket titles and must be private")
        for channel in self.modes:
            if channel not in self.guarded:
                problems.add(f"modes.\"{channel}\"", "not a guarded channel; add it to channels.guarded first")
        problems.raise_any()
        return self

    def duty_entries(self) -> list[tuple[str | None, str]]:
        """Each duty channel as (platform or None for every platform, channel); a Matrix alias keeps its
        server part (``#duty:example.org``), only ``slack:`` and ``matrix:`` are platform prefixes."""
        entries: list[tuple[str | None, str]] = []
        for entry in self.duty:
            prefix, sep, channel = entry.partition(":")
            entries.append((prefix, channel) if sep and prefix in PLATFORM_PREFIXES else (None, entry))
        return entries

    def mode_for(self, channel: str) -> str | None:
        """The privacy mode of a guarded channel; None when the channel is not guarded."""
        if channel not in self.guarded:
            return None
        return self.modes.get(channel, self.privacy_mode)
