"""Erasure from every table, hashes that keep erased people out of imports, and the full export."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from admin_world import (
    ALICE_D,
    ALICE_DISCORD,
    ALICE_M,
    ALICE_MAIL,
    BOB,
    BOB_SLACK,
    GENERAL,
    LIST,
    T0,
    World,
    command,
    community,
    make_world,
    post,
    token_in,
)
from sqlalchemy import insert, select

from adapters.imports.mbox import MboxSource
from bot.core.events import ActorRef
from bot.importing import import_sources
from bot.store import Store
from bot.store.ingest import ERASED_PERSON, Ingestor
from bot.store.live_models import (
    Consent,
    DigestRun,
    Erasure,
    Invitation,
    MemberMerge,
    MergeSuggestion,
    OutboxMessage,
    PendingConfirmation,
    ProgrammePoints,
    SolutionCheck,
)
from bot.store.models import Base, Identity, MemberFeatureRow, SegmentAssignment
from bot.store.privacy import COVERAGE, consents, export_member, is_opted_out, set_consent

ALICE_MARKS = (ALICE_DISCORD, ALICE_MAIL, "Alice Liddell", "alice_l")


@pytest.fixture
async def world(store: Store) -> World:
    return await make_world(store)


async def alice_everywhere(world: World) -> tuple[int, int]:
    """Give Alice a row in every table that can name a member; returns (alice, bob)."""
    alice = await world.member("discord", ALICE_DISCORD)
    bob = await world.member("slack", BOB_SLACK)
    assert alice is not None and bob is not None
    assert await world.member("mail", ALICE_MAIL) == alice  # one person, two accounts
    carol = ActorRef("slack", "U0CAROL", display_name="Carol")
    await world.ingest([post(carol, GENERAL, "hi")])
    carol_id = await world.member("slack", "U0CAROL")
    assert carol_id is not None
    await world.outbox_row(alice, programme="bug-hunt", status="sent")
    await world.outbox_row(alice)
    await world.outbox_row(None, recipient={"email": ALICE_MAIL}, platform="mail", kind="email")
    await world.assign(alice, "skill", "developer", "posts patches")
    await world.run(command(ALICE_D, "whyme"))  # an audit row she made
    await world.run(command(BOB, "whyme"))
    async with world.store.connection() as conn:
        await set_consent(conn, alice, "programme:bug-hunt", "out", source="test", at=T0)
        await conn.execute(
            insert(Invitation).values(
                member_id=alice, programme="bug-hunt", segment="developers", status="sent", token="tok-a",
                platform="discord", reason={"rule": "eligible"}, planned_at=T0, sent_at=T0,
            )
        )  # fmt: skip
        await conn.execute(
            insert(ProgrammePoints).values(
                member_id=alice, programme="bug-hunt", points=3, reason="fix", source_uid="s1", at=T0
            )
        )
        await conn.execute(
            insert(SolutionCheck).values(
                question_uid="q1", asker_member_id=bob, helper_member_id=alice, answer_uid="a1",
                token="tok-s", status="asked", asked_at=T0,
            )
        )  # fmt: skip
        await conn.execute(
            insert(MemberFeatureRow).values(
                member_id=alice, features={"messages": 2}, segments=["developers"], classified_at=T0
            )
        )
        # Alice is also a manager: she pinned one of Bob's values, opted him out of the digest,
        # chose him for a programme; and the digest that went to Bob names her.
        await set_consent(conn, bob, "digest", "out", source=f"manager discord:{ALICE_DISCORD}", at=T0)
        await conn.execute(
            insert(Invitation).values(
                member_id=bob, programme="champions", segment="champions", status="sent", token="tok-b",
                platform="slack", reason={"rule": "campaign", "decided_by": f"discord:{ALICE_DISCORD}"},
                decided_by=f"discord:{ALICE_DISCORD}", planned_at=T0,
            )
        )  # fmt: skip
        await conn.execute(
            insert(OutboxMessage).values(
                dedupe_key="digest:w48:bob", member_id=bob, platform="slack", kind="dm",
                recipient={"user_id": BOB_SLACK},
                body={"text": "New champion this week: Alice Liddell (alice_l)."},
                template="digest", lane="broadcast", destination="slack:dm", status="sent", not_before=T0,
                deliver_until=T0, created_at=T0,
            )
        )  # fmt: skip
        # Alice is also a manager who pinned one of Bob's values.
        pin = {
            "value": "technical",
            "confidence": 1.0,
            "evidence": [],
            "pinned_by": f"discord:{ALICE_DISCORD}",
        }
        await conn.execute(
            insert(SegmentAssignment).values(
                member_id=bob, dimension="skill", value="technical", confidence=1.0, evidence=pin,
                ruleset_version="t", decided_at=T0, updated_at=T0, pinned_by=pin["pinned_by"], current=True,
            )
        )  # fmt: skip
        await conn.execute(
            insert(MemberFeatureRow).values(
                member_id=bob, features={}, segments=[], decisions={"skill": pin}, classified_at=T0
            )
        )
        await conn.execute(
            insert(MergeSuggestion).values(
                member_a=alice, member_b=carol_id, reason="same name", status="open", created_at=T0
            )
        )
        await conn.execute(
            insert(MemberMerge).values(
                kept_member_id=bob, merged_member_id=alice + 1000, merged_display_name="x",
                identity_ids=[], by=f"discord:{ALICE_DISCORD}", at=T0, undone_at=None,
            )
        )  # fmt: skip
        await conn.execute(
            insert(PendingConfirmation).values(
                token="h" * 64, actor=f"mail:{ALICE_MAIL}", platform="mail", command="segments", args=[],
                created_at=T0, expires_at=T0, used_at=None,
            )
        )  # fmt: skip
        await conn.execute(
            insert(DigestRun).values(
                period_key="2026-W48", status="sent", holder="x", started_at=T0, finished_at=T0,
                content={
                    "champions": [{"member_id": alice, "display_name": "Alice Liddell"}, {"member_id": bob}],
                    "top_helper": "Alice Liddell",
                },
            )
        )  # fmt: skip
    return alice, bob


async def scan(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as text-searchable dicts."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with store.connection() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = [dict(r._mapping) for r in await conn.execute(select(table))]
    return out


def member_columns(table_name: str) -> list[str]:
    table = Base.metadata.tables[table_name]
    cols = [c.name for c in table.columns if any(fk.column.table.name == "member" for fk in c.foreign_keys)]
    if table_name == "member":
        cols.append("id")
    if table_name == "member_merge":
        cols.append("merged_member_id")
    return cols


async def test_forgetme_erases_from_every_table(world: World) -> None:
    alice, bob = await alice_everywhere(world)
    before = await scan(world.store)
    assert any(ALICE_MAIL in json.dumps(r, default=str) for r in before["outbox"])
    asked = await world.run(command(ALICE_D, "forgetme"))
    assert "forgetme confirm" in asked.text and await world.member("discord", ALICE_DISCORD) == alice
    reply = await world.run(command(ALICE_D, "forgetme", "confirm"))
    assert reply.ok, reply.text
    after = await scan(world.store)
    for name, rows in after.items():
        cols = member_columns(name)
        for row in rows:
            text = json.dumps(row, default=str)
            for mark in ALICE_MARKS:
                assert mark not in text, (name, mark, row)
            for col in cols:
                assert row[col] != alice, (name, col, row)
    assert await world.member("slack", BOB_SLACK) == bob  # nobody else is touched
    assert {r["member_id"] for r in after["identity"]} >= {bob}
    hashes = {r["identity_hash"] for r in after["erasure"]}
    assert hashlib.sha256(f"discord:{ALICE_DISCORD}".encode()).hexdigest() in hashes
    assert hashlib.sha256(ALICE_MAIL.encode()).hexdigest() in hashes
    # The audit line about the erasure does not name her either, and the digest kept Bob.
    assert after["audit_log"][-1]["actor"] == "[erased]"
    digest = after["digest_run"][0]["content"]
    assert digest["champions"][1] == {"member_id": bob}
    bodies = [r["body"]["text"] for r in after["outbox"] if r["member_id"] == bob]
    assert "New champion this week: [erased] ([erased])." in bodies


async def test_erased_people_are_not_brought_back_by_events(world: World) -> None:
    await alice_everywhere(world)
    await world.run(command(ALICE_D, "forgetme", "confirm"))
    assert await world.member("mail", ALICE_MAIL) is None
    # The same events again, through the long-lived ingestor and a fresh one, and a new account
    # that carries her address on another platform.
    newcomer = ActorRef("slack", "U0ALICE", display_name="A.", email=ALICE_MAIL.upper())
    for ingestor in (world.ingestor, Ingestor(now=T0)):
        async with world.store.connection() as conn:
            result = await ingestor.ingest(conn, [*community(), post(newcomer, LIST, "back again")])
        assert result.skipped == {ERASED_PERSON: 3}
    assert await world.member("discord", ALICE_DISCORD) is None
    assert await world.member("mail", ALICE_MAIL) is None
    assert await world.member("slack", "U0ALICE") is None
    assert await world.member("slack", BOB_SLACK) is not None
    # Her command after erasure does not re-create her either.
    await world.run(command(ALICE_D, "whyme"))
    assert await world.member("discord", ALICE_DISCORD) is None


def _mbox(path: Path) -> None:
    def msg(n: int, sender: str, name: str) -> str:
        return (
            f"From {sender} Mon Nov 23 10:0{n}:00 2026\n"
            f"From: {name} <{sender}>\nTo: dev@lists.example\nSubject: topic {n}\n"
            f"Date: Mon, 23 Nov 2026 10:0{n}:00 +0000\nMessage-ID: <m{n}@example>\n\n"
            f"Message number {n} with some words.\n\n"
        )

    path.write_text(
        msg(1, ALICE_MAIL, "Alice Liddell")
        + msg(2, "dan@example.net", "Dan")
        + msg(3, ALICE_MAIL, "Alice Liddell")
    )


async def test_reimporting_the_same_mbox_does_not_bring_them_back(store: Store, tmp_path: Path) -> None:
    box = tmp_path / "dev.mbox"
    _mbox(box)
    first = await import_sources(store, [MboxSource(box)])
    assert first.imported == 3
    world = await make_world(store)
    alice = await world.member("mail", ALICE_MAIL)
    assert alice is not None
    # By e-mail, erasure waits for the token sent back to the address.
    held = await world.run(command(ALICE_M, "forgetme", "confirm"))
    assert held.ok and await world.member("mail", ALICE_MAIL) == alice
    reply = await world.run(command(ALICE_M, "confirm", token_in(held)))
    assert reply.ok and "erased" in reply.text
    again = await import_sources(store, [MboxSource(box)], rescan=True)
    assert again.imported == 0
    assert await world.member("mail", ALICE_MAIL) is None
    async with store.connection() as conn:
        emails = set((await conn.execute(select(Identity.email))).scalars())
    assert ALICE_MAIL not in emails and "dan@example.net" in emails


async def test_a_forged_mail_cannot_erase_someone(world: World) -> None:
    alice = await world.member("mail", ALICE_MAIL)
    forged = await world.run(command(ALICE_M, "forgetme", "confirm"))  # anyone can write this From:
    assert forged.ok and "confirm " in forged.text
    assert await world.member("mail", ALICE_MAIL) == alice
    # The token went to Alice's mailbox; the forger does not have it and guesses.
    guess = await world.run(command(ALICE_M, "confirm", "not-the-token"))
    assert not guess.ok
    assert await world.member("mail", ALICE_MAIL) == alice
    assert [r.outcome for r in await world.audit()][-2:] == ["pending", "refused"]


def test_every_table_has_an_erasure_decision() -> None:
    assert set(Base.metadata.tables) - set(COVERAGE) == set()


async def test_export_holds_everything_about_them(world: World) -> None:
    alice, _ = await alice_everywhere(world)
    async with world.store.connection() as conn:
        data = await export_member(conn, alice)
    text = json.dumps(data)
    assert {i["external_id"] for i in data["identity"]} == {ALICE_DISCORD, ALICE_MAIL}
    assert any("segfault" in a["own_text"] for a in data["activity"])
    assert [c["scope"] for c in data["consent"]] == ["programme:bug-hunt"]
    assert data["invitation"][0]["programme"] == "bug-hunt"
    assert data["programme_points"][0]["points"] == 3
    assert len(data["outbox"]) == 3  # two by member id, one addressed to her mail
    assert data["solution_check"][0]["helper_member_id"] == alice
    assert data["segment_assignment"][0]["evidence"]["evidence"][0]["says"] == "posts patches"
    assert any(r["command"] == "whyme" for r in data["audit_log"])
    assert "h" * 64 not in text  # a held command's token hash is not handed out
    assert "Bob Builder" not in text


async def test_consent_upserts_and_the_newest_word_wins(world: World) -> None:
    alice = await world.member("discord", ALICE_DISCORD)
    assert alice is not None
    async with world.store.connection() as conn:
        await set_consent(conn, alice, "all", "out", source="t", at=T0)
        assert await is_opted_out(conn, alice, "programme:bug-hunt")
        assert not await is_opted_out(conn, alice, None)  # replies to her own commands still go
        await set_consent(conn, alice, "all", "in", source="t", at=T0)
        assert not await is_opted_out(conn, alice, "digest")
        assert await consents(conn, alice) == {"all": "in"}
        assert len((await conn.execute(select(Consent))).all()) == 1
        with pytest.raises(ValueError):
            await set_consent(conn, alice, "everything", "out", source="t", at=T0)


async def test_erasure_rows_hold_only_hashes(world: World) -> None:
    await world.run(command(ALICE_D, "forgetme", "confirm"))
    async with world.store.connection() as conn:
        rows = list((await conn.execute(select(Erasure.identity_hash))).scalars())
    assert rows and all(len(h) == 64 and int(h, 16) >= 0 for h in rows)
