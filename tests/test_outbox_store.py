"""The outbox table on a real database: exactly-once enqueue, the caller's transaction, claims, views."""

from __future__ import annotations

from datetime import timedelta

import pytest
from outbox_support import T0, add_member, dm, opt_out, post, put, rows

from bot.core.outbound import Button, Recipient
from bot.store import Store
from bot.store import outbox as ob
from bot.store import outbox_views as views
from bot.store.outbox import NewMessage, enqueue


async def test_a_duplicate_dedupe_key_is_enqueued_once(store: Store) -> None:
    first = await put(store, dm("a"), dm("b"), dm("a"))
    assert first[0] is not None and first[1] is not None and first[0] != first[1]
    assert first[2] is None  # the repeat inside one call
    second = await put(store, dm("a"), dm("c"))
    assert second[0] is None and second[1] is not None
    assert sorted(await rows(store)) == ["a", "b", "c"]


async def test_a_rolled_back_decision_enqueues_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.connection() as conn:
            ids = await enqueue(conn, [dm("x"), dm("y")], now=T0)
            assert all(ids)
            raise RuntimeError("the decision failed after enqueueing")
    assert await rows(store) == {}
    # ...and the key is free for the decision's next, successful attempt.
    assert (await put(store, dm("x")))[0] is not None


async def test_the_row_carries_everything_the_adapter_needs(store: Store) -> None:
    msg = NewMessage(
        dedupe_key="inv:7:bug-hunt",
        platform="mail",
        kind="email",
        to=Recipient(email="Ada@Example.org", display_name="Ada"),
        text="plain",
        template="invite",
        programme="bug-hunt",
        subject="Join",
        html="<p>x</p>",
        blocks=({"type": "section"},),
        buttons=(Button("accept", "tok", "Yes", style="primary", url="https://x/a"),),
        headers={"List-Unsubscribe": "<https://x/u>"},
        reply_to_native="<m@x>",
        lane="interactive",
        not_before=T0 + timedelta(hours=1),
        deliver_within=timedelta(hours=3),
        consent_scope="programme:bug-hunt",
    )
    [row_id] = await put(store, msg)
    row = (await rows(store))["inv:7:bug-hunt"]
    assert row["destination"] == "mail:email:ada@example.org"
    assert row["body"]["consent_scope"] == "programme:bug-hunt"
    assert row["deliver_until"] == T0 + timedelta(hours=4)
    async with store.connection() as conn:
        got = await views.get_row(conn, row_id or 0)
    assert got is not None
    out = got.to_message()
    assert (out.subject, out.html, out.blocks, out.buttons, dict(out.headers), out.reply_to_native) == (
        msg.subject,
        msg.html,
        msg.blocks,
        msg.buttons,
        dict(msg.headers),
        msg.reply_to_native,
    )
    assert out.to == msg.to and out.attempt == 1 and out.idempotency_key.startswith("cb")


async def test_a_claimed_row_cannot_be_claimed_again(store: Store) -> None:
    ids = [i for i in await put(store, dm("a"), dm("b", user="u2")) if i]
    async with store.connection() as conn:
        first = await ob.claim(conn, ids, now=T0, worker_id="w1")
    async with store.connection() as conn:
        second = await ob.claim(conn, ids, now=T0, worker_id="w2")
    assert [r.dedupe_key for r in first] == ["a", "b"] and second == []
    assert {r["claimed_by"] for r in (await rows(store)).values()} == {"w1"}


