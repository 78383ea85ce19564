"""From messages to invitations with the real segmentation engine: patches lead to Bag-a-Bug,
basic questions to Phone Sniper, a first message to the welcome; bots to nothing."""

from __future__ import annotations

from datetime import timedelta

from programme_world import T0, actor, member_id, message
from sqlalchemy import select

from bot.core.clock import FrozenClock
from bot.store import Store
from bot.store.ingest import Ingestor
from bot.store.live_models import Invitation
from messages.planner import Planner
from messages.programmes import load_catalogue
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

PATCH = """Here is a fix for the null pointer in the sync engine.

diff --git a/src/sync.c b/src/sync.c
--- a/src/sync.c
+++ b/src/sync.c
@@ -10,7 +10,7 @@ int sync_start(struct session *s) {
-    if (s->buf == NULL) return -1;
+    if (!s || !s->buf) return -EINVAL;
"""


async def test_segments_from_real_messages_choose_the_programmes(store: Store) -> None:
    now = T0 + timedelta(days=60)
    dev, user, newbie, bot = actor("dev"), actor("user"), actor("newbie"), actor("ci", is_bot=True)
    events = []
    for day in range(0, 56, 4):
        at = T0 + timedelta(days=day)
        events.append(message(dev, PATCH, at=at, channel="dev", patch_lines=6))
        events.append(
            message(
                dev,
                "The struct refactor compiles with gcc and clang now; see the `sync_start()` "
                "change and the --verbose flag.",
                at=at + timedelta(hours=1),
                channel="dev",
            )
        )
        events.append(
            message(
                user,
                "How do I install the app on my phone? I'm not technical. Which button do "
                "I click to sync my contacts?",
                at=at,
                channel="help",
            )
        )
        events.append(
            message(bot, "Build 12 passed, patch applied to src/sync.c", at=at, channel="dev", patch_lines=3)
        )
    events.append(message(newbie, "Hi all, I just joined!", at=now - timedelta(days=1)))
    clock = FrozenClock(now)
    async with store.connection() as conn:
        await Ingestor(now=now).ingest(conn, events)
    engine = SegmentationEngine(store, config=load_config(known_rules=RULE_NAMES), clock=clock)
    report = await engine.update(as_of=now)
    planner = Planner(load_catalogue(segments=engine.config.segments))
    async with store.connection() as conn:
        ids = {a.display_name: await member_id(conn, a) for a in (dev, user, newbie, bot)}
        await planner.plan(conn, report.touched | set(ids.values()), now=now)
        rows = (
            await conn.execute(select(Invitation.member_id, Invitation.programme, Invitation.reason))
        ).all()
    got: dict[str, list[str]] = {}
    for mid, programme, reason in rows:
        name = next(n for n, i in ids.items() if i == mid)
        got.setdefault(name, []).append(programme)
        assert reason["segment"] in reason["segments"] or reason["segments"] == []
    assert got.get("dev", [])[:1] == ["bug-hunt"], got
    assert got.get("user", [])[:1] == ["device-testing"], got
    assert got.get("newbie") == ["welcome"], got
    assert "ci" not in got
    dev_reason = next(r for m, p, r in rows if m == ids["dev"] and p == "bug-hunt")
    assert dev_reason["dimensions"]["skill"]["value"] == "technical"
    assert dev_reason["evidence"]["skill"], dev_reason  # the rules' own words, for whyme
