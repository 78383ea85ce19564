"""Settling outbox rows: each outcome written with its hooks in one transaction, and crash recovery.

A hook's bug never causes a resend (the row is recorded without the hook and the bug is
logged); a send the database could not record is kept in memory and recorded first when
the database is back. Recovery looks at rows left "sending" by this worker (it restarted)
or by anyone for longer than ``stale_after`` (a lost host).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import LiveAdapter
from bot.core.clock import Clock
from bot.core.errors import SendError, StoreUnavailable
from bot.core.outbound import SendReceipt
from bot.outbox_worker.metrics import OutboxMetrics
from bot.store import Store
from bot.store import outbox as ob
from bot.store import outbox_views as views

log = logging.getLogger(__name__)

#: (conn, row, at): runs in the transaction that marks the row sent (or dead). The row is as
#: it was claimed (a dead-letter hook gets it with its dead status and reason), so a hook can
#: tell from it whether it has work to do without asking the database (it runs for every
#: message that leaves).
SentHook = Callable[[AsyncConnection, ob.OutboxRow, datetime], Awaitable[None]]

#: What an unreachable or failing database raises through SQLAlchemy and the drivers.
STORE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, PoolTimeout, OSError, StoreUnavailable)


class Settler:
    """Records outcomes for one worker; remembers sends the database missed."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        platforms: Sequence[str],
        metrics: OutboxMetrics,
        on_sent: Sequence[SentHook] = (),
        on_dead: Sequence[SentHook] = (),
    ) -> None:
        self._store = store
        self._clock = clock
        self._platforms = list(platforms)
        self._metrics = metrics
        self._on_sent = tuple(on_sent)
        self._on_dead = tuple(on_dead)
        #: Sent, but the database was gone when we went to record it: recorded first thing later.
        self.unconfirmed: dict[int, tuple[ob.OutboxRow, SendReceipt, datetime]] = {}

    async def sent(self, row: ob.OutboxRow, receipt: SendReceipt, at: datetime) -> None:
        try:
            async with self._store.connection() as conn:
                if await ob.mark_sent(conn, row.id, receipt, now=at):
                    for hook in self._on_sent:
                        await hook(conn, row, at)
        except STORE_ERRORS:
            self.unconfirmed[row.id] = (row, receipt, at)
            raise
        except Exception:
            # A hook's bug must not make us send again: record the receipt without the hooks.
            log.exception("outbox %d: on_sent hook failed; recording the send without it", row.id)
            try:
                async with self._store.connection() as conn:
                    await ob.mark_sent(conn, row.id, receipt, now=at)
            except STORE_ERRORS:
                self.unconfirmed[row.id] = (row, receipt, at)
                raise
        self.unconfirmed.pop(row.id, None)

    async def flush(self) -> None:
        for outbox_id, (row, receipt, at) in list(self.unconfirmed.items()):
            await self.sent(row, receipt, at)
            log.info("outbox %d: send recorded after the database came back", outbox_id)

    async def dead(self, row: ob.OutboxRow, reason: str) -> None:
        at = self._clock.now()
        try:
            async with self._store.connection() as conn:
                if await ob.mark_dead(conn, row.id, reason=reason):
                    dead = replace(row, status="dead", last_error=reason)  # the row as it now is
                    for hook in self._on_dead:
                        await hook(conn, dead, at)
        except STORE_ERRORS:
            raise
        except Exception:
            log.exception("outbox %d: on_dead hook failed; dead-lettering without it", row.id)
            async with self._store.connection() as conn:
                await ob.mark_dead(conn, row.id, reason=reason)
        self._metrics.shared.dead(row.platform)
        log.warning(
            "outbox %d dead on %s: %s",
            row.id,
            row.platform,
            reason,
            extra={"outbox_id": row.id, "platform": row.platform},
        )

    async def expire(self, now: datetime) -> int:
        async def expire(with_hooks: bool) -> list[ob.OutboxRow]:
            async with self._store.connection() as conn:
                rows = await ob.expire_overdue(conn, now=now, platforms=self._platforms)
                for row in rows if with_hooks else ():
                    for hook in self._on_dead:
                        await hook(conn, row, now)
                return rows

        try:
            rows = await expire(True)
        except STORE_ERRORS:
            raise
        except Exception:
            log.exception("outbox: on_dead hook failed while expiring; expiring without it")
            rows = await expire(False)
        for row in rows:
            self._metrics.shared.dead(row.platform)
            log.warning(
                "outbox %d dead on %s: expired",
                row.id,
                row.platform,
                extra={"outbox_id": row.id, "platform": row.platform},
            )
        return len(rows)

    async def release(self, ids: Sequence[int]) -> None:
        async with self._store.connection() as conn:
            for outbox_id in ids:
                await ob.release(conn, outbox_id)

    async def recover(
        self, adapters: Mapping[str, LiveAdapter], *, worker_id: str, stale_after: timedelta
    ) -> int:
        """Settle rows left "sending" by a crash of this worker, or stale from any worker.

        Idempotent platforms get the row back for a resend with the same key; the others are
        asked first, and a message the platform already has is recorded as sent. Returns how
        many were recorded that way.
        """
        reconciled = 0
        await self.flush()
        now = self._clock.now()
        async with self._store.connection() as conn:
            rows = await views.stale_sending(
                conn,
                worker_id=worker_id,
                stale_before=now - stale_after,
                platforms=self._platforms,
                exclude=list(self.unconfirmed),
            )
        for row in rows:
            adapter = adapters[row.platform]
            if not adapter.capabilities.idempotent_send:
                try:
                    receipt = await adapter.reconcile(row.to_message())
                except SendError as exc:
                    log.warning(
                        "outbox %d: reconcile with %s failed, trying again later: %s",
                        row.id,
                        row.platform,
                        exc,
                    )
                    continue
                if receipt is not None:
                    log.info("outbox %d: the platform already has it; recorded as sent", row.id)
                    await self.sent(row, receipt, now)
                    reconciled += 1
                    continue
            # The platform drops a repeated idempotency key, or reconcile found nothing: resend.
            async with self._store.connection() as conn:
                await ob.release(conn, row.id)
            log.info("outbox %d left sending by %s: released for a resend", row.id, row.claimed_by)
        return reconciled
