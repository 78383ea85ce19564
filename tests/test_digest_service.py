"""Exactly one digest per week: two schedulers racing, a restart mid-build, a week of downtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from digest_support import DEMO_END, DEMO_WEEK, demo_community
from sqlalchemy import insert, select

from bot.core.clock import FrozenClock
from bot.scheduler import Rule, Scheduler, lease_for
from bot.store import Store, open_store
from bot.store.live_models import Consent, DigestRun, OutboxMessage
from bot.store.models import Identity
from messages.digest import DigestSettings, parse_week
from messages.digest.service import DigestService
from messages.digest.settings import Destination
from messages.programmes import load_catalogue
from segmentation.config import load_config

BERLIN = ZoneInfo("Europe/Berlin")
CHANNELS = (Destination("discord", "900100"), Destination("slack", "C0MAINT"))


def service(store: Store, clock: FrozenClock, holder: str, **settings: object) -> DigestService:
    return DigestService(
        store,
        config=load_config(),
        catalogue=load_catalogue(),
        settings=DigestSettings(channels=CHANNELS, **settings),  # type: ignore[arg-type]
        tz=BERLIN,
        clock=clock,
        holder=holder,
    )


async def digest_rows(store: Store) -> list[tuple[str, str, dict[str, object]]]:
    async with store.connection() as conn:
        rows = await conn.execute(
            select(OutboxMessage.dedupe_key, OutboxMessage.platform, OutboxMessage.body)
            .where(OutboxMessage.template == "digest")
            .order_by(OutboxMessage.id)
        )
        return [(k, p, b) for k, p, b in rows]


async def opt_in(store: Store, *, state: str = "in") -> str:
    """One member with an address opts in (or out) of the digest by mail; returns the address."""
    async with store.connection() as conn:
        member_id, email = (
            await conn.execute(
                select(Identity.member_id, Identity.email).where(Identity.email.is_not(None)).limit(1)
            )
        ).one()
        await conn.execute(insert(Consent).values(member_id=member_id, scope="digest", state=state,
                                                  source="test", at=DEMO_END))
    return str(email)


@pytest.fixture
async def community(store: Store, db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    await demo_community(db_url, tmp_path, members=40)
    yield store


async def test_two_schedulers_race_for_a_week_and_it_goes_out_once(community: Store, db_url: str) -> None:
    address = await opt_in(community)
    other = await open_store(db_url)  # a second process: its own engine and connections
    try:
        clock = FrozenClock(DEMO_END + timedelta(hours=9))
        a, b = service(community, clock, "host-a:1"), service(other, clock, "host-b:2")
        week = parse_week(DEMO_WEEK)
        results = await asyncio.gather(a.run_week(week), b.run_week(week))
        assert sorted(r.outcome for r in results) in (["busy", "sent"], ["already-sent", "sent"])
        rows = await digest_rows(community)
        keys = [k for k, _, _ in rows]
        assert len(keys) == len(set(keys)) == next(r.enqueued for r in results if r.outcome == "sent")
        assert f"digest:{DEMO_WEEK}:slack:channel:C0MAINT" in keys
        assert f"digest:{DEMO_WEEK}:discord:channel:900100" in keys
        assert f"digest:{DEMO_WEEK}:mail:email:{address.lower()}" in keys
        assert len([k for k in keys if ":discord:" in k]) >= 2  # split within Discord's limit
        assert all(len(str(b["text"])) <= 2000 for _, p, b in rows if p == "discord")
        mail = next(b for _, p, b in rows if p == "mail")
        assert "<svg" in str(mail["html"]) and mail["subject"] and "Segments" in str(mail["text"])
        # Later runs, by either, change nothing.
        assert (await b.run_week(week)).outcome == "already-sent"
        assert (await a.send_now(DEMO_WEEK)).outcome == "already-sent"
        assert await digest_rows(community) == rows
        async with community.connection() as conn:
            run = (await conn.execute(select(DigestRun.status, DigestRun.content))).one()
        assert run.status == "sent" and run.content["week"] == DEMO_WEEK
    finally:
        await other.close()


async def test_a_run_left_building_by_a_dead_process_is_rebuilt_once(community: Store) -> None:
    clock = FrozenClock(DEMO_END + timedelta(days=1))
    async with community.connection() as conn:
        await conn.execute(insert(DigestRun).values(period_key=DEMO_WEEK, status="building", holder="dead:9",
                                                    started_at=clock.now() - timedelta(hours=2)))
        await conn.execute(insert(DigestRun).values(period_key="2026-W43", status="building",
                                                    holder="alive:3",
                                                    started_at=clock.now() - timedelta(minutes=5)))
    me = service(community, clock, "host-a:1")
    # Someone is building W43 right now: leave it to them.
    assert (await me.run_week(parse_week("2026-W43"))).outcome == "busy"
    assert await digest_rows(community) == []
    result = await me.run_week(parse_week(DEMO_WEEK))
    assert result.outcome == "sent" and result.enqueued == len(await digest_rows(community)) >= 3
    again = service(community, clock, "host-c:7")
    assert (await again.run_week(parse_week(DEMO_WEEK))).outcome == "already-sent"
    async with community.connection() as conn:
        rows = dict((await conn.execute(select(DigestRun.period_key, DigestRun.holder))).all())
    assert rows == {DEMO_WEEK: "host-a:1", "2026-W43": "alive:3"}


@pytest.mark.parametrize(("catch_up", "expected"), [
    ("latest", ["2026-W44", "2026-W46", "2026-W47"]),
    ("each", ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]),
])
async def test_after_a_week_of_downtime_the_scheduler_catches_up_once(
    community: Store, catch_up: str, expected: list[str]
) -> None:
    clock = FrozenClock(datetime(2026, 11, 2, 7, tzinfo=BERLIN))  # Monday of W45, before nine

    def scheduler(holder: str) -> Scheduler:
        digests = service(community, clock, holder, catch_up=catch_up)

        async def job(_at: datetime) -> None:
            await digests.run_due()

        rule = Rule("digest", "0 9 * * MON", job, catch_up=True)
        return Scheduler([rule], tz=BERLIN, clock=clock, lease=lease_for(community, holder=holder))

    first = scheduler("host-a:1")
    assert await first.tick(clock.now()) == ["digest"]  # start-up catch-up: W44 is due
    for hours in (2, 3, 30):
        clock.set(datetime(2026, 11, 2, 7, tzinfo=BERLIN) + timedelta(hours=hours))
        await first.tick(clock.now())  # nine o'clock fires again; W44 is already sent
    await first.close()
    # Down from Tuesday of W45 to Wednesday of W47: two Monday fire times missed.
    clock.set(datetime(2026, 11, 18, 10, tzinfo=BERLIN))
    second = scheduler("host-b:2")
    await second.tick(clock.now())
    await second.tick(clock.now() + timedelta(minutes=1))
    clock.set(datetime(2026, 11, 23, 9, 0, 30, tzinfo=BERLIN))
    assert await second.tick(clock.now()) == ["digest"]
    await second.close()
    async with community.connection() as conn:
        runs = await conn.execute(
            select(DigestRun.period_key, DigestRun.status).order_by(DigestRun.period_key)
        )
        assert [(k, s) for k, s in runs] == [(w, "sent") for w in expected]
    keys = [k for k, _, _ in await digest_rows(community)]
    assert len(keys) == len(set(keys))
    assert sorted({k.split(":")[1] for k in keys}) == expected


async def test_mail_goes_only_to_those_who_opted_in(community: Store) -> None:
    await opt_in(community, state="out")
    clock = FrozenClock(DEMO_END + timedelta(hours=9))
    await service(community, clock, "host-a:1", mail_opt_ins=True).run_week(parse_week(DEMO_WEEK))
    assert [p for _, p, _ in await digest_rows(community) if p == "mail"] == []


async def test_a_week_that_has_not_ended_is_refused(community: Store) -> None:
    clock = FrozenClock(datetime(2026, 11, 4, tzinfo=UTC))
    with pytest.raises(ValueError, match="not ended"):
        await service(community, clock, "a").run_week(parse_week("2026-W45"))


def test_digest_settings_from_the_configuration_table() -> None:
    from bot.core.errors import ConfigurationError

    s = DigestSettings.from_mapping({"schedule": "0 9 * * MON", "catch_up": "each",
                                     "channels": [{"platform": "slack", "channel": "C1"}]})
    assert s.channels == (Destination("slack", "C1"),) and s.catch_up == "each"
    for bad in ({"chanels": []}, {"channels": [{"platform": "irc", "channel": "x"}]}, {"catch_up": "all"}):
        with pytest.raises(ConfigurationError):
            DigestSettings.from_mapping(bad)
