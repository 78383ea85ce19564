"""The outbox worker (roof layer): delivers the outbox through the live adapters.

``worker`` holds the loop, ``settling`` the outcome writes and crash recovery, ``limits``
the token buckets, ``metrics`` the Prometheus objects; the store side of every step is
``bot.store.outbox``.
"""

from bot.outbox_worker.limits import Rate, RateLimits
from bot.outbox_worker.metrics import OutboxMetrics, SendMetrics
from bot.outbox_worker.settling import STORE_ERRORS, SentHook
from bot.outbox_worker.worker import OutboxWorker

__all__ = [
    "STORE_ERRORS",
    "OutboxMetrics",
    "OutboxWorker",
    "Rate",
    "RateLimits",
    "SendMetrics",
    "SentHook",
]
