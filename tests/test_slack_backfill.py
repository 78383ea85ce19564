"""Start-up back-fill: conversations.history from the last stored ts, oldest first, same uids."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from fakes.slack_api import FakeSlackApi
from fakes.slack_kit import TEAM, RecordingSink

from adapters.imports.slack_translate import message_uid, reaction_uid
from adapters.slack import SlackAdapter, SlackSecrets, SlackSettings
from bot.core.clock import FrozenClock
from bot.core.events import MemberJoined, MessagePosted, ProfileSeen, ReactionAdded

SECRETS = SlackSecrets(bot_token="xoxb-test", app_token="xapp-test", signing_secret="")


def msg(ts: str, text: str, **extra: object) -> dict[str, object]:
    return {"type": "message", "user": "U1", "text": text, "ts": ts, **extra}


async def _adapter(api: FakeSlackApi, stored: dict[str, str | None], **overrides: object) -> SlackAdapter:
    async def last_seen(channel: str) -> str | None:
        return stored.get(channel)

    settings = SlackSettings(mode="http", team_id=TEAM, api_base_url=api.api_url, **overrides)  # type: ignore[arg-type]
    clock = FrozenClock(datetime(2023, 11, 15, tzinfo=UTC))
    secrets = SlackSecrets(bot_token="xoxb-test", app_token="", signing_secret="s")
    return SlackAdapter(settings, secrets=secrets, last_seen=last_seen, clock=clock, timer=api.timer)


async def test_backfill_reads_after_the_last_stored_message_oldest_first() -> None:
    api = await FakeSlackApi().start()
    api.member_of = ["C1", "C2"]
    api.users["U1"] = {"id": "U1", "name": "ann", "profile": {"email": "ann@example.org", "title": "DBA"}}
    api.history["C1"] = [
        msg("1700000001.000000", "already stored"),
        msg("1700000002.000000", "missed one", reactions=[{"name": "tada", "users": ["U2"], "count": 1}]),
        msg("1700000003.000000", "question?", reply_count=2, latest_reply="1700000005.000000",
            thread_ts="1700000003.000000"),
        msg("1700000006.000000", "missed three", edited={"user": "U1", "ts": "1700000007.000000"}),
        {"type": "message", "subtype": "channel_join", "user": "U3", "ts": "1700000008.000000"},
        msg("1700000009.000000", "posted by cohortbot itself", user="UBOT", bot_id="BBOT"),
    ]  # fmt: skip
    api.replies[("C1", "1700000003.000000")] = [
        msg("1700000003.000000", "question?", thread_ts="1700000003.000000"),
        msg("1700000004.000000", "an answer", thread_ts="1700000003.000000"),
        msg("1700000005.000000", "another", thread_ts="1700000003.000000"),
    ]
    api.history["C2"] = [msg(f"17000000{n:02d}.000000", f"c2 {n}") for n in range(10, 15)]
    sink = RecordingSink()
    adapter = await _adapter(api, {"C1": "1700000001.000000", "C2": "1700000012.000000"})
    try:
        await adapter.start(sink)
        await adapter.backfilled.wait()
        await adapter.stop()
    finally:
        await api.close()
    posted = sink.of(MessagePosted)
    assert [p.text.own for p in posted] == [
        "missed one", "question?", "an answer", "another", "missed three", "c2 13", "c2 14",
    ]  # fmt: skip
    assert posted[2].thread == message_uid("C1", "1700000003.000000")
    assert posted[0].uid == message_uid("C1", "1700000002.000000")
    [joined] = sink.of(MemberJoined)
    assert joined.uid == message_uid("C1", "1700000008.000000") and joined.actor.external_id == "U3"
    [reaction] = sink.of(ReactionAdded)
    assert reaction.uid == reaction_uid("C1", "1700000002.000000", "tada", "U2")
    assert sink.of(ProfileSeen)[0].actor.email == "ann@example.org"
    assert [c.args["oldest"] for c in api.of("conversations.history")] == [
        "1700000001.000000",
        "1700000012.000000",
    ]


async def test_a_channel_with_nothing_stored_is_read_back_the_configured_days_in_pages() -> None:
    api = await FakeSlackApi().start()
    start = datetime(2023, 11, 15, tzinfo=UTC).timestamp()
    api.history["C1"] = [msg(f"{start - 86400 * 10:.6f}", "too old")] + [
        msg(f"{start - 3600 + n:.6f}", f"recent {n}") for n in range(450)
    ]
    sink = RecordingSink()
    adapter = await _adapter(api, {}, backfill_channels=("C1",), backfill_days=7)
    try:
        await adapter.start(sink)
        await adapter.backfilled.wait()
        await adapter.stop()
    finally:
        await api.close()
    assert [p.text.own for p in sink.of(MessagePosted)] == [f"recent {n}" for n in range(450)]
    assert len(api.of("conversations.history")) == 3  # 200 a page
    assert api.of("users.conversations") == []  # configured channels, none discovered


async def test_429s_during_backfill_are_waited_out_however_many() -> None:
    api = await FakeSlackApi().start()
    api.history["C1"] = [msg("1700000002.000000", "late")]
    # more 429s than the client's own retries (3): the back-fill keeps waiting, as Slack asks
    api.rate_limit("conversations.history", times=6, retry_after=60)
    sink = RecordingSink()
    adapter = await _adapter(api, {"C1": "1700000001.000000"}, backfill_channels=("C1",))
    try:
        await adapter.start(sink)
        await adapter.backfilled.wait()
        await adapter.stop()
    finally:
        await api.close()
    calls = api.of("conversations.history")
    assert [c.status for c in calls] == [429] * 6 + [200]
    assert all(b.at - a.at >= 60 for a, b in itertools.pairwise(calls))
    assert [p.text.own for p in sink.of(MessagePosted)] == ["late"]
