"""Time for the Slack adapter: a replaceable clock/sleep pair and the per-channel pacer.

Slack accepts about one message per second per channel; the pacer holds each channel for
one message at a time (429 retries included) and spaces them, so a burst to one channel
spreads out while other channels go at once. Time
comes from a ``Timer`` so tests run on a virtual clock (no real waiting) and can check
that nothing was sent before it was allowed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
    """At most one send per ``interval`` seconds per channel, counting retries after a 429.

    ``async with pacer.slot(channel):`` holds the channel for one message (its retries
    included), starting no sooner than ``interval`` after the previous one in that channel
    finished; other channels are not held up. Holding the channel also keeps its messages
    in the order they were handed over.
    """

    def __init__(self, interval: float, *, timer: Timer) -> None:
        self.interval = interval
        self.timer = timer
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._next: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        self._users[channel] = self._users.get(channel, 0) + 1
        try:
            async with lock:
                wait = self._next.get(channel, 0.0) - self.timer.monotonic()
                if wait > 0:
                    await self.timer.sleep(wait)
                try:
                    yield
                finally:
                    self._next[channel] = self.timer.monotonic() + self.interval
        finally:
            self._users[channel] -= 1
            if not self._users[channel]:  # nobody else holds or waits: keep the tables small
                del self._users[channel], self._locks[channel]
                if len(self._next) > 1000:
                    now = self.timer.monotonic()
                    self._next = {c: at for c, at in self._next.items() if at > now}
