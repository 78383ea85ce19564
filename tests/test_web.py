"""The web server on 127.0.0.1: one-click unsubscribe, invitation links, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.core.clock import FrozenClock
from bot.links import LinkSigner
from bot.metrics import Metrics
from bot.store import Store
from bot.store.db import create_engine
from bot.store.live_models import Consent, Invitation, OutboxMessage
from bot.store.models import Member
from bot.web import WebDeps, WebServer, build_app
from messages.funnel import respond

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = b"test-secret-of-enough-length-42"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass
class Site:
    server: WebServer
    http: aiohttp.ClientSession
    store: Store
    signer: LinkSigner
    metrics: Metrics
    member_id: int

    def url(self, path: str) -> str:
        return self.server.url + path

    def path(self, full_url: str) -> str:
        return full_url.removeprefix(self.signer.base_url)


async def add_member(store: Store, name: str = "Ana") -> int:
    async with store.connection() as conn:
        result = await conn.execute(
            insert(Member).values(display_name=name, created_at=T0).returning(Member.id)
        )
        return int(result.scalar_one())


async def add_pending(store: Store, member_id: int, *, key: str, programme: str | None = None) -> None:
    async with store.connection() as conn:
        await conn.execute(
            insert(OutboxMessage).values(
                dedupe_key=key,
                member_id=member_id,
                platform="mail",
                kind="email",
                recipient={"email": "ana@example.org"},
                body={"text": "hi", "consent_scope": "all"},
                programme=programme,
                destination="mail:ana@example.org",
                not_before=T0,
                deliver_until=T0 + timedelta(days=2),
                created_at=T0,
            )
        )


async def consent_rows(store: Store) -> list[tuple[int, str, str, str]]:
    async with store.connection() as conn:
        rows = await conn.execute(select(Consent.member_id, Consent.scope, Consent.state, Consent.source))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def outbox_status(store: Store) -> dict[str, str]:
    async with store.connection() as conn:
        return {k: s for k, s in await conn.execute(select(OutboxMessage.dedupe_key, OutboxMessage.status))}


@pytest.fixture
async def site(store: Store) -> AsyncIterator[Site]:
    signer = LinkSigner(secret=SECRET, base_url="https://bot.example")
    metrics = Metrics()
    deps = WebDeps(store=store, clock=FrozenClock(T0), signer=signer, metrics=metrics, on_invitation=respond)
    member_id = await add_member(store)
    async with (
        WebServer(build_app(deps), host="127.0.0.1", port=0) as server,
        aiohttp.ClientSession() as http,
    ):
        yield Site(server, http, store, signer, metrics, member_id)


async def test_unsubscribe_get_shows_a_form_and_changes_nothing(site: Site) -> None:
    await add_pending(site.store, site.member_id, key="k1")
    link = site.path(site.signer.unsubscribe_url(site.member_id, expires_at=T0 + timedelta(days=365)))
    async with site.http.get(site.url(link)) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert '<form method="post">' in page and 'name="List-Unsubscribe" value="One-Click"' in page
    assert await consent_rows(site.store) == []
    assert await outbox_status(site.store) == {"k1": "pending"}


async def test_one_click_post_records_the_opt_out(site: Site) -> None:
    await add_pending(site.store, site.member_id, key="k1")
    link = site.path(site.signer.unsubscribe_url(site.member_id, expires_at=T0 + timedelta(days=365)))
    for _ in range(2):  # a repeated click is harmless
        async with site.http.post(site.url(link), data=ONE_CLICK) as resp:
            assert resp.status == 200
            assert "You are unsubscribed" in await resp.text()
    assert await consent_rows(site.store) == [(site.member_id, "all", "out", "mail:one-click")]
    assert await outbox_status(site.store) == {"k1": "cancelled"}


async def test_page_button_records_a_scoped_opt_out(site: Site) -> None:
    link = site.path(
        site.signer.unsubscribe_url(
            site.member_id, scope="programme:bag-a-bug", expires_at=T0 + timedelta(days=1)
        )
    )
    async with site.http.post(site.url(link), data={**ONE_CLICK, "via": "page"}) as resp:
        assert resp.status == 200
    assert await consent_rows(site.store) == [
        (site.member_id, "programme:bag-a-bug", "out", "web:unsubscribe-page")
    ]


async def test_post_without_one_click_body_changes_nothing(site: Site) -> None:
    link = site.path(site.signer.unsubscribe_url(site.member_id, expires_at=T0 + timedelta(days=1)))
    async with site.http.post(site.url(link), data={"List-Unsubscribe": "yes"}) as resp:
        assert resp.status == 400
    assert await consent_rows(site.store) == []


async def test_forged_and_expired_tokens_change_nothing(site: Site) -> None:
    other = LinkSigner(secret=b"someone-elses-secret-entirely", base_url="https://bot.example")
    forged = site.path(other.unsubscribe_url(site.member_id, expires_at=T0 + timedelta(days=1)))
    expired = site.path(site.signer.unsubscribe_url(site.member_id, expires_at=T0 - timedelta(seconds=1)))
    for link, status in ((forged, 403), (expired, 400), ("/unsubscribe/garbage", 400)):
        async with site.http.get(site.url(link)) as resp:
            assert resp.status == status
        async with site.http.post(site.url(link), data=ONE_CLICK) as resp:
            assert resp.status == status
            assert "This link does not work" in await resp.text()
    async with site.http.post(site.url(expired), data=ONE_CLICK) as resp:
        assert "expired on" in await resp.text()
    assert await consent_rows(site.store) == []


async def test_unsubscribe_of_an_erased_member_answers_and_writes_nothing(site: Site) -> None:
    link = site.path(site.signer.unsubscribe_url(site.member_id + 999, expires_at=T0 + timedelta(days=1)))
    async with site.http.post(site.url(link), data=ONE_CLICK) as resp:
        assert resp.status == 200
    assert await consent_rows(site.store) == []


async def add_invitation(store: Store, member_id: int, token: str) -> None:
    async with store.connection() as conn:
        await conn.execute(
            insert(Invitation).values(
                member_id=member_id,
                programme="bag-a-bug",
                segment="developer",
                status="sent",
                token=token,
                platform="mail",
                reason={},
                planned_at=T0,
                sent_at=T0,
            )
        )


async def invitation_status(store: Store, token: str) -> str:
    async with store.connection() as conn:
        return str(await conn.scalar(select(Invitation.status).where(Invitation.token == token)))


async def test_accept_link_confirms_on_get_and_acts_on_post(site: Site) -> None:
    await add_invitation(site.store, site.member_id, "inv-1")
    link = site.path(site.signer.invitation_url("inv-1", "accept", expires_at=T0 + timedelta(days=14)))
    async with site.http.get(site.url(link)) as resp:
        assert resp.status == 200
        assert "Accept the invitation?" in await resp.text()
    assert await invitation_status(site.store, "inv-1") == "opened"  # seen, not answered
    async with site.http.post(site.url(link)) as resp:
        assert resp.status == 200
        assert "you are in" in await resp.text()
    assert await invitation_status(site.store, "inv-1") == "accepted"


async def test_decline_link_and_bad_invitation_links(site: Site) -> None:
    await add_invitation(site.store, site.member_id, "inv-2")
    expired = site.path(site.signer.invitation_url("inv-2", "decline", expires_at=T0))
    async with site.http.post(site.url(expired)) as resp:
        assert resp.status == 400
    assert await invitation_status(site.store, "inv-2") == "sent"
    unknown = site.path(site.signer.invitation_url("no-such", "accept", expires_at=T0 + timedelta(days=1)))
    async with site.http.post(site.url(unknown)) as resp:
        assert resp.status == 400
        assert "not valid" in await resp.text()
    # An unsubscribe token does not open an invitation.
    unsub = site.signer.unsubscribe_url(site.member_id, expires_at=T0 + timedelta(days=1)).rsplit("/", 1)[1]
    async with site.http.post(site.url(f"/invitation/{unsub}/decline")) as resp:
        assert resp.status == 400
    decline = site.path(site.signer.invitation_url("inv-2", "decline", expires_at=T0 + timedelta(days=1)))
    async with site.http.post(site.url(decline)) as resp:
        assert resp.status == 200
    assert await invitation_status(site.store, "inv-2") == "declined"


async def test_solution_links_without_a_responder_are_not_served(site: Site) -> None:
    link = site.path(site.signer.solution_url("chk", "solved", expires_at=T0 + timedelta(days=1)))
    async with site.http.post(site.url(link)) as resp:
        assert resp.status == 404


async def test_healthz_ok(site: Site) -> None:
    async with site.http.get(site.url("/healthz")) as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "database": "ok"}


async def test_healthz_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    dead = Store(engine=engine, sessions=async_sessionmaker(engine))
    deps = WebDeps(
        store=dead,
        clock=FrozenClock(T0),
        signer=LinkSigner(secret=SECRET, base_url="https://bot.example"),
        metrics=Metrics(),
    )
    async with (
        WebServer(build_app(deps), host="127.0.0.1", port=0) as server,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(server.url + "/healthz") as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["status"] == "unavailable" and body["database"] == "unreachable"
        link = deps.signer.unsubscribe_url(1, expires_at=T0 + timedelta(days=1)).removeprefix(
            "https://bot.example"
        )
        async with http.post(server.url + link, data=ONE_CLICK) as resp:
            assert resp.status == 503 and resp.headers["Retry-After"]
        async with http.get(server.url + "/metrics") as resp:  # metrics still answer
            assert resp.status == 200
    await dead.close()


async def test_metrics_parse_as_prometheus_text(site: Site) -> None:
    await add_pending(site.store, site.member_id, key="k1")
    await add_pending(site.store, site.member_id, key="k2")
    site.metrics.ingested("discord", 5, duplicates=1)
    site.metrics.segment_changed("developer", 2)
    site.metrics.sent("slack", seconds=0.12)
    site.metrics.dead("mail")
    async with site.http.get(site.url("/metrics")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = await resp.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert samples[("cohortbot_events_ingested_total", (("platform", "discord"),))] == 5
    assert samples[("cohortbot_events_duplicate_total", (("platform", "discord"),))] == 1
    assert samples[("cohortbot_segment_changes_total", (("segment", "developer"),))] == 2
    assert samples[("cohortbot_messages_sent_total", (("platform", "slack"),))] == 1
    assert samples[("cohortbot_messages_dead_total", (("platform", "mail"),))] == 1
    assert samples[("cohortbot_outbox_depth", (("lane", "broadcast"),))] == 2
    assert samples[("cohortbot_outbox_depth", (("lane", "interactive"),))] == 0
    assert samples[("cohortbot_send_latency_seconds_count", (("platform", "slack"),))] == 1
    assert samples[("cohortbot_send_latency_seconds_bucket", (("le", "0.25"), ("platform", "slack")))] == 1
