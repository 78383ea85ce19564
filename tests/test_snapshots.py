"""What the planner reads of members (``messages.snapshots.load_members``), field by field.

The reads are few and composed once (a join, correlated subqueries, JSON paths), so each
snapshot field is checked here against rows written the ordinary way.
"""

from __future__ import annotations

from datetime import timedelta

from programme_world import DEVELOPER, T0, actor, add_member, message, set_segments
from sqlalchemy import delete, insert, select, update

from bot.store import Store
from bot.store.ingest import Ingestor
from bot.store.live_models import Consent, Invitation, OutboxMessage
from bot.store.models import Activity, Identity, Member, SegmentAssignment
from messages.snapshots import load_members


def _outbox(mid: int, key: str, *, status: str, created: timedelta) -> dict[str, object]:
    at = T0 - created
    return {
        "dedupe_key": key,
        "member_id": mid,
        "platform": "discord",
        "kind": "dm",
        "recipient": {},
        "body": {"text": "x"},
        "destination": f"discord:user:{mid}",
        "status": status,
        "not_before": at,
        "deliver_until": at + timedelta(days=1),
        "created_at": at,
    }


def _assignment(mid: int, dim: str, evidence: dict[str, object], *, current: bool) -> dict[str, object]:
    return {
        "member_id": mid,
        "dimension": dim,
        "value": "v",
        "confidence": 0.9,
        "evidence": evidence,
        "ruleset_version": "test",
        "decided_at": T0,
        "updated_at": T0,
        "pinned_by": None,
        "current": current,
    }


async def test_load_members_reads_every_field(store: Store) -> None:
    async with store.connection() as conn:
        ana = await add_member(conn, actor("ana"), segments=("developers",), dims=DEVELOPER, tz=-300)
        # A second account on slack, written later: the latest activity is there.
        await Ingestor(now=T0).ingest(
            conn, [message(actor("ana", platform="slack"), "hi", at=T0 + timedelta(minutes=5))]
        )
        # ... made the same person (as a merge would).
        slack = select(Identity.member_id).where(Identity.platform == "slack")
        slack_ana = (await conn.execute(slack)).scalar()
        await conn.execute(update(Activity).where(Activity.member_id == slack_ana).values(member_id=ana))
        await conn.execute(update(Identity).where(Identity.platform == "slack").values(member_id=ana))
        await conn.execute(delete(Member).where(Member.id == slack_ana))
        await conn.execute(
            update(Identity)
            .where(Identity.platform == "discord", Identity.external_id == "id-ana")
            .values(undeliverable="50007")
        )
        bob = await add_member(conn, actor("bob"), tz=None)
        bot = await add_member(conn, actor("helperbot", is_bot=True), segments=("developers",))
        await set_segments(conn, bob, segments=(), dims={}, tz=None)
        await conn.execute(
            insert(Invitation),
            [
                {
                    "member_id": ana,
                    "programme": "bag-a-bug",
                    "segment": "developers",
                    "status": "planned",
                    "token": "t1",
                    "reason": {"not_before": (T0 + timedelta(hours=9)).isoformat(), "evidence": {}},
                    "planned_at": T0,
                    "sent_at": None,  # an executemany takes its columns from the first row
                },
                {
                    "member_id": ana,
                    "programme": "code-sniper",
                    "segment": "developers",
                    "status": "accepted",
                    "token": "t2",
                    "reason": {},
                    "planned_at": T0 - timedelta(days=20),
                    "sent_at": T0 - timedelta(days=19),
                },
                {
                    "member_id": bob,
                    "programme": "bag-a-bug",
                    "segment": "x",
                    "status": "rejected",
                    "token": "t3",
                    "reason": {"not_before": None},
                    "planned_at": T0 - timedelta(days=2),
                    "sent_at": None,
                },
            ],
        )
        await conn.execute(
            insert(OutboxMessage),
            [
                _outbox(ana, "a", status="pending", created=timedelta(hours=1)),
                _outbox(ana, "b", status="sent", created=timedelta(hours=23)),
                _outbox(ana, "c", status="cancelled", created=timedelta(hours=2)),
                _outbox(ana, "d", status="sent", created=timedelta(days=2)),
            ],
        )
        await conn.execute(
            insert(Consent).values(member_id=bob, scope="all", state="out", source="test", at=T0)
        )
        says = [{"rule": f"r{i}", "says": f"reason {i}"} for i in range(5)]
        await conn.execute(
            insert(SegmentAssignment),
            [
                _assignment(ana, "skill", {"evidence": says}, current=True),
                _assignment(ana, "skill", {"evidence": [{"says": "old value"}]}, current=False),
                _assignment(
                    ana, "purpose", {"evidence": [{"rule": "x"}, {"says": "volunteers"}]}, current=True
                ),
            ],
        )
        views = await load_members(conn, [bob, ana, ana, bot, 999_999], now=T0)

    assert list(views) == sorted([ana, bob, bot])  # unknown ids left out, in id order
    a, b, z = views[ana], views[bob], views[bot]
    assert a.display_name == "ana"
    assert a.snapshot.segments == frozenset({"developers"})
    assert a.snapshot.dimensions == DEVELOPER
    assert a.decisions["skill"]["value"] == "technical"
    assert a.snapshot.tz_offset_minutes == -300 and b.snapshot.tz_offset_minutes is None
    assert not a.snapshot.is_bot and z.snapshot.is_bot and not b.snapshot.is_bot
    assert a.snapshot.recent_sends == 2  # the cancelled one and the one of two days ago do not count
    assert b.snapshot.recent_sends == 0
    assert b.snapshot.consent == {"all": "out"} and a.snapshot.consent == {}
    assert sorted((i.programme, i.status, i.at) for i in a.snapshot.invitations) == [
        ("bag-a-bug", "planned", T0 + timedelta(hours=9)),  # the planned send time, from the reason
        ("code-sniper", "accepted", T0 - timedelta(days=19)),  # sent_at
    ]
    assert [(i.status, i.at) for i in b.snapshot.invitations] == [("rejected", T0 - timedelta(days=2))]
    reach = {r.platform: r for r in a.snapshot.reach}
    assert reach["discord"].undeliverable and reach["discord"].last_active is None
    assert not reach["slack"].undeliverable and reach["slack"].last_active == T0 + timedelta(minutes=5)
    assert a.account("discord") is None and a.account("slack") is not None
    assert [r.last_active for r in b.snapshot.reach] == [T0]
    # The current values' sentences, three at most per dimension; none for bob.
    assert a.evidence == {"skill": ["reason 0", "reason 1", "reason 2"], "purpose": ["volunteers"]}
    assert b.evidence == {}
