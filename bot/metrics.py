"""The bot's Prometheus metrics, in one registry the composition root creates and hands out.

The pipeline, the outbox worker and the web server receive the same ``Metrics`` object; the
web server exposes its registry at ``/metrics``. No module-level metric objects, so tests
and several bots in one process never share counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Seconds from a claim to the platform's receipt; chat sends take tens of ms, SMTP seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LANES = ("interactive", "broadcast")


class Metrics:
    """Events ingested, segment changes, messages sent and dead, outbox depth, send latency."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events_ingested = Counter(
            "cohortbot_events_ingested", "Events stored by the pipeline", ["platform"], registry=r
        )
        self.events_duplicate = Counter(
            "cohortbot_events_duplicate", "Events dropped as already stored", ["platform"], registry=r
        )
        self.segment_changes = Counter(
            "cohortbot_segment_changes", "Members entering a segment", ["segment"], registry=r
        )
        self.messages_sent = Counter(
            "cohortbot_messages_sent", "Messages the platform accepted", ["platform"], registry=r
        )
        self.messages_dead = Counter(
            "cohortbot_messages_dead", "Messages given up on (dead-letter)", ["platform"], registry=r
        )
        self.outbox_depth = Gauge(
            "cohortbot_outbox_depth", "Outbox rows waiting or being sent", ["lane"], registry=r
        )
        self.send_latency = Histogram(
            "cohortbot_send_latency_seconds",
            "Time to hand one message to its platform",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        for lane in LANES:
            self.outbox_depth.labels(lane=lane).set(0)

    def ingested(self, platform: str, count: int = 1, *, duplicates: int = 0) -> None:
        if count:
            self.events_ingested.labels(platform=platform).inc(count)
        if duplicates:
            self.events_duplicate.labels(platform=platform).inc(duplicates)

    def segment_changed(self, segment: str, count: int = 1) -> None:
        if count:
            self.segment_changes.labels(segment=segment).inc(count)

    def sent(self, platform: str, *, seconds: float) -> None:
        self.messages_sent.labels(platform=platform).inc()
        self.send_latency.labels(platform=platform).observe(max(seconds, 0.0))

    def dead(self, platform: str) -> None:
        self.messages_dead.labels(platform=platform).inc()

    def set_outbox_depth(self, lane: str, depth: int) -> None:
        self.outbox_depth.labels(lane=lane).set(depth)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (what ``/metrics`` answers)."""
        return generate_latest(self.registry)
