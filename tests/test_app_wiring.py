"""The composition root's own wiring: adapter sections, unreachable recipients, the IMAP cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from adapters.fake import FakeAdapter
from bot.app import build_app
from bot.core.clock import FrozenClock
from bot.core.errors import ConfigurationError, RecipientUnreachable
from bot.core.events import ActorRef, MemberJoined, PlaceRef, event_uid
from bot.settings import parse_settings
from bot.store import Store
from bot.store.live_models import OutboxMessage
from bot.store.models import Identity
from bot.wiring import build_adapter, imap_cursor

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


async def test_an_adapter_section_that_cannot_work_names_itself(store: Store) -> None:
    with pytest.raises(ConfigurationError, match=r"\[adapters.discord\]: sharded"):
        await build_adapter("discord", {"sharded": "sometimes"}, store=store, clock=FrozenClock(T0))
    with pytest.raises(ConfigurationError, match=r"\[adapters.slack\]: team_id"):
        await build_adapter("slack", {}, store=store, clock=FrozenClock(T0))


async def test_an_unreachable_recipient_is_marked_and_never_tried_again(store: Store) -> None:
    clock = FrozenClock(T0)
    discord = FakeAdapter("discord", clock=clock)
    settings = parse_settings({"managers": {"require_managers": False}})
    app = await build_app(settings, clock=clock, adapters={"discord": discord}, store=store)
    ann = ActorRef("discord", "1001", display_name="Ann")
    discord.fail_next(RecipientUnreachable("cannot DM this member (50007)"))
    await app.pipeline.process(
        [MemberJoined(event_uid("discord", "join-1"), ann, PlaceRef("discord", "c1", container="g"), T0)]
    )
    await app.worker.drain(until=T0 + timedelta(hours=1))
    async with store.connection() as conn:
        found = await conn.execute(select(Identity.undeliverable).where(Identity.external_id == "1001"))
        reason = found.scalar()
        statuses = (await conn.execute(select(OutboxMessage.status))).scalars().all()
    assert reason is not None and "50007" in reason
    assert statuses == ["dead"]
    assert discord.transcript == []
    await app.shutdown()


async def test_the_imap_cursor_round_trips(store: Store) -> None:
    get, put = imap_cursor(store)
    assert await get("imap://bot@example.org/INBOX") is None
    await put("imap://bot@example.org/INBOX", 1700, 42)
    await put("imap://bot@example.org/INBOX", 1700, 43)
    assert await get("imap://bot@example.org/INBOX") == (1700, 43)


async def test_the_running_apps_metrics_count_what_happened(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/metrics on the app's own web server: events by platform, moved members, sends by platform."""
    import aiohttp

    monkeypatch.setenv("COHORTBOT_SECRET", "a-long-random-test-secret-of-enough-length")
    clock = FrozenClock(T0)
    discord = FakeAdapter("discord", clock=clock)
    settings = parse_settings({"managers": {"require_managers": False}, "web": {"enabled": True, "port": 0}})
    app = await build_app(settings, clock=clock, adapters={"discord": discord}, store=store)
    await app.start_web()
    assert app.web is not None
    ann = ActorRef("discord", "1001", display_name="Ann")
    await app.pipeline.process(
        [MemberJoined(event_uid("discord", "join-1"), ann, PlaceRef("discord", "c1", container="g"), T0)]
    )
    await app.worker.drain(until=T0 + timedelta(hours=1))
    async with aiohttp.ClientSession() as http, http.get(f"{app.web.url}/metrics") as resp:
        text = await resp.text()
    await app.shutdown()
    assert 'cohortbot_events_ingested_total{platform="discord"} 1.0' in text
    assert 'cohortbot_segment_changes_total{segment="any"} 1.0' in text
    assert 'cohortbot_messages_sent_total{platform="discord"} 1.0' in text


async def test_the_auto_reply_budget_counts_todays_answers_to_that_address(store: Store) -> None:
    from bot.core.outbound import Recipient
    from bot.store.outbox import NewMessage, enqueue
    from bot.wiring import auto_replies

    count = auto_replies(store)
    assert await count("Ann@Example.org", T0.date()) == 1  # just this mail
    async with store.connection() as conn:
        await enqueue(
            conn,
            [
                NewMessage(
                    f"reply:{i}",
                    "mail",
                    "email",
                    Recipient(email="ann@example.org"),
                    "ok",
                    template="command_reply",
                    consent_scope=None,
                )
                for i in range(3)
            ]
            + [
                NewMessage(
                    "invite:x", "mail", "email", Recipient(email="ann@example.org"), "hi", template="invite"
                )
            ],
            now=T0,
        )
    assert await count("Ann@Example.org", T0.date()) == 4  # three answers today, and this mail
    assert await count("ann@example.org", T0.date() + timedelta(days=1)) == 1
