"""Managers' commands on a real store: segments, member, set, merges, suggestions, audit, forget, CLI."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from admin_world import (
    ALICE_D,
    ALICE_DISCORD,
    ALICE_MAIL,
    BOB,
    BOB_SLACK,
    GENERAL,
    LIST,
    SLACK_HELP,
    T0,
    World,
    command,
    post,
)
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.admin.cli import admin_app
from bot.admin.registry import CommandSpec, Registry, options, parse_command_line, split_arguments
from bot.core.errors import BadArgument
from bot.core.events import ActorRef
from bot.core.outbound import CommandReply
from bot.store import Store, open_store
from bot.store.live_models import Consent, MemberMerge, MergeSuggestion, OutboxMessage
from bot.store.models import Activity, Identity, SegmentAssignment
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

BOSS = ActorRef("discord", "900000000000000900", display_name="Boss")


@pytest.fixture
async def world(store: Store) -> World:
    from admin_world import make_world

    engine = SegmentationEngine(store, config=load_config(None, known_rules=RULE_NAMES))
    w = await make_world(store, segmentation=engine)
    engine.clock = w.clock
    return w


async def admin(world: World, *args: str) -> CommandReply:
    return await world.run(command(BOSS, "admin", *args, at=world.clock.now()))


async def ids(world: World) -> tuple[int, int]:
    alice, bob = await world.member("discord", ALICE_DISCORD), await world.member("slack", BOB_SLACK)
    assert alice is not None and bob is not None
    return alice, bob


async def test_segments_counts_and_this_weeks_movements(world: World) -> None:
    alice, bob = await ids(world)
    last_week = T0 - timedelta(days=9)
    await world.assign(alice, "engagement", "newcomer", "first message", at=last_week)
    await world.assign(alice, "engagement", "regular", "posts every week", at=T0 - timedelta(days=1))
    await world.assign(bob, "engagement", "newcomer", "first message", at=T0 - timedelta(days=1))
    await world.assign(bob, "skill", "technical", "x", at=last_week)
    await world.assign(bob, "skill", "non_technical", "y", at=last_week + timedelta(days=1))  # not this week
    reply = await admin(world, "segments")
    assert reply.ok
    assert "engagement: newcomer 1, regular 1" in reply.text
    assert "Movements since 2026-11-23:" in reply.text
    assert "engagement: newcomer → regular: 1" in reply.text
    assert "technical → non_technical" not in reply.text


async def test_member_shows_every_dimension_with_evidence(world: World) -> None:
    alice, _ = await ids(world)
    await world.assign(alice, "skill", "technical", "sends patches")
    for ref in (f"#{alice}", str(alice), ALICE_MAIL, f"discord:{ALICE_DISCORD}", "Alice Liddell"):
        reply = await admin(world, "member", ref)
        assert reply.ok, (ref, reply.text)
        assert "skill: technical (confidence 0.80)" in reply.text and "+ sends patches" in reply.text
        assert f"discord:{ALICE_DISCORD}" in reply.text and "segfault" in reply.text
    missing = await admin(world, "member", "#99999")
    assert not missing.ok and "no member matches" in missing.text and "usage: member MEMBER" in missing.text


async def test_set_pins_through_the_engine_and_auto_unpins(world: World) -> None:
    alice, _ = await ids(world)
    reply = await admin(world, "set", f"#{alice}", "skill", "non_technical")
    assert reply.ok, reply.text
    async with world.store.connection() as conn:
        pinned = (
            await conn.execute(
                select(SegmentAssignment.value, SegmentAssignment.pinned_by).where(
                    SegmentAssignment.member_id == alice,
                    SegmentAssignment.dimension == "skill",
                    SegmentAssignment.current.is_(True),
                )
            )
        ).one()
    assert tuple(pinned) == ("non_technical", f"discord:{BOSS.external_id}")
    bad = await admin(world, "set", f"#{alice}", "skill", "wizard")
    assert not bad.ok and "not a value of skill" in bad.text
    auto = await admin(world, "set", f"#{alice}", "skill", "auto")
    assert auto.ok and "override cleared" in auto.text


async def test_merge_and_unmerge_move_accounts_and_activity_back_and_forth(world: World) -> None:
    alice, bob = await ids(world)
    bob_posts = 1
    await world.outbox_row(bob)
    async with world.store.connection() as conn:
        from bot.store.privacy import set_consent

        await set_consent(conn, bob, "all", "out", source="t", at=T0)
    reply = await admin(world, "merge", f"#{alice}", f"slack:{BOB_SLACK}")
    assert reply.ok, reply.text
    assert await world.member("slack", BOB_SLACK) == alice
    async with world.store.connection() as conn:
        count = (await conn.execute(select(func.count()).where(Activity.member_id == alice))).scalar()
        states = {
            c.scope: c.state for c in await conn.execute(select(Consent).where(Consent.member_id == alice))
        }
        merge_id = (await conn.execute(select(MemberMerge.id))).scalar_one()
    assert count == 2 + bob_posts + 0  # Alice's two messages and Bob's question
    assert states == {"all": "out"}  # Bob's opt-out stays with the merged person
    # The live ingestor had Bob's account cached under his old member number: it notices the merge.
    await world.ingest([post(BOB, SLACK_HELP, "after the merge")])
    async with world.store.connection() as conn:
        latest = (
            await conn.execute(select(Activity.member_id).where(Activity.own_text == "after the merge"))
        ).scalar()
    assert latest == alice
    again = await admin(world, "merge", f"#{alice}", f"#{alice}")
    assert not again.ok and "themselves" in again.text
    undone = await admin(world, "unmerge", str(merge_id))
    assert undone.ok, undone.text
    assert await world.member("slack", BOB_SLACK) == bob  # the same member number as before
    async with world.store.connection() as conn:
        bob_acts = (await conn.execute(select(func.count()).where(Activity.member_id == bob))).scalar()
        alice_acts = (await conn.execute(select(func.count()).where(Activity.member_id == alice))).scalar()
        bob_rows = (await conn.execute(select(func.count()).where(OutboxMessage.member_id == bob))).scalar()
        bob_out = (await conn.execute(select(Consent.state).where(Consent.member_id == bob))).scalars().all()
    assert (bob_acts, alice_acts, bob_rows) == (2, 2, 1)
    await world.ingest([post(BOB, SLACK_HELP, "after the unmerge")])
    async with world.store.connection() as conn:
        owner = (
            await conn.execute(select(Activity.member_id).where(Activity.own_text == "after the unmerge"))
        ).scalar()
    assert owner == bob
    assert list(bob_out) == ["out"]
    twice = await admin(world, "unmerge", str(merge_id))
    assert not twice.ok and "undone already" in twice.text


async def test_suggestions_find_namesakes_across_platforms_and_can_be_approved_or_rejected(
    world: World,
) -> None:
    carol_d = ActorRef("discord", "600000000000000600", display_name="Carol Danvers")
    carol_m = ActorRef("mail", "carol@marvel.example", display_name="carol  danvers")
    dan_1 = ActorRef("discord", "600000000000000601", display_name="Dan Brown")
    dan_2 = ActorRef("discord", "600000000000000602", display_name="Dan Brown")  # same platform: two people
    await world.ingest(
        [
            post(a, GENERAL if a.platform == "discord" else LIST, "hi")
            for a in (carol_d, carol_m, dan_1, dan_2)
        ]
    )
    listing = await admin(world, "suggestions")
    assert listing.ok and "Carol Danvers" in listing.text and "Dan Brown" not in listing.text
    async with world.store.connection() as conn:
        (sid,) = (await conn.execute(select(MergeSuggestion.id))).scalars().all()
    approved = await admin(world, "suggestions", "approve", str(sid))
    assert approved.ok, approved.text
    assert await world.member("discord", carol_d.external_id) == await world.member(
        "mail", carol_m.external_id
    )
    # A rejected pair is not suggested again.
    eve_d = ActorRef("discord", "600000000000000603", display_name="Eve Online")
    eve_s = ActorRef("slack", "U0EVE", display_name="Eve Online")
    await world.ingest([post(eve_d, GENERAL, "hi"), post(eve_s, GENERAL, "hi")])
    await admin(world, "suggestions")
    async with world.store.connection() as conn:
        eve_sid = (
            await conn.execute(select(MergeSuggestion.id).where(MergeSuggestion.status == "open"))
        ).scalar_one()
    rejected = await admin(world, "suggestions", "reject", str(eve_sid))
    assert rejected.ok
    assert "No merge suggestions open" in (await admin(world, "suggestions")).text
    wrong = await admin(world, "suggestions", "approve", str(eve_sid))
    assert not wrong.ok and "no open merge suggestion" in wrong.text


async def test_audit_lists_calls_since_a_date(world: World) -> None:
    await world.run(command(ALICE_D, "whyme"))
    await admin(world, "segments")
    world.clock.advance(timedelta(days=3))
    await admin(world, "member", "#1")
    reply = await admin(world, "audit", "--since", "2026-11-27")
    assert reply.ok
    assert "admin member #1" in reply.text and "whyme" not in reply.text
    everything = await admin(world, "audit")
    assert "whyme" in everything.text and "admin segments" in everything.text
    bad = await admin(world, "audit", "--since", "last tuesday")
    assert not bad.ok and "--since takes a date" in bad.text
    unknown = await admin(world, "audit", "--sinse", "2026-11-01")
    assert not unknown.ok and "unknown option '--sinse'" in unknown.text


async def test_optout_and_forget_on_someones_behalf(world: World) -> None:
    alice, bob = await ids(world)
    row = await world.outbox_row(bob)
    reply = await admin(world, "optout", f"slack:{BOB_SLACK}")
    assert reply.ok and "1 waiting message(s) cancelled" in reply.text
    async with world.store.connection() as conn:
        status = (await conn.execute(select(OutboxMessage.status).where(OutboxMessage.id == row))).scalar()
        source = (await conn.execute(select(Consent.source).where(Consent.member_id == bob))).scalar()
    assert status == "cancelled" and source == f"manager discord:{BOSS.external_id}"
    dry = await admin(world, "forget", ALICE_MAIL)
    assert dry.ok and "--confirm" in dry.text and await world.member("mail", ALICE_MAIL) == alice
    done = await admin(world, "forget", ALICE_MAIL, "--confirm")
    assert done.ok and "erased" in done.text
    assert await world.member("mail", ALICE_MAIL) is None
    last = (await world.audit())[-1]
    assert (last.command, last.outcome) == ("admin forget", "ok")
    assert ALICE_MAIL not in str(last.args)  # the line about an erasure does not name the person


def test_cli_runs_managers_commands_as_the_local_user_and_audits(db_url: str) -> None:
    # A plain (not async) test: the CLI runs its own event loop, as from a terminal.
    runner = CliRunner()
    result = runner.invoke(admin_app, ["segments", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "Segments (members):" in result.output
    result = runner.invoke(admin_app, ["audit", "--limit", "5", "--db", db_url])
    assert result.exit_code == 0 and "cli:" in result.output and "admin segments" in result.output
    result = runner.invoke(admin_app, ["member", "#424242", "--db", db_url])
    assert result.exit_code == 1 and "no member matches" in result.output

    async def identities() -> int:
        store = await open_store(db_url)
        try:
            async with store.connection() as conn:
                return int((await conn.execute(select(func.count()).select_from(Identity))).scalar() or 0)
        finally:
            await store.close()

    assert asyncio.run(identities()) == 0  # the CLI does not become a member


def test_argument_helpers() -> None:
    assert split_arguments(['set "Ada Lovelace" skill technical']) == (
        "set",
        "Ada Lovelace",
        "skill",
        "technical",
    )
    assert split_arguments(["Ada Lovelace"]) == ("Ada", "Lovelace")
    assert split_arguments(["set", "Ada Lovelace"]) == ("set", "Ada Lovelace")  # already split: kept
    assert parse_command_line("/admin  segments") == ("admin", ("segments",))
    assert options(["a", "--since", "x", "--confirm"], flags=["confirm"], values=["since"]) == (
        ["a"],
        {"since": "x", "confirm": True},
    )
    with pytest.raises(BadArgument):
        options(["--since"], values=["since"])
    with pytest.raises(BadArgument):
        parse_command_line("   ")


def test_registry_refuses_duplicates_and_bad_names() -> None:
    async def handler(ctx: object) -> CommandReply:
        return CommandReply("x")

    reg = Registry()
    reg.add(CommandSpec("optout", "s", "optout", False, handler))  # type: ignore[arg-type]
    reg.add(CommandSpec("optout", "s", "optout MEMBER", True, handler))  # type: ignore[arg-type]
    for bad in (
        CommandSpec("optout", "s", "u", False, handler),  # type: ignore[arg-type]
        CommandSpec("Seg ments", "s", "u", True, handler),  # type: ignore[arg-type]
        CommandSpec("help", "s", "u", False, handler),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError):
            reg.add(bad)
    assert reg.names(manager=False) == ["optout"] and reg.names(manager=True) == ["optout"]
