"""The outbox worker against the in-memory fake platform on virtual time: lanes, limits, failures, consent."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from outbox_support import T0, add_member, dm, opt_out, post, put, rows
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.fake import FakeAdapter
from bot.core.clock import FrozenClock, SystemClock
from bot.core.errors import PermanentSendError, RateLimited, TemporarySendError
from bot.core.outbound import Capabilities, OutboundMessage
from bot.outbox_worker import OutboxWorker, Rate, RateLimits
from bot.store import Store
from bot.store.live_models import Erasure, OutboxMessage
from bot.store.models import Member
from bot.store.outbox import OutboxRow
from bot.store.privacy import identity_hash


def make_worker(store: Store, *adapters: FakeAdapter, clock: Any, **kw: Any) -> OutboxWorker:
    kw.setdefault("limits", RateLimits.unlimited())
    return OutboxWorker(
        store, {a.platform: a for a in adapters}, clock=clock, worker_id="w1", rng=random.Random(7), **kw
    )


def fake(platform: str, clock: FrozenClock, **caps: Any) -> FakeAdapter:
    return FakeAdapter(platform, capabilities=Capabilities(platform=platform, **caps), clock=clock)


async def test_sends_records_the_receipt_and_runs_on_sent_in_the_same_transaction(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    seen: list[tuple[int, str, datetime]] = []

    async def on_sent(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
        t = OutboxMessage.__table__
        status = (await conn.execute(select(t.c.status).where(t.c.id == row.id))).scalar_one()
        seen.append((row.id, status, at))

    [row_id] = await put(store, dm("hello"))
    assert await make_worker(store, discord, clock=clock, on_sent=[on_sent]).drain() == 1
    assert discord.sent_keys() == ["hello"]
    row = (await rows(store))["hello"]
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, T0)
    assert row["receipt"]["native_id"] == discord.transcript[0].receipt.native_id
    assert seen == [(row_id, "sent", T0)]


async def test_a_failing_on_sent_hook_does_not_make_the_message_go_twice(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)

    async def broken(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
        raise ValueError("hook bug")

    await put(store, dm("once"))
    worker = make_worker(store, discord, clock=clock, on_sent=[broken])
    await worker.drain()
    await worker.drain()
    assert discord.sent_keys() == ["once"]
    assert (await rows(store))["once"]["status"] == "sent"


async def test_the_interactive_lane_overtakes_waiting_broadcasts(store: Store) -> None:
    clock = FrozenClock(T0)
    slack = fake("slack", clock)
    limits = RateLimits(per_destination={}, per_platform={"slack": Rate(1.0, 1)})
    await put(store, *[post(f"b{i}", channel=f"c{i}") for i in range(4)])
    await put(store, post("answer", channel="c9", lane="interactive", not_before=T0 + timedelta(seconds=1)))
    await make_worker(store, slack, clock=clock, limits=limits).drain()
    assert slack.sent_keys() == ["b0", "answer", "b1", "b2", "b3"]
    assert [d.at for d in slack.transcript] == [T0 + timedelta(seconds=s) for s in range(5)]


async def test_each_destination_is_paced_by_its_own_bucket(store: Store) -> None:
    clock = FrozenClock(T0)
    slack = fake("slack", clock)
    limits = RateLimits(per_destination={"slack": Rate(1.0, 1)}, per_platform={})
    await put(store, post("a1"), post("a2"), post("a3"), post("b1", channel="c2"))
    assert await make_worker(store, slack, clock=clock, limits=limits).drain() == 4
    times = {d.message.dedupe_key: (d.at - T0).total_seconds() for d in slack.transcript}
    assert times == {"a1": 0.0, "a2": 1.0, "a3": 2.0, "b1": 0.0}


async def test_a_backlog_waiting_for_tokens_goes_out_in_rounds_at_the_same_pace(store: Store) -> None:
    # 40 a second on the platform: a round per token would be every 25 ms; the worker waits at
    # least 250 ms between rounds and sends what the bucket gathered meanwhile.
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    limits = RateLimits(per_destination={}, per_platform={"discord": Rate(40.0, 40)})
    await put(store, *[dm(f"m{i}", user=f"u{i}") for i in range(100)])
    assert await make_worker(store, discord, clock=clock, limits=limits).drain() == 100
    times = [(d.at - T0).total_seconds() for d in discord.transcript]
    rounds = sorted(set(times))
    assert times.count(0.0) == 40  # the burst first
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(rounds))
    for at in rounds:  # never faster than the bucket: 40 at once, then 40 a second
        assert sum(1 for t in times if t <= at) <= 40 + 40 * at + 1e-9
    assert rounds[-1] == pytest.approx(1.5)  # 60 more at 40/s: the same pace as one by one


async def test_a_nudge_waits_for_the_next_round_and_a_wake_does_not(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    worker = make_worker(store, discord, clock=clock)
    assert await worker.drain_due(until=T0) == 0  # first call: looks, finds nothing
    await put(store, dm("invite"), now=T0)
    worker.nudge()
    clock.set(T0 + timedelta(milliseconds=100))
    assert await worker.drain_due(until=clock.now()) == 0  # a broadcast waits for the next round
    assert discord.sent_keys() == []
    clock.set(T0 + timedelta(milliseconds=250))
    assert await worker.drain_due(until=clock.now()) == 1
    await put(store, dm("answer", user="u2", lane="interactive"), now=clock.now())
    worker.wake()  # an answer goes at once, however recent the last round
    assert await worker.drain_due(until=clock.now()) == 1
    assert discord.sent_keys() == ["invite", "answer"]


async def test_a_nudge_brings_the_sleeping_live_loop_round(store: Store) -> None:
    clock = SystemClock()
    discord = fake("discord", clock)  # type: ignore[arg-type]
    sent = asyncio.Event()

    async def on_sent(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
        sent.set()

    worker = make_worker(store, discord, clock=clock, on_sent=[on_sent], idle_seconds=3600)
    task = asyncio.create_task(worker.run())
    try:
        await put(store, dm("first"), now=clock.now())
        worker.wake()
        await asyncio.wait_for(sent.wait(), 30)
        sent.clear()
        await put(store, dm("second", user="u2"), now=clock.now())
        worker.nudge()  # the loop sleeps for an hour unless the nudge schedules a round
        await asyncio.wait_for(sent.wait(), 30)
        assert discord.sent_keys() == ["first", "second"]
    finally:
        await worker.stop()
        await task


async def test_the_depth_gauge_shows_the_outbox_after_a_drain_of_several_rounds(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    limits = RateLimits(per_destination={}, per_platform={"discord": Rate(1.0, 1)})
    await put(store, *[dm(f"m{i}", user=f"u{i}") for i in range(3)])
    await put(store, dm("later", user="u9", not_before=T0 + timedelta(days=9)))
    worker = make_worker(store, discord, clock=clock, limits=limits)
    assert await worker.drain(until=T0 + timedelta(seconds=10)) == 3  # three rounds, a second apart
    # what waits after the drain (counted at its end, not in its first round: 4 then)
    assert worker.registry.get_sample_value("cohortbot_outbox_depth", {"lane": "broadcast"}) == 1


@pytest.mark.parametrize("batch", [1, 10], ids=["claimed-later", "claimed-in-the-same-batch"])
async def test_rate_limited_reschedules_never_before_retry_after(store: Store, batch: int) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    discord.fail_next(RateLimited(7.5))
    await put(store, dm("wait"), dm("same-person"), dm("other", user="u2"))
    await make_worker(store, discord, clock=clock, batch_size=batch).drain()
    at = {d.message.dedupe_key: d.at for d in discord.transcript}
    assert at["wait"] == T0 + timedelta(seconds=7.5)
    assert at["same-person"] >= T0 + timedelta(seconds=7.5)  # the destination was paused too
    assert at["other"] == T0
    assert (await rows(store))["wait"]["attempts"] == 2


async def test_a_429_storm_delivers_everything_once_and_nothing_early(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    discord.storm(retry_after=5.0, times=3)
    keys = [f"m{i}" for i in range(12)]
    await put(store, *[dm(k, user=f"u{i % 4}") for i, k in enumerate(keys)])
    worker = make_worker(store, discord, clock=clock, limits=RateLimits())
    assert await worker.drain() == 12
    assert sorted(discord.sent_keys()) == sorted(keys)  # each exactly once
    assert discord.early == []
    for delivery in discord.transcript:
        dest = delivery.message.to.user_id
        refused = [r.at for r in discord.refusals if r.message.to.user_id == dest and r.at <= delivery.at]
        assert refused and delivery.at >= max(refused) + timedelta(seconds=5)
    assert len(discord.refusals) == 4 * 3
    assert {r["status"] for r in (await rows(store)).values()} == {"sent"}


async def test_temporary_failures_retry_with_backoff_then_succeed(store: Store) -> None:
    clock = FrozenClock(T0)
    mail = fake("mail", clock)
    mail.fail_for("flaky", TemporarySendError("421 try later"), TemporarySendError("421 try later"))
    await put(store, dm("flaky", platform="mail"))
    await make_worker(store, mail, clock=clock).drain()
    row = (await rows(store))["flaky"]
    assert (row["status"], row["attempts"]) == ("sent", 3)
    times = [r.at for r in mail.refusals]
    assert times[0] == T0
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(15 <= g <= 60 for g in gaps)  # 30 s base, doubling, jitter 50-100 %


async def test_temporary_failures_until_the_deadline_go_dead_with_the_reason(store: Store) -> None:
    clock = FrozenClock(T0)
    mail = fake("mail", clock)
    mail.fail_for("doomed", *[TemporarySendError("451 mailbox busy")] * 50)
    dead: list[int] = []

    async def on_dead(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
        dead.append(row.id)

    [row_id] = await put(store, dm("doomed", platform="mail", within=timedelta(minutes=10)))
    await make_worker(store, mail, clock=clock, on_dead=[on_dead]).drain()
    row = (await rows(store))["doomed"]
    assert row["status"] == "dead" and "451 mailbox busy" in row["last_error"]
    assert row["last_error"].startswith("gave up after")
    assert mail.transcript == [] and dead == [row_id]
    assert all(r.at <= row["deliver_until"] for r in mail.refusals)
    assert 3 <= len(mail.refusals) <= 6


async def test_a_permanent_failure_goes_dead_at_once(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    discord.fail_for("blocked", PermanentSendError("50007 cannot send messages to this user"))
    await put(store, dm("blocked"), dm("fine", user="u2"))
    await make_worker(store, discord, clock=clock).drain()
    got = await rows(store)
    assert (got["blocked"]["status"], got["blocked"]["attempts"]) == ("dead", 1)
    assert got["blocked"]["last_error"] == "permanent: 50007 cannot send messages to this user"
    assert discord.sent_keys() == ["fine"]


async def test_rows_past_their_deadline_are_dead_as_expired(store: Store) -> None:
    clock = FrozenClock(T0 + timedelta(hours=3))
    discord = fake("discord", clock)
    await put(store, dm("stale", within=timedelta(hours=2)), dm("ok", user="u2", within=timedelta(hours=5)))
    await make_worker(store, discord, clock=clock).drain()
    got = await rows(store)
    assert got["stale"]["status"] == "dead" and got["stale"]["last_error"].startswith("expired")
    assert discord.sent_keys() == ["ok"]


async def test_a_rate_limit_past_the_deadline_expires_the_row(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    discord.fail_next(RateLimited(3600))
    await put(store, dm("late", within=timedelta(minutes=30)))
    await make_worker(store, discord, clock=clock).drain()
    row = (await rows(store))["late"]
    assert row["status"] == "dead" and row["last_error"].startswith("expired: rate limited")
    assert discord.transcript == []


async def test_consent_erasure_and_bounces_cancel_before_sending(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    out_all = await add_member(store, external_id="a")
    out_hunt = await add_member(store, external_id="b")
    bounced = await add_member(store, external_id="c", undeliverable="50007 DMs closed")
    erased = await add_member(store, external_id="d")
    await put(
        store,
        dm("all", user="a", member_id=out_all, scope="programme:bug-hunt"),
        dm("reply-to-command", user="a", member_id=out_all, scope=None),
        dm("hunt", user="b", member_id=out_hunt, scope="programme:bug-hunt"),
        dm("digest", user="b", member_id=out_hunt, scope="digest"),
        dm("bounce", user="c", member_id=bounced),
        dm("gone", user="d", member_id=erased),
    )
    # Decided after the messages were enqueued: they must still stop them.
    await opt_out(store, out_all, "all")
    await opt_out(store, out_hunt, "programme:bug-hunt")
    async with store.connection() as conn:
        await conn.execute(delete(Member).where(Member.id == erased))
    await make_worker(store, discord, clock=clock).drain()
    got = await rows(store)
    assert sorted(discord.sent_keys()) == ["digest", "reply-to-command"]
    assert got["all"]["status"] == "cancelled" and got["all"]["last_error"] == "opted out of all"
    assert got["hunt"]["last_error"] == "opted out of programme:bug-hunt"
    assert (
        got["bounce"]["status"] == "cancelled"
        and got["bounce"]["last_error"] == "undeliverable: 50007 DMs closed"
    )
    assert "gone" not in got  # erasure takes the member's queued messages with it


async def test_metrics_count_sent_dead_and_depth(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    discord.fail_for("bad", PermanentSendError("no"))
    await put(
        store,
        dm("a"),
        dm("b", user="u2"),
        dm("bad", user="u3"),
        dm("later", not_before=T0 + timedelta(days=9)),
    )
    worker = make_worker(store, discord, clock=clock)
    await worker.drain(until=T0 + timedelta(days=1))
    reg = worker.registry
    assert reg.get_sample_value("cohortbot_messages_sent_total", {"platform": "discord"}) == 2
    assert reg.get_sample_value("cohortbot_messages_dead_total", {"platform": "discord"}) == 1
    assert reg.get_sample_value("cohortbot_outbox_depth", {"lane": "broadcast"}) == 1
    assert reg.get_sample_value("cohortbot_send_latency_seconds_count", {"platform": "discord"}) == 2
    assert clock.now() == T0  # nothing was due before `until`, so the clock did not move


async def test_drain_never_moves_the_clock_past_until(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    await put(
        store,
        dm("soon", not_before=T0 + timedelta(hours=1)),
        dm("later", user="u2", not_before=T0 + timedelta(hours=5)),
    )
    worker = make_worker(store, discord, clock=clock)
    assert await worker.drain(until=T0 + timedelta(hours=2)) == 1
    assert clock.now() == T0 + timedelta(hours=1)
    assert await worker.drain() == 1
    assert clock.now() == T0 + timedelta(hours=5)


async def test_run_is_woken_by_an_enqueue_and_stops_cleanly(store: Store) -> None:
    discord = FakeAdapter("discord")
    sent = asyncio.Event()

    async def on_sent(conn: AsyncConnection, row: OutboxRow, at: datetime) -> None:
        sent.set()

    worker = make_worker(store, discord, clock=SystemClock(), on_sent=[on_sent], idle_seconds=3600)
    task = asyncio.create_task(worker.run())
    await put(store, dm("now"), now=SystemClock().now())
    worker.wake()
    await asyncio.wait_for(sent.wait(), 20)
    await asyncio.wait_for(worker.stop(), 20)
    await asyncio.wait_for(task, 20)
    assert discord.sent_keys() == ["now"]


async def test_an_erased_address_and_a_programme_opt_out_stop_their_messages(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    member = await add_member(store, external_id="p")
    await opt_out(store, member, "programme:bug-hunt")
    async with store.connection() as conn:
        await conn.execute(insert(Erasure).values(identity_hash=identity_hash("discord", "forgotten"), at=T0))
    await put(
        store,
        replace(dm("hunt", user="p", member_id=member), programme="bug-hunt"),
        dm("welcome", user="p", member_id=member),
        dm("to-forgotten", user="forgotten"),
    )
    await make_worker(store, discord, clock=clock).drain()
    got = await rows(store)
    assert discord.sent_keys() == ["welcome"]
    assert got["hunt"]["last_error"] == "opted out of programme:bug-hunt"
    assert got["to-forgotten"]["status"] == "cancelled"
    assert got["to-forgotten"]["last_error"].startswith("erased")


async def test_stop_finishes_the_send_in_progress_and_gives_back_the_rest(store: Store) -> None:
    discord = FakeAdapter("discord")
    worker = make_worker(store, discord, clock=SystemClock(), idle_seconds=3600)
    stopping: list[asyncio.Task[None]] = []

    async def on_send(message: OutboundMessage) -> None:
        if not stopping:
            stopping.append(asyncio.create_task(worker.stop()))  # SIGTERM arrives during the first send

    discord.on_send = on_send
    await put(store, *[dm(f"m{i}", user=f"u{i}") for i in range(5)], now=SystemClock().now())
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(task, 20)
    await stopping[0]
    got = await rows(store)
    assert len(discord.transcript) == 1 and got[discord.sent_keys()[0]]["status"] == "sent"
    rest = [r for k, r in got.items() if k not in discord.sent_keys()]
    assert [(r["status"], r["claimed_by"]) for r in rest] == [("pending", None)] * 4


async def test_a_stop_before_the_task_starts_still_stops_it(store: Store) -> None:
    worker = make_worker(store, FakeAdapter("discord"), clock=SystemClock(), idle_seconds=3600)
    task = asyncio.create_task(worker.run())
    await worker.stop()
    await asyncio.wait_for(task, 20)


async def test_the_apps_shared_metrics_object_receives_the_counts(store: Store) -> None:
    from bot.metrics import Metrics  # the object /metrics exposes

    shared = Metrics()
    clock = FrozenClock(T0)
    discord = fake("discord", clock)
    discord.fail_for("bad", PermanentSendError("no"))
    await put(store, dm("a"), dm("bad", user="u2"))
    worker = make_worker(store, discord, clock=clock, metrics=shared)
    await worker.drain()
    assert worker.registry is shared.registry
    text = shared.exposition().decode()
    assert 'cohortbot_messages_sent_total{platform="discord"} 1.0' in text
    assert 'cohortbot_messages_dead_total{platform="discord"} 1.0' in text
    assert "# TYPE cohortbot_outbox_cancelled_total counter" in text
