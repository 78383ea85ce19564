"""The outbox worker: claim due rows, pace them, send through the adapters, settle each row.

One round: dead-letter expired rows; claim due rows (the interactive lane before the
broadcast lane, only as many as the rate limits allow); for each, re-check consent,
erasure and deliverability, count the attempt, call ``adapter.send`` and record the
outcome. A row is "sending" (committed) before the platform is called, so a crash leaves
a trace; on start-up such rows are released for a resend when the platform drops
repeated idempotency keys, and otherwise reconciled with the platform first.

``run`` serves a live bot (woken by ``wake`` or the next due time, never polling fast);
``drain`` serves ``simulate`` and tests: it moves a ``FrozenClock`` through every wait
(rate limits, retries) up to ``until``, with no real sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from adapters.base import LiveAdapter
from bot.core.clock import Clock, FrozenClock
from bot.core.errors import (
    PermanentSendError,
    RateLimited,
    SendError,
    StoreUnavailable,
    TemporarySendError,
)
from bot.core.outbound import Lane
from bot.outbox_worker.limits import Limiter, RateLimits
from bot.outbox_worker.metrics import OutboxMetrics, SendMetrics
from bot.outbox_worker.settling import STORE_ERRORS, SentHook, Settler
from bot.store import Store
from bot.store import outbox as ob
from bot.store import outbox_views as views
from bot.store.sqlite_inline import inline_sqlite

log = logging.getLogger(__name__)

_LANES: tuple[Lane, ...] = ("interactive", "broadcast")
_MAX_SKIP = 400  # destinations excluded in SQL at most; beyond that they are skipped in Python


#: How often the dead-letter sweep for rows past their deadline runs (by the worker's clock).
_EXPIRE_EVERY = timedelta(minutes=1)
#: The shortest wait for a rate-limit token before another round (see ``_outlook``).
_TOKEN_ROUND = timedelta(milliseconds=250)
#: How often (real seconds) the worker counts the outbox for its depth gauge.
_DEPTH_EVERY = 5.0
#: How long a message of a paused programme waits before the worker looks again.
_PAUSED_RECHECK = timedelta(hours=1)


class OutboxWorker:
    """Delivers the outbox through the adapters, one process-wide instance per ``worker_id``.

    ``worker_id`` must be stable across restarts of the same process (e.g. "host-a/outbox"):
    a restarted worker reconciles the rows it left "sending" at once; rows of any worker
    claimed longer than ``stale_after`` ago are reconciled too, so a lost host is covered.
    """

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, LiveAdapter],
        *,
        clock: Clock,
        worker_id: str,
        on_sent: Sequence[SentHook] = (),
        on_dead: Sequence[SentHook] = (),
        limits: RateLimits | None = None,
        registry: CollectorRegistry | None = None,
        metrics: SendMetrics | None = None,
        batch_size: int = 10,
        stale_after: timedelta = timedelta(minutes=10),
        backoff_base: timedelta = timedelta(seconds=30),
        backoff_cap: timedelta = timedelta(hours=1),
        store_retry_seconds: float = 5.0,
        idle_seconds: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._adapters = dict(adapters)
        self._platforms = sorted(self._adapters)
        self._clock = clock
        self.worker_id = worker_id
        self._limiter = Limiter(limits or RateLimits())
        self.metrics = OutboxMetrics(registry, shared=metrics)
        self._settle = Settler(
            store,
            clock=clock,
            platforms=self._platforms,
            metrics=self.metrics,
            on_sent=on_sent,
            on_dead=on_dead,
        )
        self._batch = batch_size
        self._stale_after = stale_after
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._store_retry = store_retry_seconds
        self._idle = idle_seconds
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._stopping = False
        self._running = False
        self._recovered_at: datetime | None = None
        self._expired_at: datetime | None = None
        self._needs_recovery = True
        #: When the last round said it could next do something (None: nothing waits), and
        #: whether a round has said so yet; ``drain_due`` skips the database until then.
        self._next_at: datetime | None = None
        self._known = False
        self._depth_at: float | None = None  # monotonic time the depth gauge was last counted
        self._nudged = False  # broadcast rows enqueued since the last round
        self._round_at: datetime | None = None  # the clock's time when the last round ended
        self._nudge_timer: asyncio.TimerHandle | None = None

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    # -- lifecycle ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was enqueued that should leave now (an answer, a notice): look at once."""
        self._wake.set()

    def nudge(self) -> None:
        """Broadcast rows were enqueued (invitations, welcomes): look in the next round, which
        comes at once unless a round ran less than ``_TOKEN_ROUND`` ago — then that long after it.

        The pipeline enqueues something in most batches of a busy community; a round per batch
        would mostly find the platforms waiting for tokens. Broadcasts can wait a quarter second.
        """
        self._nudged = True
        if not self._running or self._nudge_timer is not None:
            return
        wait = 0.0
        if self._round_at is not None:
            wait = (self._round_at + _TOKEN_ROUND - self._clock.now()).total_seconds()
        if wait <= 0:
            self._wake.set()
        else:
            self._nudge_timer = asyncio.get_running_loop().call_later(wait, self._nudge_due)

    def _nudge_due(self) -> None:
        self._nudge_timer = None
        self._wake.set()

    async def run(self) -> None:
        """Serve the outbox until ``stop``; a database outage is logged and retried, never fatal.

        Raises ``StoreUnavailable`` only when the database cannot be reached at start.
        """
        # ``_stopping`` is not reset: a stop() that arrives before the task starts still counts.
        self._running = True
        self._done.clear()
        try:
            try:
                await self._recover()
            except STORE_ERRORS as exc:
                raise StoreUnavailable(
                    f"outbox worker {self.worker_id}: cannot reach the database: {exc}"
                ) from exc
            while not self._stopping:
                self._wake.clear()
                self._nudged = False
                timeout = await self._run_once()
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            self._running = False
            self._done.set()

    async def _run_once(self) -> float:
        """One round for ``run``; returns how long to wait for the next one (real seconds)."""
        with inline_sqlite():  # as in ``drain``: the rounds' statements are short
            return await self._run_once_inline()

    async def _run_once_inline(self) -> float:
        try:
            now = self._clock.now()
            if self._needs_recovery or (
                self._recovered_at is not None and now - self._recovered_at >= self._stale_after
            ):
                await self._recover()
            await self._round()
            now = self._clock.now()
            nxt = await self._outlook(now)
            self._round_at = now
            await self._publish_depth()
        except STORE_ERRORS as exc:
            self.metrics.store_errors.inc()
            self._needs_recovery = True
            self._next_at = None
            log.error(
                "outbox worker %s: database unreachable, retrying in %.1fs: %s: %s",
                self.worker_id,
                self._store_retry,
                exc.__class__.__name__,
                exc,
            )
            return self._store_retry
        if nxt is None:
            return self._idle
        return min(self._idle, max((nxt - now).total_seconds(), 0.05))

    async def stop(self) -> None:
        """Finish the send in progress, give back what was claimed but not sent, and return.

        Final: a stopped worker's ``run`` returns at once; build a new worker to start again.
        """
        self._stopping = True
        if self._nudge_timer is not None:
            self._nudge_timer.cancel()
            self._nudge_timer = None
        self._wake.set()
        if self._running:
            await self._done.wait()

    async def drain(self, *, until: datetime | None = None) -> int:
        """Process every due row; with a ``FrozenClock``, move it through the waits up to ``until``.

        Returns how many rows were settled (sent, dead or cancelled). With another clock only
        what is due now is processed. Raises ``StoreUnavailable`` if the database fails.
        """
        frozen = self._clock if isinstance(self._clock, FrozenClock) else None
        self._wake.clear()
        self._nudged = False
        # The rounds' statements are short: SQLite runs them on this thread (``sqlite_inline``).
        with inline_sqlite():
            return await self._drain(frozen, until)

    async def _drain(self, frozen: FrozenClock | None, until: datetime | None) -> int:
        total = 0
        try:
            if self._needs_recovery:
                total += await self._recover()
            while True:
                settled = await self._round()
                total += settled
                now = self._clock.now()
                nxt = await self._outlook(now)
                # A round ends only when nothing due could be claimed at ``now``: another
                # round at the same moment would find nothing, so wait for the clock to move.
                if nxt is None or nxt <= now:
                    break
                if frozen is None or (until is not None and nxt > until):
                    break
                frozen.set(nxt)
            self._round_at = now
            await self._publish_depth()
        except STORE_ERRORS as exc:
            self._needs_recovery = True
            self._next_at = None
            raise StoreUnavailable(f"outbox worker {self.worker_id}: database failed: {exc}") from exc
        return total

    async def drain_due(self, *, until: datetime) -> int:
        """``drain`` when there may be something to do by ``until``; else return at once.

        Something to do means: a wake since the last round, a nudge with the last round
        ``_TOKEN_ROUND`` ago, a recovery or an unrecorded send pending, or the moment the
        last round said it could next do something has come. That is the live ``run`` loop's
        rule, so ``simulate`` costs no query for the many batches that made nothing due.
        """
        nudged = self._nudged and (self._round_at is None or until >= self._round_at + _TOKEN_ROUND)
        if (
            not self._wake.is_set()
            and not nudged
            and not self._needs_recovery
            and not self._settle.unconfirmed
            and (self._next_at is None or self._next_at > until)
            and self._known
        ):
            return 0
        return await self.drain(until=until)

    # -- one round ---------------------------------------------------------------------------

    async def _round(self) -> int:
        """Expire, then claim and deliver until nothing is due or allowed; how many rows settled."""
        await self._settle.flush()
        settled = 0
        now = self._clock.now()
        # Expiry is a sweep over every waiting row: once a minute is plenty (deadlines are days).
        if self._expired_at is None or now - self._expired_at >= _EXPIRE_EVERY or now < self._expired_at:
            settled = await self._settle.expire(now)
            self._expired_at = now
        while not self._stopping:
            now = self._clock.now()
            rows, complete = await self._claim(now)
            if rows is None:
                break
            if not rows:
                continue  # another worker claimed them first: look again
            for i, row in enumerate(rows):
                if self._stopping:
                    await self._settle.release([r.id for r in rows[i:]])
                    break
                paused = self._limiter.paused_until(row.destination, self._clock.now())
                if paused is not None:  # a 429 earlier in this batch: the rest for that place waits
                    async with self._store.connection() as conn:
                        await ob.reschedule(conn, row.id, not_before=paused, error="waiting: paused by a 429")
                    continue
                if await self._deliver(row):
                    settled += 1
            if complete and self._clock.now() == now:
                break  # every row due at ``now`` was looked at: asking again finds nothing new
        return settled

    async def _claim(self, now: datetime) -> tuple[list[ob.OutboxRow] | None, bool]:
        """Claim what the rate limits allow, the interactive lane first.

        Returns (rows, complete): rows is None when nothing is due and allowed, an empty list
        when another worker claimed every chosen row first; complete means every due row was
        seen and either chosen or held back by a rate limit, so a second look at ``now``
        would find nothing more.
        """
        dests, plats = self._limiter.blocked(now)
        skip = sorted(dests, key=lambda d: dests[d], reverse=True)[:_MAX_SKIP]
        limit = self._batch * 5
        async with self._store.connection() as conn:
            candidates = await views.due_in_lanes(
                conn,
                now=now,
                platforms=self._platforms,
                skip_destinations=skip,
                skip_platforms=plats,
                limit=limit,
            )
        chosen: dict[int, tuple[str, str]] = {}
        per_part = Counter((c[3], c[1]) for c in candidates)
        lanes_full = any(n >= limit for n in per_part.values())
        cut = False
        for row_id, platform, dest, _lane in candidates:
            if len(chosen) >= self._batch:
                cut = True
                break
            if dest not in dests and self._limiter.try_take(platform, dest, now):
                chosen[row_id] = (platform, dest)
        complete = not lanes_full and not cut
        if not chosen:
            return None, complete
        async with self._store.connection() as conn:  # a separate, single-statement write
            rows = await ob.claim(conn, list(chosen), now=now, worker_id=self.worker_id)
        for row_id in chosen.keys() - {r.id for r in rows}:
            self._limiter.refund(*chosen[row_id], now)  # lost to another worker: not sent by us
        return rows, complete

    async def _deliver(self, row: ob.OutboxRow) -> bool:
        """Check, send and settle one claimed row; True when it reached a final state."""
        now = self._clock.now()
        async with self._store.connection() as conn:
            # Touch the claim first (SQLite's write lock before the reads, so the check and the
            # attempt count see one database), then the check; the attempt is counted with it.
            check = await views.hold_and_check(conn, row, now=now, worker_id=self.worker_id)
            if check is None:
                return False  # erased or reclaimed meanwhile: not ours to send
            if check.paused:
                # A manager paused the programme: what was queued waits for the resume.
                await ob.reschedule(
                    conn, row.id, not_before=now + _PAUSED_RECHECK, error="waiting: programme paused"
                )
                return False
            if check.block is not None:
                if await ob.mark_cancelled(conn, row.id, reason=check.block):
                    self.metrics.cancelled.labels(row.platform).inc()
                    log.info(
                        "outbox %d cancelled before sending: %s",
                        row.id,
                        check.block,
                        extra={"outbox_id": row.id, "platform": row.platform},
                    )
                return True
        message = row.to_message()
        adapter = self._adapters[row.platform]
        started = time.perf_counter()
        try:
            receipt = await adapter.send(message)
        except RateLimited as exc:
            return await self._rate_limited(row, exc)
        except TemporarySendError as exc:
            return await self._temporary(row, f"{exc}")
        except PermanentSendError as exc:
            await self._settle.dead(row, f"permanent: {exc}")
            return True
        except SendError as exc:
            return await self._temporary(row, f"{exc.__class__.__name__}: {exc}")
        except Exception as exc:  # an adapter bug must not kill the worker; retried like a temporary error
            log.exception("outbox %d: adapter %s raised", row.id, row.platform)
            return await self._temporary(row, f"{exc.__class__.__name__}: {exc}")
        self.metrics.shared.sent(row.platform, seconds=time.perf_counter() - started)
        await self._settle.sent(row, receipt, self._clock.now())
        return True

    async def _rate_limited(self, row: ob.OutboxRow, exc: RateLimited) -> bool:
        now = self._clock.now()
        until = now + timedelta(seconds=max(exc.retry_after, 0.0))
        self._limiter.pause(row.platform, row.destination, now=now, until=until)
        if until > row.deliver_until:
            reason = f"expired: rate limited until {until.isoformat()}, past deliver_until"
            await self._settle.dead(row, reason)
            return True
        async with self._store.connection() as conn:
            error = f"rate limited: retry after {exc.retry_after:g}s"
            await ob.reschedule(conn, row.id, not_before=until, error=error)
        self.metrics.retried.labels(row.platform, "rate_limited").inc()
        log.info(
            "outbox %d rate limited by %s for %gs",
            row.id,
            row.platform,
            exc.retry_after,
            extra={"outbox_id": row.id, "platform": row.platform},
        )
        return False

    def _backoff(self, attempts: int) -> timedelta:
        """Exponential from ``backoff_base``, capped, with jitter in [50%, 100%] so retries spread."""
        raw = self._backoff_base.total_seconds() * (2 ** max(attempts - 1, 0))
        capped = min(raw, self._backoff_cap.total_seconds())
        return timedelta(seconds=capped * (0.5 + 0.5 * self._rng.random()))

    async def _temporary(self, row: ob.OutboxRow, error: str) -> bool:
        attempts = row.attempts + 1
        now = self._clock.now()
        at = now + self._backoff(attempts)
        if at > row.deliver_until:
            reason = f"gave up after {attempts} attempts before deliver_until: {error}"
            await self._settle.dead(row, reason)
            return True
        async with self._store.connection() as conn:
            await ob.reschedule(conn, row.id, not_before=at, error=f"temporary: {error}")
        self.metrics.retried.labels(row.platform, "temporary").inc()
        log.warning(
            "outbox %d: temporary failure on %s (attempt %d), retry at %s: %s",
            row.id,
            row.platform,
            attempts,
            at.isoformat(),
            error,
            extra={"outbox_id": row.id, "platform": row.platform},
        )
        return False

    async def _recover(self) -> int:
        now = self._clock.now()
        reconciled = await self._settle.recover(
            self._adapters, worker_id=self.worker_id, stale_after=self._stale_after
        )
        self._recovered_at = now
        self._needs_recovery = False
        return reconciled

    async def _outlook(self, now: datetime) -> datetime | None:
        """When a round could next do something: a future row, or a rate limit lifting."""
        dests, plats = self._limiter.blocked(now)
        self._limiter.forget_idle(now)
        async with self._store.connection() as conn:
            seen = await views.outlook(conn, now=now, platforms=self._platforms)
        times = [seen.next_after] if seen.next_after is not None else []
        if seen.due_now:
            waits = [*dests.values(), *plats.values()]
            # Rows wait for rate-limit tokens: look again when one is back, but not sooner than
            # _TOKEN_ROUND from now. Buckets keep filling meanwhile (up to their burst), so a
            # backlog goes out at the same pace in rounds of several messages, instead of a
            # round of queries for each token (40 a second on Discord's platform limit).
            times.append(max(min(waits), now + _TOKEN_ROUND) if waits else now)
        nxt = min(times) if times else None
        self._next_at = nxt
        self._known = True
        return nxt

    async def _publish_depth(self) -> None:
        """Count the waiting rows per lane for the gauge, at most every ``_DEPTH_EVERY`` seconds:
        the count walks every waiting row, and /metrics counts again at each scrape anyway."""
        tick = time.monotonic()
        if self._depth_at is not None and tick - self._depth_at < _DEPTH_EVERY:
            return
        async with self._store.connection() as conn:
            depth = await views.depth_by_lane(conn)
        self._depth_at = tick
        for lane in _LANES:
            self.metrics.shared.set_outbox_depth(lane, depth.get(lane, 0))