async def test_candidates_are_due_rows_interactive_lane_first_oldest_first(store: Store) -> None:
    await put(
        store,
        dm("late", not_before=T0 + timedelta(minutes=5)),
        dm("b1"),
        post("p1"),
        dm("i1", lane="interactive"),
    )
    async with store.connection() as conn:
        both = await views.due_in_lanes(conn, now=T0, platforms=["discord", "slack"])
        only_discord = await views.due_in_lanes(conn, now=T0, platforms=["discord"])
        no_slack_channel = await views.due_in_lanes(
            conn, now=T0, platforms=["discord", "slack"], skip_destinations=["slack:channel:c1"]
        )
        slack_waiting = await views.due_in_lanes(
            conn, now=T0, platforms=["discord", "slack"], skip_platforms=["slack"]
        )
    assert [(lane, d) for _, _, d, lane in both] == [
        ("interactive", "discord:user:u1"),
        ("broadcast", "discord:user:u1"),
        ("broadcast", "slack:channel:c1"),
    ]
    assert [d for _, _, d, _ in only_discord] == ["discord:user:u1", "discord:user:u1"]
    assert [d for _, _, d, _ in no_slack_channel] == ["discord:user:u1", "discord:user:u1"]
    assert no_slack_channel == slack_waiting


async def test_status_dead_list_and_retry(store: Store) -> None:
    ids = [i for i in await put(store, dm("a"), dm("b", user="u2"), post("p", lane="interactive")) if i]
    async with store.connection() as conn:
        [a, _] = await ob.claim(conn, ids[:2], now=T0, worker_id="w")
        await ob.mark_dead(conn, a.id, reason="permanent: blocked the bot")
    async with store.connection() as conn:
        st = await views.status(conn, now=T0)
        dead = await views.dead_rows(conn)
    assert st.total("dead") == 1 and st.total("sending") == 1 and st.total("pending") == 1
    assert st.depth == 2 and st.due == 1 and st.oldest_due == T0
    assert [(r.dedupe_key, r.last_error) for r in dead] == [("a", "permanent: blocked the bot")]
    later = T0 + timedelta(days=5)
    async with store.connection() as conn:
        assert await views.retry_dead(conn, a.id, now=later)
        assert not await views.retry_dead(conn, a.id, now=later)  # no longer dead
        assert not await views.retry_dead(conn, 999_999, now=later)
    row = (await rows(store))["a"]
    assert (row["status"], row["attempts"], row["not_before"], row["last_error"]) == (
        "pending",
        0,
        later,
        None,
    )
    assert row["deliver_until"] > later


async def test_stale_sending_rows_are_found_for_their_worker_or_by_age(store: Store) -> None:
    ids = [i for i in await put(store, dm("mine"), dm("old", user="u2"), dm("fresh", user="u3")) if i]
    async with store.connection() as conn:
        await ob.claim(conn, ids[:1], now=T0, worker_id="me")
        await ob.claim(conn, ids[1:2], now=T0 - timedelta(hours=1), worker_id="gone")
        await ob.claim(conn, ids[2:], now=T0, worker_id="busy")
        stale = await views.stale_sending(
            conn, worker_id="me", stale_before=T0 - timedelta(minutes=10), platforms=["discord"]
        )
        assert [r.dedupe_key for r in stale] == ["mine", "old"]
        assert await ob.release(conn, stale[0].id)
    assert (await rows(store))["mine"]["status"] == "pending"


async def test_hold_and_check_counts_the_attempt_only_for_a_row_that_may_leave(store: Store) -> None:
    ann = await add_member(store, external_id="u1")
    bob = await add_member(store, external_id="u2")
    await opt_out(store, bob, "all")
    await put(store, dm("to-ann", user="u1", member_id=ann), dm("to-bob", user="u2", member_id=bob))
    by_key = await rows(store)
    async with store.connection() as conn:
        ids = [by_key["to-ann"]["id"], by_key["to-bob"]["id"]]
        claimed = await ob.claim(conn, ids, now=T0, worker_id="w")
    checks: dict[str, views.SendCheck | None] = {}
    async with store.connection() as conn:
        for row in claimed:
            checks[row.dedupe_key] = await views.hold_and_check(conn, row, now=T0, worker_id="w")
        assert await views.hold_and_check(conn, claimed[0], now=T0, worker_id="someone-else") is None
    assert checks["to-ann"] == views.SendCheck(paused=False, block=None)
    assert checks["to-bob"] == views.SendCheck(paused=False, block="opted out of all")
    after = await rows(store)
    assert after["to-ann"]["attempts"] == 1  # about to be sent: counted
    assert after["to-bob"]["attempts"] == 0  # stopped before the platform: not an attempt
