"""The outbox's Prometheus metrics, registered on a registry the composition root hands in.

No global registry: the web server (``/metrics``) is given the same ``CollectorRegistry``,
and every test gets its own, so counts never leak between workers or tests.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class OutboxMetrics:
    """Sent, dead and cancelled messages per platform, send latency, and the queue's depth."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.sent = Counter(
            "cohortbot_outbox_sent", "Messages the platform accepted", ["platform"], registry=self.registry
        )
        self.dead = Counter(
            "cohortbot_outbox_dead",
            "Messages dead-lettered (permanent, expired, gave up)",
            ["platform"],
            registry=self.registry,
        )
        self.cancelled = Counter(
            "cohortbot_outbox_cancelled",
            "Messages stopped before sending (opt-out, erasure, undeliverable)",
            ["platform"],
            registry=self.registry,
        )
        self.retried = Counter(
            "cohortbot_outbox_retried",
            "Sends rescheduled after a rate limit or a temporary failure",
            ["platform", "cause"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "cohortbot_outbox_store_errors",
            "Worker rounds that failed because the database was unreachable",
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "cohortbot_outbox_send_seconds",
            "Time spent in the platform's send call",
            ["platform"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.depth = Gauge(
            "cohortbot_outbox_depth", "Pending and sending messages", ["lane"], registry=self.registry
        )
