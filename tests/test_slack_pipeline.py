"""End to end: the Slack adapter (real slack-bolt over HTTP, fake Web API) feeding the app's pipeline
on a real database. A message in is stored under the export importer's uid and its author
classified; a /cohort command is answered by the command core through the response URL; the
welcome invitation the planner makes goes out through the outbox worker as a DM with Block
Kit buttons, and clicking Accept accepts it; a back-fill starts from the last message the
*store* holds and stores nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.slack_api import FakeSlackApi
from fakes.slack_kit import SIGNING_SECRET, TEAM, click_body, command_body, event_body, signed_headers
from sqlalchemy import func, select

from adapters.imports.slack_translate import message_uid
from adapters.slack import SlackAdapter
from bot.app import App, build_app
from bot.core.clock import FrozenClock
from bot.settings import Settings
from bot.store import Store
from bot.store.live_models import Invitation
from bot.store.models import Activity, Identity, MemberFeatureRow, Place

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TRACE = "I get a segfault in the parser, here is the trace:\n```\n#0 parse_block () at parser.c:120\n```"
ANN = {
    "id": "U1",
    "name": "ann",
    "profile": {"display_name": "ann", "email": "ann@example.org", "title": "SRE"},
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("COHORTBOT_SECRET", "x" * 40)


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    fake = await FakeSlackApi().start()
    fake.users["U1"] = ANN
    yield fake
    await fake.close()


def last_seen_in(store: Store) -> object:
    """What the app gives the adapter: the native id of the newest stored message of a channel."""

    async def last_seen(channel_id: str) -> str | None:
        async with store.connection() as conn:
            row = await conn.execute(
                select(Activity.native_id)
                .join(Place, Activity.place_id == Place.id)
                .where(Place.platform == "slack", Place.channel_id == channel_id, Activity.native_id != "")
                .order_by(Activity.occurred_at.desc())
                .limit(1)
            )
            return row.scalar_one_or_none()

    return last_seen


async def _app(store: Store, api: FakeSlackApi, **section: object) -> tuple[App, SlackAdapter, TestClient]:
    adapter = SlackAdapter.from_section(
        {"mode": "http", "team_id": TEAM, "api_base_url": api.api_url, **section},
        last_seen=last_seen_in(store),  # type: ignore[arg-type]
        clock=FrozenClock(T0 + timedelta(hours=1)),
        timer=api.timer,
    )
    app = await build_app(
        Settings(), clock=FrozenClock(T0 + timedelta(hours=1)), adapters={"slack": adapter}, store=store,
        managers_required=False,
    )  # fmt: skip
    client = TestClient(TestServer(adapter.aiohttp_app()))
    await client.start_server()
    return app, adapter, client


async def _post(client: TestClient, body: str, content_type: str = "application/json") -> int:
    resp = await client.post(
        "/slack/events", data=body.encode(), headers=signed_headers(body, content_type=content_type)
    )
    return resp.status


def _message(n: int, text: str = TRACE) -> dict[str, object]:
    ts = f"{(T0 + timedelta(minutes=n)).timestamp():.6f}"
    return {
        "type": "message",
        "channel": "C1",
        "user": "U1",
        "text": text,
        "ts": ts,
        "channel_type": "channel",
    }


async def _stored(store: Store) -> list[str]:
    async with store.connection() as conn:
        return list((await conn.execute(select(Activity.event_uid).order_by(Activity.id))).scalars())


async def test_message_in_is_stored_classified_and_a_command_answered(
    store: Store, api: FakeSlackApi
) -> None:
    app, adapter, client = await _app(store, api, backfill_days=0)
    await app.start_adapters()
    try:
        messages = [_message(i) for i in range(3)]
        for i, message in enumerate(messages):
            assert await _post(client, event_body(message, event_id=f"Ev{i}")) == 200
        assert await _post(client, event_body(messages[0], event_id="Ev0")) == 200  # a retry
        body = command_body("whyme", response_url=api.hook_url())
        assert await _post(client, body, "application/x-www-form-urlencoded") == 200
        await adapter.inbox.drain()
    finally:
        await app.shutdown()
        await client.close()
    assert await _stored(store) == [message_uid("C1", str(m["ts"])) for m in messages]
    async with store.connection() as conn:
        segments = (await conn.execute(select(MemberFeatureRow.segments))).scalars().all()
        email = (await conn.execute(select(Identity.email).where(Identity.platform == "slack"))).scalar_one()
    assert len(segments) == 1  # ann was classified by the pipeline
    assert email == "ann@example.org"  # users.info's profile reached the identity
    [answer] = api.hooks
    assert answer["response_type"] == "ephemeral" and answer["text"]


async def test_backfill_starts_at_the_store_and_stores_nothing_twice(store: Store, api: FakeSlackApi) -> None:
    app, adapter, client = await _app(store, api, backfill_channels=["C1"])
    live = _message(0)
    missed = [_message(i, f"missed {i}") for i in (1, 2)]
    api.history["C1"] = [dict(m) for m in [live, *missed]]
    await app.start_adapters()  # nothing stored yet: the back-fill reads the last 7 days
    try:
        assert await _post(client, event_body(live, event_id="Ev0")) == 200
        await adapter.inbox.drain()
        await adapter.backfilled.wait()
        first_oldest = api.of("conversations.history")[0].args["oldest"]
        await app.shutdown()
        # a restart: the store now holds all three, so the next back-fill asks only after the newest
        api.history["C1"].append(_message(3, "after the restart"))
        await client.close()
        app, adapter, client = await _app(store, api, backfill_channels=["C1"])
        await app.start_adapters()
        await adapter.backfilled.wait()
    finally:
        await app.shutdown()
        await client.close()
    assert float(first_oldest) == pytest.approx((T0 + timedelta(hours=1) - timedelta(days=7)).timestamp())
    assert api.of("conversations.history")[-1].args["oldest"] == str(missed[-1]["ts"])
    assert await _stored(store) == [message_uid("C1", str(m["ts"])) for m in [live, *missed, _message(3)]]
    async with store.connection() as conn:
        assert (await conn.execute(select(func.count()).select_from(Activity))).scalar_one() == 4


async def test_an_invitation_goes_out_with_buttons_and_a_click_accepts_it(
    store: Store, api: FakeSlackApi
) -> None:
    app, adapter, client = await _app(store, api, backfill_days=0)
    await app.start_adapters()
    try:
        for i in range(3):
            assert await _post(client, event_body(_message(i), event_id=f"Ev{i}")) == 200
        await adapter.inbox.drain()
        assert await app.worker.drain(until=T0 + timedelta(hours=2)) >= 1  # the welcome is due first
        [sent] = api.ok_calls("chat.postMessage")
        assert sent.args["channel"] == "DU1"  # a DM, opened with conversations.open
        [actions] = [b for b in sent.args["blocks"] if b["type"] == "actions"]
        accept = next(e for e in actions["elements"] if e["action_id"] == "cohort:accept")
        click = click_body("accept", accept["value"], response_url=api.hook_url("click"))
        assert await _post(client, click, "application/x-www-form-urlencoded") == 200
        await adapter.inbox.drain()
    finally:
        await app.shutdown()
        await client.close()
    [answer] = api.hooks
    assert answer["name"] == "click" and "You are in" in answer["text"]
    async with store.connection() as conn:
        statuses = dict((await conn.execute(select(Invitation.programme, Invitation.status))).all())
    assert statuses["welcome"] == "accepted"
