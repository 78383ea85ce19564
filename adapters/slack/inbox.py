"""Inbound work taken off Slack's clock: acknowledge at once, deliver to the sink after.

Slack wants an answer within 3 seconds and retries otherwise, while storing an event can
take longer (a busy database, a profile lookup). So a request is acknowledged as soon as
its job is queued here, and one worker delivers jobs in arrival order. A job that fails
(the sink raised) is logged and queued again after a growing pause, without holding up
the ones behind it; nothing is dropped while the bot runs.

Repeats are cut at two levels. Slack re-sends an event it thinks was not acknowledged
(``X-Slack-Retry-Num``, a new Socket Mode envelope for the same ``event_id``); ``first_sight``
remembers recent event ids in memory so those are dropped here. Memory ends with the
process, so the last word is the sink's: the store keys every activity by ``event_uid``
and a repeat after a restart is a no-op there.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.slack.pacing import Timer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Job:
    """One unit of inbound work: translate, deliver to the sink, answer the person if needed."""

    label: str  # for the log: the event id, or "command /cohort optout"
    run: Callable[[], Awaitable[None]]
    attempts: int = 0


class Inbox:
    def __init__(
        self,
        *,
        timer: Timer,
        retry_first: float = 1.0,
        retry_max: float = 300.0,
        remember: int = 10_000,
    ) -> None:
        self.timer = timer
        self.retry_first = retry_first
        self.retry_max = retry_max
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._waiting: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0
        self.failures = 0

    def first_sight(self, event_id: str) -> bool:
        """True the first time an event id is offered (within the last ``remember`` ids)."""
        if not event_id:
            return True
        if event_id in self._seen:
            self._seen.move_to_end(event_id)
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True

    def put(self, job: Job) -> None:
        self._busy += 1
        self._idle.clear()
        self._queue.put_nowait(job)

    def start(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="slack-inbox")

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                job.attempts += 1
                delay = min(self.retry_max, self.retry_first * 2 ** (job.attempts - 1))
                log.exception("slack: delivering %s failed (attempt %d); trying again in %.0f s",
                              job.label, job.attempts, delay)
                task = asyncio.create_task(self._again(job, delay))
                self._waiting.add(task)
                task.add_done_callback(self._waiting.discard)
                continue
            self._done()

    async def _again(self, job: Job, delay: float) -> None:
        await self.timer.sleep(delay)
        self._queue.put_nowait(job)

    def _done(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    @property
    def pending(self) -> int:
        """Jobs accepted but not yet delivered (queued, running or waiting for a retry)."""
        return self._busy

    async def drain(self) -> None:
        """Return once every accepted job has been delivered (tests; a graceful stop)."""
        await self._idle.wait()

    async def stop(self, *, grace: float = 10.0) -> None:
        """Deliver what is queued for up to ``grace`` seconds, then give up and say what is lost."""
        if self._worker is not None:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=grace)
            except TimeoutError:
                log.error("slack: stopping with %d inbound job(s) undelivered; messages among them "
                          "come back with the next start's back-fill", self._busy)
            self._worker.cancel()
            for task in list(self._waiting):
                task.cancel()
            await asyncio.gather(self._worker, *self._waiting, return_exceptions=True)
            self._worker = None
