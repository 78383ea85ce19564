"""An in-memory platform for tests and ``simulate``: inject events, read what was sent, script failures.

It implements ``LiveAdapter`` exactly as a real platform adapter does, so a test drives
the real pipeline and the real outbox worker and then reads ``transcript``: every message
the "platform" accepted, with the (virtual) time it arrived. Failures are scripted:
``fail_next`` and ``fail_for`` raise the given errors on the next sends, ``storm`` answers
429 to every destination for a while and records any send that came back too early.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from adapters.base import LiveAdapter
from bot.core.clock import Clock, SystemClock
from bot.core.errors import RateLimited, SendError
from bot.core.events import Event
from bot.core.outbound import Capabilities, CommandReply, EventSink, OutboundMessage, SendReceipt


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message the fake platform accepted, and when (by the adapter's clock)."""

    message: OutboundMessage
    at: datetime
    receipt: SendReceipt


@dataclass(frozen=True, slots=True)
class Refusal:
    """A send the fake platform refused, and with what."""

    message: OutboundMessage
    at: datetime
    error: SendError


def recipient_key(message: OutboundMessage) -> str:
    """The fake platform's own idea of a destination: the channel, else the user, else the address."""
    to = message.to
    return to.channel or to.user_id or (to.email or "").lower()


class FakeAdapter:
    """A complete ``LiveAdapter`` that keeps everything in memory."""

    def __init__(
        self, platform: str, *, capabilities: Capabilities | None = None, clock: Clock | None = None
    ) -> None:
        self._platform = platform
        self._capabilities = capabilities or Capabilities(platform=platform)
        self._clock = clock or SystemClock()
        self._sink: EventSink | None = None
        self.transcript: list[Delivery] = []
        self.refusals: list[Refusal] = []
        #: Sends that arrived at a destination before the retry time it had been given.
        self.early: list[Refusal] = []
        self.replies: list[CommandReply | None] = []
        #: Test hook, awaited at the start of every send (e.g. to take the database away).
        self.on_send: Callable[[OutboundMessage], Awaitable[None]] | None = None
        self._next_errors: deque[SendError] = deque()
        self._key_errors: dict[str, deque[SendError]] = defaultdict(deque)
        self._by_key: dict[str, SendReceipt] = {}
        self._storm_retry = 0.0
        self._storm_times = 0
        self._storm_count: dict[str, int] = defaultdict(int)
        self._blocked_until: dict[str, datetime] = {}
        self._serial = 0

    @property
    def platform(self) -> str:
        return self._platform

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    async def inject(self, event: Event) -> CommandReply | None:
        """Deliver an inbound event to the sink, as the platform would; returns the sink's reply."""
        if self._sink is None:
            raise RuntimeError(f"fake {self._platform} adapter is not started")
        reply = await self._sink(event)
        self.replies.append(reply)
        return reply

    # -- scripting failures -------------------------------------------------------------------

    def fail_next(self, *errors: SendError) -> None:
        """The next sends (of any message) raise these, in order."""
        self._next_errors.extend(errors)

    def fail_for(self, dedupe_key: str, *errors: SendError) -> None:
        """The next sends of this message raise these, in order."""
        self._key_errors[dedupe_key].extend(errors)

    def storm(self, *, retry_after: float, times: int = 1) -> None:
        """429 storm: the first ``times`` sends to every destination are refused with ``retry_after``.

        A send to a destination before its retry time is refused again and kept in ``early``.
        """
        self._storm_retry = retry_after
        self._storm_times = times

    # -- the platform -------------------------------------------------------------------------

    def _refuse(self, message: OutboundMessage, at: datetime, error: SendError) -> SendError:
        self.refusals.append(Refusal(message, at, error))
        return error

    def _storm_check(self, message: OutboundMessage, at: datetime) -> None:
        if not self._storm_times:
            return
        dest = recipient_key(message)
        until = self._blocked_until.get(dest)
        if until is not None and at < until:
            refusal = RateLimited((until - at).total_seconds(), "429: too early")
            self.early.append(Refusal(message, at, refusal))
            raise self._refuse(message, at, refusal)
        if self._storm_count[dest] < self._storm_times:
            self._storm_count[dest] += 1
            self._blocked_until[dest] = at + timedelta(seconds=self._storm_retry)
            raise self._refuse(message, at, RateLimited(self._storm_retry, "429: storm"))

    async def send(self, message: OutboundMessage) -> SendReceipt:
        at = self._clock.now()
        if self.on_send is not None:
            await self.on_send(message)
        self._storm_check(message, at)
        keyed = self._key_errors.get(message.dedupe_key)
        if keyed:
            raise self._refuse(message, at, keyed.popleft())
        if self._next_errors:
            raise self._refuse(message, at, self._next_errors.popleft())
        key = message.idempotency_key
        if self._capabilities.idempotent_send and key in self._by_key:
            return self._by_key[key]  # the platform drops a repeat; nothing new is delivered
        self._serial += 1
        receipt = SendReceipt(native_id=f"{self._platform}-{self._serial}", delivered_at=at)
        self._by_key[key] = receipt
        self.transcript.append(Delivery(message, at, receipt))
        return receipt

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None:
        return self._by_key.get(message.idempotency_key)

    # -- reading the transcript ---------------------------------------------------------------

    def sent_keys(self) -> list[str]:
        return [d.message.dedupe_key for d in self.transcript]

    def texts(self) -> list[str]:
        return [d.message.text for d in self.transcript]


if TYPE_CHECKING:  # mypy proves the fake is a complete LiveAdapter
    _conforms: LiveAdapter = FakeAdapter("fake")
