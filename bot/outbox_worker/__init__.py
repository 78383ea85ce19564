"""The outbox worker (roof layer): delivers the outbox through the live adapters.

``worker`` holds the loop and crash recovery, ``limits`` the token buckets, ``metrics``
the Prometheus objects; the store side of every step is ``bot.store.outbox``.
"""

from bot.outbox_worker.limits import Rate, RateLimits
from bot.outbox_worker.metrics import OutboxMetrics, OwnSendMetrics, SendMetrics
from bot.outbox_worker.worker import STORE_ERRORS, OutboxWorker, SentHook

__all__ = [
    "STORE_ERRORS",
    "OutboxMetrics",
    "OutboxWorker",
    "OwnSendMetrics",
    "Rate",
    "RateLimits",
    "SendMetrics",
    "SentHook",
]
