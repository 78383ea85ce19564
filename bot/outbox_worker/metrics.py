"""The outbox's Prometheus metrics, on a registry the composition root hands in.

The app's shared ``bot.metrics.Metrics`` (sent, dead, depth, latency, exposed at ``/metrics``)
fits ``SendMetrics`` and is passed as ``metrics=``; the worker then adds its own counters
(cancelled, retried, database errors) to that object's registry. A worker built without it
(tests, tools) gets its own ``Metrics`` on the registry it was given. No globals: every test and
every bot in one process counts on its own.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from bot.metrics import Metrics


class SendMetrics(Protocol):
    """What the worker reports about deliveries; ``bot.metrics.Metrics`` implements it."""

    registry: CollectorRegistry

    def sent(self, platform: str, *, seconds: float) -> None: ...

    def dead(self, platform: str) -> None: ...

    def set_outbox_depth(self, lane: str, depth: int) -> None: ...


class OutboxMetrics:
    """The delivery metrics plus the worker's own: cancelled, retried, database errors."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, shared: SendMetrics | None = None
    ) -> None:
        self.shared: SendMetrics = shared if shared is not None else Metrics(registry)
        self.registry = self.shared.registry
        r = self.registry
        self.cancelled = Counter(
            "cohortbot_outbox_cancelled",
            "Messages stopped before sending (opt-out, erasure, undeliverable)",
            ["platform"],
            registry=r,
        )
        self.retried = Counter(
            "cohortbot_outbox_retried",
            "Sends rescheduled after a rate limit or a temporary failure",
            ["platform", "cause"],
            registry=r,
        )
        self.store_errors = Counter(
            "cohortbot_outbox_store_errors",
            "Worker rounds that failed because the database was unreachable",
            registry=r,
        )
