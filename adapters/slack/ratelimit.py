"""A per-channel token bucket: Slack allows about one message per second per channel, with short bursts."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable


class ChannelRateLimiter:
    """``await limiter.acquire(channel)`` waits until a message may go to ``channel``.

    Each channel has a bucket of ``burst`` tokens refilled at ``rate`` per second. Only the
    channels seen recently are remembered (``remember``), which bounds the memory.
    """

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 3,
        *,
        remember: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.remember = remember
        self.monotonic = monotonic
        self.sleep = sleep
        # channel → (tokens, at)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def reserve(self, channel: str) -> float:
        """Takes a token for ``channel`` now and returns how long to wait before using it."""
        now = self.monotonic()
        tokens, at = self._buckets.pop(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate) - 1.0
        self._buckets[channel] = (tokens, now)
        while len(self._buckets) > self.remember:
            self._buckets.popitem(last=False)
        return 0.0 if tokens >= 0 else -tokens / self.rate

    async def acquire(self, channel: str) -> None:
        wait = self.reserve(channel)
        if wait > 0:
            await self.sleep(wait)
