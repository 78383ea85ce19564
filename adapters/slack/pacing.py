"""Time for the Slack adapter: a replaceable clock/sleep pair and the per-channel pacer.

Slack accepts about one message per second per channel; the pacer hands out send slots
per channel so a burst to one channel spreads out while other channels go at once. Time
comes from a ``Timer`` so tests run on a virtual clock (no real waiting) and can check
that nothing was sent before it was allowed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Timer(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealTimer:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ChannelPacer:
    """At most one send per ``interval`` seconds per channel; slots are reserved in call order."""

    def __init__(self, interval: float, *, timer: Timer) -> None:
        self.interval = interval
        self.timer = timer
        self._next: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        now = self.timer.monotonic()
        slot = max(now, self._next.get(channel, now))
        # Reserved before sleeping (no await in between), so concurrent senders queue up.
        self._next[channel] = slot + self.interval
        if slot > now:
            await self.timer.sleep(slot - now)

    def forget_idle(self) -> None:
        """Drop channels whose slot is in the past, so the table stays small on a long run."""
        now = self.timer.monotonic()
        for channel in [c for c, at in self._next.items() if at <= now]:
            del self._next[channel]
