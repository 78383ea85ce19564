"""The segmentation engine on a real database: rebuild, incremental updates, pins, history, evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.clock import FrozenClock
from bot.core.errors import BadArgument
from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, ReactionAdded, event_uid
from bot.store import Store
from bot.store.ingest import Ingestor
from bot.store.models import SegmentAssignment
from bot.store.queries import member_views, resolve_member
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIST = PlaceRef("mail", "dev.lists.example.org", "dev")


def mail(
    mid: str,
    sender: str,
    text: str,
    *,
    at: datetime,
    reply: str | None = None,
    patch: int = 0,
    signature: str = "",
) -> MessagePosted:
    return MessagePosted(
        uid=event_uid("mail", mid),
        actor=ActorRef("mail", sender, sender.split("@")[0]),
        place=LIST,
        occurred_at=at,
        text=MessageText(own=text, patch_lines=patch, signature=signature),
        native_id=mid,
        reply_to=event_uid("mail", reply) if reply else None,
        tz_offset_minutes=60,
    )


async def ingest(store: Store, events: list) -> None:
    async with store.connection() as conn:
        await Ingestor().ingest(conn, events)


def engine(store: Store, now: datetime = T0 + timedelta(days=2)) -> SegmentationEngine:
    return SegmentationEngine(store, config=load_config(known_rules=RULE_NAMES), clock=FrozenClock(now))


async def dims(store: Store, ref: str) -> dict[str, dict]:
    async with store.connection() as conn:
        mid = await resolve_member(conn, ref)
        (view,) = [v async for v in member_views(conn, member_ids=[mid])]
    return view.dimensions


async def features_of(store: Store, ref: str) -> dict:
    from bot.store.models import MemberFeatureRow

    async with store.connection() as conn:
        mid = await resolve_member(conn, ref)
        return (
            await conn.execute(select(MemberFeatureRow.features).where(MemberFeatureRow.member_id == mid))
        ).scalar_one()


THREAD = [
    mail("q1", "ann@gmail.com", "How do I install the app on my phone? I'm not technical.", at=T0),
    mail(
        "a1",
        "bob@suse.com",
        "Run:\n$ sudo apt-get install syncwell\nthen restart it.",
        at=T0 + timedelta(hours=1),
        reply="q1",
    ),
    mail("t1", "ann@gmail.com", "Thanks, that worked!", at=T0 + timedelta(hours=2), reply="a1"),
    mail("p1", "bob@suse.com", "md: fix a resync race", at=T0 + timedelta(days=1), patch=40),
]


async def test_rebuild_classifies_with_evidence_and_segments(store: Store) -> None:
    await ingest(store, THREAD)
    report = await engine(store).rebuild()
    assert report.members == 2 and report.activities == 4
    bob = await dims(store, "bob@suse.com")
    assert bob["skill"]["value"] == "technical"
    assert bob["purpose"]["value"] == "business"
    assert bob["org_type"]["value"] == "isv"
    says = [e["says"] for e in bob["skill"]["evidence"] if "says" in e]
    assert any("patch" in s for s in says)
    assert any("message" in e for e in bob["skill"]["evidence"]), "own messages are cited as examples"
    ann = await dims(store, "ann@gmail.com")
    assert ann["skill"]["value"] == "non_technical"
    assert ann["purpose"]["value"] == "volunteer"


async def test_thanks_reply_credits_the_helper(store: Store) -> None:
    await ingest(store, THREAD)
    await engine(store).rebuild()
    bob = await features_of(store, "bob@suse.com")
    assert bob["answers"] == 1, "a reply to someone else's question is an answer"
    assert (bob["thanks_received"], bob["solved_received"]) == (1, 1)
    ann = await features_of(store, "ann@gmail.com")
    assert ann["thanks_received"] == 0 and ann["thanks_given"] == 1


async def test_reaction_thanks_counts_for_the_author(store: Store) -> None:
    await ingest(store, THREAD)
    react = ReactionAdded(
        uid=event_uid("mail", "r1"),
        actor=ActorRef("mail", "cid@gmail.com", "cid"),
        target_uid=event_uid("mail", "a1"),
        emoji="🙏",
        occurred_at=T0 + timedelta(hours=3),
    )
    await ingest(store, [react])
    await engine(store).rebuild()
    assert (await features_of(store, "bob@suse.com"))["thanks_received"] == 2


async def test_incremental_update_folds_each_activity_exactly_once(store: Store) -> None:
    await ingest(store, THREAD[:2])
    eng = engine(store)
    await eng.update()
    await eng.update()  # nothing new: nothing counted twice
    assert (await features_of(store, "bob@suse.com"))["messages"] == 1
    await ingest(store, THREAD[2:])
    report = await eng.update()
    assert report.activities == 2
    bob = await features_of(store, "bob@suse.com")
    assert bob["messages"] == 2 and bob["thanks_received"] == 1
    # The incremental result equals a rebuild from scratch.
    await eng.rebuild()
    rebuilt = await features_of(store, "bob@suse.com")
    assert {k: rebuilt[k] for k in ("messages", "answers", "thanks_received", "flags")} == {
        k: bob[k] for k in ("messages", "answers", "thanks_received", "flags")
    }


async def test_the_decisions_kept_with_features_name_the_current_rows(store: Store) -> None:
    """The ids cached beside each member's features are the ids of their current assignment rows
    (the SQLite path computes them from the last inserted rowid rather than reading them back)."""
    from bot.store.models import MemberFeatureRow

    eng = engine(store)
    await ingest(store, THREAD[:2])
    await eng.update()
    await ingest(store, THREAD[2:])
    await eng.update()
    async with store.connection() as conn:
        cached = (await conn.execute(select(MemberFeatureRow.member_id, MemberFeatureRow.decisions))).all()
        current = (
            await conn.execute(
                select(SegmentAssignment.member_id, SegmentAssignment.dimension, SegmentAssignment.id).where(
                    SegmentAssignment.current.is_(True)
                )
            )
        ).all()
    actual = {(m, d): i for m, d, i in current}
    assert cached and actual
    for member_id, decisions in cached:
        assert decisions, member_id
        for dim, row in decisions.items():
            assert actual[(member_id, dim)] == row["id"], (member_id, dim)


async def test_override_survives_classify_all_and_can_be_released(store: Store) -> None:
    await ingest(store, THREAD)
    eng = engine(store)
    await eng.rebuild()
    async with store.connection() as conn:
        bob = await resolve_member(conn, "bob@suse.com")
    await eng.set_override(bob, "org_type", "device_maker", by="alice")
    await eng.rebuild()
    await eng.update(everyone=True)
    pinned = (await dims(store, "bob@suse.com"))["org_type"]
    assert (pinned["value"], pinned["pinned_by"]) == ("device_maker", "alice")
    await eng.clear_override(bob, "org_type", by="alice")
    released = (await dims(store, "bob@suse.com"))["org_type"]
    assert released["value"] == "isv" and "pinned_by" not in released


async def test_override_rejects_unknown_dimensions_and_values(store: Store) -> None:
    await ingest(store, THREAD)
    eng = engine(store)
    with pytest.raises(BadArgument, match="unknown dimension"):
        await eng.set_override(1, "shoe_size", "42", by="alice")
    with pytest.raises(BadArgument, match="not a value of skill"):
        await eng.set_override(1, "skill", "wizard", by="alice")


async def test_history_keeps_movements_and_ruleset_version(store: Store) -> None:
    await ingest(store, [mail("x1", "dee@gmail.com", "hello all", at=T0)])
    eng = engine(store)
    await eng.rebuild()
    await ingest(
        store,
        [
            mail(
                f"x{i}", "dee@gmail.com", "```\nint main(void) { return 0; }\n```", at=T0 + timedelta(hours=i)
            )
            for i in range(2, 6)
        ],
    )
    await eng.update()
    async with store.connection() as conn:
        mid = await resolve_member(conn, "dee@gmail.com")
        rows = (
            await conn.execute(
                select(SegmentAssignment.value, SegmentAssignment.current, SegmentAssignment.ruleset_version)
                .where(SegmentAssignment.member_id == mid, SegmentAssignment.dimension == "skill")
                .order_by(SegmentAssignment.id)
            )
        ).all()
    assert [(r.value, r.current) for r in rows] == [("unknown", False), ("technical", True)]
    assert all(r.ruleset_version == eng.config.ruleset_version for r in rows)


async def test_reclassifying_a_settled_community_writes_nothing(store: Store) -> None:
    await ingest(store, THREAD)
    eng = engine(store)
    await eng.rebuild()
    async with store.connection() as conn:
        before = (await conn.execute(select(func.count()).select_from(SegmentAssignment))).scalar_one()
    report = await eng.rebuild()
    assert (report.moved, report.refreshed) == (0, 0)
    async with store.connection() as conn:
        assert (
            await conn.execute(select(func.count()).select_from(SegmentAssignment))
        ).scalar_one() == before


async def test_archive_is_judged_as_of_its_own_end(store: Store) -> None:
    await ingest(store, THREAD)
    eng = engine(store, now=T0 + timedelta(days=400))
    report = await eng.rebuild()
    assert report.as_of.date() == (T0 + timedelta(days=2)).date()
    assert (await dims(store, "ann@gmail.com"))["engagement"]["value"] == "newcomer"


async def test_bots_get_no_decisions(store: Store) -> None:
    bot = MessagePosted(
        uid=event_uid("mail", "b1"),
        actor=ActorRef("mail", "ci@example.org", "CI", is_bot=True),
        place=LIST,
        occurred_at=T0,
        text=MessageText(own="Build passed"),
        native_id="b1",
    )
    await ingest(store, [bot, *THREAD])
    await engine(store).rebuild()
    assert await dims(store, "ci@example.org") == {}


async def test_signed_off_patches_reveal_the_employer_behind_free_mail(store: Store) -> None:
    patches = [
        mail(
            f"s{i}",
            "dev@gmail.com",
            f"md: fix {i}",
            at=T0 + timedelta(hours=i),
            patch=30,
            signature="Signed-off-by: Dev Person <dev@intel.com>",
        )
        for i in range(3)
    ]
    await ingest(store, patches)
    await engine(store).rebuild()
    dev = await dims(store, "dev@gmail.com")
    assert dev["purpose"]["value"] == "business"
    assert dev["org_type"]["value"] == "device_maker"


async def test_parallel_rebuild_matches_the_single_process_one(tmp_path) -> None:
    """The SQLite rebuild split over worker processes folds exactly what one process folds."""
    from bot.store import open_store

    events = []
    for i in range(60):
        who = f"p{i % 7}@{'gmail.com' if i % 2 else 'corp.example'}"
        reply = f"m{i - 1}" if i % 3 == 0 and i else None
        text = "Thanks, that worked!" if i % 5 == 0 else f"How do I fix {i}?\n```\nx = {i}\n```"
        events.append(mail(f"m{i}", who, text, at=T0 + timedelta(minutes=i), reply=reply))
    results = []
    for workers, threshold in ((1, 10**9), (2, 0)):
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path / f'w{workers}.db'}")
        try:
            await ingest(store, events)
            eng = SegmentationEngine(
                store,
                config=load_config(known_rules=RULE_NAMES),
                clock=FrozenClock(T0 + timedelta(days=1)),
                workers=workers,
                parallel_threshold=threshold,
            )
            report = await eng.rebuild()
            async with store.connection() as conn:
                views = {v.display_name: (v.dimensions, v.segments) async for v in member_views(conn)}
            feats = {name: await features_of(store, f"{name}@gmail.com") for name in ("p1", "p3")}
            results.append((report.activities, views, feats))
        finally:
            await store.close()
    assert results[0] == results[1]


async def test_an_engine_behind_another_folds_nothing_twice(store: Store) -> None:
    """Two engines on one database (two processes): the one whose remembered cursor is stale
    loses the compare-and-set, its writes roll back, and it reads again from the stored cursor."""
    first, second = engine(store), engine(store)
    await ingest(store, THREAD[:1])
    await first.update()  # first remembers the cursor after q1
    await ingest(store, THREAD[1:2])
    await second.update()  # second folds a1 and moves the cursor past it
    await ingest(store, THREAD[2:])
    report = await first.update()  # starts after q1 in memory: a1 is already folded
    assert report.activities == 2, "only t1 and p1 are new to the database"
    bob = await features_of(store, "bob@suse.com")
    ann = await features_of(store, "ann@gmail.com")
    assert (bob["messages"], bob["thanks_received"]) == (2, 1)
    assert (ann["messages"], ann["thanks_given"]) == (2, 1)
    async with store.connection() as conn:
        bob_id = await resolve_member(conn, "bob@suse.com")
        current = (
            await conn.execute(
                select(SegmentAssignment.dimension, func.count())
                .where(SegmentAssignment.member_id == bob_id, SegmentAssignment.current.is_(True))
                .group_by(SegmentAssignment.dimension)
            )
        ).all()
    assert current and all(n == 1 for _, n in current), "one current row per dimension"


# ---- the state an engine keeps of what it wrote (``state_memo.StateMemo``) ----------------


def _on_sqlite(store: Store) -> bool:
    return store.engine.url.get_backend_name() == "sqlite"


async def test_kept_state_is_not_used_once_another_writer_changed_the_row(store: Store) -> None:
    """A member's row rewritten by anyone else (a merge, an import, another process) is read
    again from the database, not taken from what this engine wrote before."""
    from bot.store.models import MemberFeatureRow

    eng = engine(store)
    await ingest(store, THREAD[:2])
    await eng.update()
    if _on_sqlite(store):
        assert len(eng._memo) > 0, "the incremental pass on SQLite keeps what it wrote"
    bob = await features_of(store, "bob@suse.com")
    async with store.connection() as conn:
        bob_id = await resolve_member(conn, "bob@suse.com")
        await conn.execute(
            MemberFeatureRow.__table__.update()  # type: ignore[attr-defined]
            .where(MemberFeatureRow.member_id == bob_id)
            .values(features={**bob, "messages": 10})
        )
    await ingest(store, THREAD[2:])
    await eng.update()
    assert (await features_of(store, "bob@suse.com"))["messages"] == 11


async def test_a_pin_by_another_engine_is_seen_by_the_next_update(store: Store) -> None:
    eng, other = engine(store), engine(store)
    await ingest(store, THREAD[:2])
    await eng.update()
    async with store.connection() as conn:
        bob_id = await resolve_member(conn, "bob@suse.com")
    await other.set_override(bob_id, "org_type", "device_maker", by="alice")
    await ingest(store, THREAD[2:])
    await eng.update()
    pinned = (await dims(store, "bob@suse.com"))["org_type"]
    assert (pinned["value"], pinned["pinned_by"]) == ("device_maker", "alice")
    from bot.store.models import MemberFeatureRow

    async with store.connection() as conn:
        current = (
            await conn.execute(
                select(SegmentAssignment.dimension, SegmentAssignment.id).where(
                    SegmentAssignment.member_id == bob_id, SegmentAssignment.current.is_(True)
                )
            )
        ).all()
        cached = (
            await conn.execute(select(MemberFeatureRow.decisions).where(MemberFeatureRow.member_id == bob_id))
        ).scalar_one()
    assert len(current) == len(dict(current)), "one current row per dimension"
    assert {d: row["id"] for d, row in cached.items()} == dict(current), "the cache names the current rows"
    assert cached["org_type"]["pinned_by"] == "alice"


async def test_a_rolled_back_update_leaves_nothing_kept_that_is_used(store: Store) -> None:
    """The pipeline's transaction can fail after segmentation wrote: the state kept from that
    write no longer matches the rows, and the retry folds from what the database holds."""
    eng = engine(store)
    await ingest(store, THREAD[:2])
    await eng.update()
    await ingest(store, THREAD[2:])
    with pytest.raises(RuntimeError):
        async with store.connection() as conn:
            await eng.update_in(conn)
            raise RuntimeError("a later step of the batch failed")
    eng.forget_cursor()
    await eng.update()
    bob = await features_of(store, "bob@suse.com")
    assert (bob["messages"], bob["thanks_received"]) == (2, 1), "each activity folded exactly once"
