"""Small platform-neutral helpers that more than one adapter needs (no platform imports here)."""

from __future__ import annotations

from bot.settings import ChannelsConfig


def configured_channels(channels: ChannelsConfig, platform: str) -> set[str]:
    """The channel names the config gives for ``platform``: its duty channels (``matrix:#x`` or bare
    ``#x``), the guarded channels and those with a privacy mode of their own."""
    names = {channel for only, channel in channels.duty_entries() if only in (None, platform)}
    return names | set(channels.guarded) | set(channels.modes)
