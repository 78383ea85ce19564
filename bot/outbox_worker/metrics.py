"""The outbox's Prometheus metrics, on a registry the composition root hands in.

The app's shared ``bot.metrics.Metrics`` (sent, dead, depth, latency, exposed at ``/metrics``)
fits ``SendMetrics`` and is passed as ``metrics=``; the worker then adds its own counters
(cancelled, retried, database errors) to that object's registry. A worker built without it
(tests, tools) gets the same metric names on its own registry. No globals: every test and
every bot in one process counts on its own.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SendMetrics(Protocol):
    """What the worker reports about deliveries; ``bot.metrics.Metrics`` implements it."""

    registry: CollectorRegistry

    def sent(self, platform: str, *, seconds: float) -> None: ...

    def dead(self, platform: str) -> None: ...

    def set_outbox_depth(self, lane: str, depth: int) -> None: ...


class OwnSendMetrics:
    """``SendMetrics`` for a worker without the app's metrics, under the same names."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._sent = Counter(
            "cohortbot_messages_sent", "Messages the platform accepted", ["platform"], registry=r
        )
        self._dead = Counter(
            "cohortbot_messages_dead", "Messages given up on (dead-letter)", ["platform"], registry=r
        )
        self._depth = Gauge(
            "cohortbot_outbox_depth", "Outbox rows waiting or being sent", ["lane"], registry=r
        )
        self._latency = Histogram(
            "cohortbot_send_latency_seconds",
            "Time to hand one message to its platform",
            ["platform"],
            buckets=_BUCKETS,
            registry=r,
        )

    def sent(self, platform: str, *, seconds: float) -> None:
        self._sent.labels(platform=platform).inc()
        self._latency.labels(platform=platform).observe(max(seconds, 0.0))

    def dead(self, platform: str) -> None:
        self._dead.labels(platform=platform).inc()

    def set_outbox_depth(self, lane: str, depth: int) -> None:
        self._depth.labels(lane=lane).set(depth)


class OutboxMetrics:
    """The delivery metrics plus the worker's own: cancelled, retried, database errors."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, shared: SendMetrics | None = None
    ) -> None:
        self.shared: SendMetrics = shared if shared is not None else OwnSendMetrics(registry)
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
