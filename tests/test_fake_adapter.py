"""The fake platforms behave like real ones: events in, a transcript out, idempotency, scripted failures."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from outbox_support import T0

from adapters.base import LiveAdapter
from adapters.fake import FakeAdapter, FakePlatformServer, HttpFakeAdapter
from bot.core.clock import FrozenClock
from bot.core.errors import PermanentSendError, RateLimited, TemporarySendError
from bot.core.events import ActorRef, Event, MemberJoined, PlaceRef
from bot.core.outbound import Capabilities, CommandReply, OutboundMessage, Recipient


def message(key: str, *, user: str = "u1") -> OutboundMessage:
    return OutboundMessage(
        outbox_id=1, dedupe_key=key, platform="discord", kind="dm", to=Recipient(user_id=user), text=key
    )


async def test_injected_events_reach_the_sink_and_replies_come_back() -> None:
    got: list[Event] = []

    async def sink(event: Event) -> CommandReply | None:
        got.append(event)
        return CommandReply("welcome")

    adapter: LiveAdapter = FakeAdapter("discord")
    assert isinstance(adapter, FakeAdapter)
    joined = MemberJoined(
        uid="j1", actor=ActorRef("discord", "u1"), place=PlaceRef("discord", "g"), occurred_at=T0
    )
    with pytest.raises(RuntimeError, match="not started"):
        await adapter.inject(joined)
    await adapter.start(sink)
    assert await adapter.inject(joined) == CommandReply("welcome")
    assert got == [joined] and adapter.replies == [CommandReply("welcome")]


async def test_transcript_times_idempotency_and_reconcile() -> None:
    clock = FrozenClock(T0)
    plain = FakeAdapter("discord", clock=clock)
    idem = FakeAdapter("discord", clock=clock, capabilities=Capabilities("discord", idempotent_send=True))
    for adapter in (plain, idem):
        first = await adapter.send(message("a"))
        clock.advance(timedelta(seconds=3))
        second = await adapter.send(message("a"))
        assert (await adapter.reconcile(message("a"))) is not None
        assert await adapter.reconcile(message("never")) is None
        if adapter is idem:
            assert second == first and len(adapter.transcript) == 1
        else:
            assert second != first and [d.at for d in adapter.transcript] == [T0, T0 + timedelta(seconds=3)]
        clock.set(T0)


async def test_scripted_failures_and_the_429_storm() -> None:
    clock = FrozenClock(T0)
    adapter = FakeAdapter("discord", clock=clock)
    adapter.fail_next(TemporarySendError("t"))
    adapter.fail_for("p", PermanentSendError("gone"))
    with pytest.raises(TemporarySendError):
        await adapter.send(message("x"))
    with pytest.raises(PermanentSendError):
        await adapter.send(message("p"))
    await adapter.send(message("p"))  # only the next send of "p" was scripted
    adapter.storm(retry_after=5, times=1)
    with pytest.raises(RateLimited) as storm:
        await adapter.send(message("s", user="u9"))
    assert storm.value.retry_after == 5
    clock.advance(timedelta(seconds=4))
    with pytest.raises(RateLimited):
        await adapter.send(message("s", user="u9"))
    assert [r.message.dedupe_key for r in adapter.early] == ["s"]
    clock.advance(timedelta(seconds=1))
    await adapter.send(message("s", user="u9"))
    assert adapter.sent_keys() == ["p", "s"] and len(adapter.refusals) == 4


@pytest.mark.parametrize("idempotent", [True, False])
async def test_the_http_fake_platform_records_deliveries_and_honours_keys(
    tmp_path: Path, idempotent: bool
) -> None:
    record = tmp_path / "deliveries.json"
    server = FakePlatformServer(record, idempotent=idempotent)
    base = await server.start()
    seen: list[str] = []
    adapter = HttpFakeAdapter(
        "discord", base, idempotent=idempotent, after_send=lambda m, r: seen.append(r.native_id)
    )
    try:
        await adapter.start(lambda e: None)  # type: ignore[arg-type,return-value]
        assert await adapter.reconcile(message("a")) is None
        first = await adapter.send(message("a"))
        again = await adapter.send(message("a"))
        found = await adapter.reconcile(message("a"))
    finally:
        await adapter.stop()
        await server.stop()
    assert found is not None and found.native_id == first.native_id
    assert (again.native_id == first.native_id) is idempotent
    keys = [d["dedupe_key"] for d in json.loads(record.read_text())["deliveries"]]
    assert keys == (["a"] if idempotent else ["a", "a"])
    assert seen == [first.native_id, again.native_id]


async def test_an_unreachable_http_platform_is_a_temporary_error(tmp_path: Path) -> None:
    server = FakePlatformServer(tmp_path / "d.json", idempotent=True)
    base = await server.start()
    await server.stop()
    adapter = HttpFakeAdapter("discord", base, idempotent=True)
    try:
        with pytest.raises(TemporarySendError, match="unreachable"):
            await adapter.send(message("a"))
    finally:
        await adapter.stop()
