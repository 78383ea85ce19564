"""A worker process for the crash test: drains the outbox through the HTTP fake platform.

Usage: python outbox_crash_worker.py DB_URL PLATFORM_URL IDEMPOTENT(0|1) WORKER_ID NOW_ISO
With COHORTBOT_TEST_KILL_AFTER_SEND=N in the environment the process kills itself with
SIGKILL right after the platform accepted its N-th message, before the worker can commit:
the one moment where a careless outbox would send twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime

from adapters.fake import HttpFakeAdapter
from bot.core.clock import FrozenClock
from bot.core.events import Event
from bot.core.outbound import CommandReply, OutboundMessage, SendReceipt
from bot.outbox_worker import OutboxWorker, RateLimits
from bot.store import open_store


async def _ignore(event: Event) -> CommandReply | None:
    return None


async def main(db_url: str, platform_url: str, idempotent: bool, worker_id: str, now: datetime) -> int:
    kill_after = int(os.environ.get("COHORTBOT_TEST_KILL_AFTER_SEND", "0"))
    accepted = 0

    def after_send(message: OutboundMessage, receipt: SendReceipt) -> None:
        nonlocal accepted
        accepted += 1
        if kill_after and accepted >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    store = await open_store(db_url, migrate=False)
    adapter = HttpFakeAdapter("discord", platform_url, idempotent=idempotent, after_send=after_send)
    await adapter.start(_ignore)
    try:
        worker = OutboxWorker(
            store,
            {"discord": adapter},
            clock=FrozenClock(now),
            worker_id=worker_id,
            limits=RateLimits.unlimited(),
        )
        return await worker.drain()
    finally:
        await adapter.stop()
        await store.close()


if __name__ == "__main__":
    url, base, idem, wid, at = sys.argv[1:6]
    settled = asyncio.run(main(url, base, idem == "1", wid, datetime.fromisoformat(at)))
    print(settled)
