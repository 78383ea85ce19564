"""Members' own commands through the command core: optout/optin, whyme, mydata, forgetme, programmes."""

from __future__ import annotations

import json

import pytest
from admin_world import ALICE_D, ALICE_DISCORD, ALICE_M, BOB, T0, World, command, make_world
from sqlalchemy import insert, select

from bot.core.events import ActorRef
from bot.store import Store
from bot.store.live_models import Consent, Invitation, OutboxMessage
from messages.programmes import load_catalogue


@pytest.fixture
async def world(store: Store) -> World:
    return await make_world(store, catalogue=load_catalogue())


async def alice(world: World) -> int:
    found = await world.member("discord", ALICE_DISCORD)
    assert found is not None
    return found


async def statuses(world: World) -> dict[int, str]:
    async with world.store.connection() as conn:
        return {i: s for i, s in await conn.execute(select(OutboxMessage.id, OutboxMessage.status))}


async def test_optout_all_leaves_nothing_pending_for_them(world: World) -> None:
    me = await alice(world)
    bob = await world.member("slack", "U0BOB42")
    welcome = await world.outbox_row(me)
    invite = await world.outbox_row(me, programme="bug-hunt")
    sent = await world.outbox_row(me, programme="champions", status="sent")
    reply_to_her = await world.outbox_row(me, body={"text": "your data", "consent_scope": None})
    bobs = await world.outbox_row(bob)
    reply = await world.run(command(ALICE_M, "optout"))  # from her other account: the same person
    assert reply.ok and "2 waiting message(s) cancelled" in reply.text
    after = await statuses(world)
    assert after[welcome] == after[invite] == "cancelled"
    assert after[sent] == "sent" and after[reply_to_her] == "pending" and after[bobs] == "pending"
    async with world.store.connection() as conn:
        pending_for_her = (
            await conn.execute(
                select(OutboxMessage.id).where(
                    OutboxMessage.member_id == me,
                    OutboxMessage.status == "pending",
                    OutboxMessage.id != reply_to_her,
                )
            )
        ).all()
        scopes = {(c.scope, c.state) for c in await conn.execute(select(Consent))}
    assert pending_for_her == []
    assert scopes == {("all", "out")}


async def test_optout_of_one_programme_and_optin_again(world: World) -> None:
    me = await alice(world)
    welcome = await world.outbox_row(me)
    invite = await world.outbox_row(me, programme="bug-hunt")
    reply = await world.run(command(ALICE_D, "optout", "bug-hunt"))
    assert reply.ok and "bug-hunt" in reply.text
    after = await statuses(world)
    assert after[invite] == "cancelled" and after[welcome] == "pending"
    wrong = await world.run(command(ALICE_D, "optout", "bug-hnt"))
    assert not wrong.ok and "there is no programme 'bug-hnt'" in wrong.text and "bug-hunt" in wrong.text
    await world.run(command(ALICE_D, "optout", "all"))
    await world.run(command(ALICE_D, "optin", "all"))
    async with world.store.connection() as conn:
        states = {c.scope: c.state for c in await conn.execute(select(Consent))}
    assert states == {"all": "in", "programme:bug-hunt": "in"}
    too_many = await world.run(command(ALICE_D, "optout", "bug-hunt", "champions"))
    assert not too_many.ok and "usage: optout" in too_many.text


async def test_whyme_explains_the_last_message_with_rule_and_evidence(world: World) -> None:
    me = await alice(world)
    await world.outbox_row(me, programme="bug-hunt", status="sent", template="bug_hunt_invite")
    async with world.store.connection() as conn:
        await conn.execute(
            insert(Invitation).values(
                member_id=me, programme="bug-hunt", segment="developers", status="sent", token="t1",
                platform="discord", planned_at=T0, sent_at=T0,
                reason={
                    "rule": "eligible", "detail": "in segment developers", "target": "developers",
                    "segment": "developers",
                    "dimensions": {"skill": {"value": "developer", "confidence": 0.9}},
                    "evidence": {"skill": ["sends patches (3 messages with diffs)"]}, "decided_by": "policy",
                },
            )
        )  # fmt: skip
    reply = await world.run(command(ALICE_D, "whyme"))
    assert reply.ok
    for expected in (
        "bug-hunt",
        "bug_hunt_invite",
        "Rule: eligible",
        "developers",
        "sends patches (3 messages",
    ):
        assert expected in reply.text, (expected, reply.text)


async def test_whyme_without_messages_shows_current_dimensions_with_evidence(world: World) -> None:
    me = await alice(world)
    await world.assign(me, "skill", "developer", "writes about segfaults and patches")
    reply = await world.run(command(ALICE_D, "whyme"))
    assert "not sent you any message" in reply.text
    assert "skill: developer" in reply.text and "+ writes about segfaults and patches" in reply.text


async def test_mydata_attaches_their_data_as_json(world: World) -> None:
    me = await alice(world)
    await world.run(command(ALICE_D, "optout", "digest"))
    reply = await world.run(command(ALICE_D, "mydata"))
    assert reply.ok and reply.attachment is not None
    name, body = reply.attachment
    assert name == f"cohortbot-mydata-{me}.json"
    data = json.loads(body)
    assert data["member"]["id"] == me
    assert {i["platform"] for i in data["identity"]} == {"discord", "mail"}
    assert [c["scope"] for c in data["consent"]] == ["digest"]
    assert any("segfault" in a["own_text"] for a in data["activity"])
    assert "Bob Builder" not in body.decode()


async def test_forgetme_asks_first(world: World) -> None:
    me = await alice(world)
    reply = await world.run(command(ALICE_D, "forgetme"))
    assert reply.ok and "forgetme confirm" in reply.text
    assert await world.member("discord", ALICE_DISCORD) == me
    wrong = await world.run(command(ALICE_D, "forgetme", "yes"))
    assert not wrong.ok and await world.member("discord", ALICE_DISCORD) == me
    done = await world.run(command(ALICE_D, "forgetme", "confirm"))
    assert done.ok and "erased" in done.text
    assert await world.member("discord", ALICE_DISCORD) is None


async def test_programmes_says_what_is_for_them(world: World) -> None:
    me = await alice(world)
    await world.assign(me, "skill", "developer", "patches")
    async with world.store.connection() as conn:
        from bot.store.models import MemberFeatureRow

        await conn.execute(
            insert(MemberFeatureRow).values(
                member_id=me, features={}, segments=["developers"], classified_at=T0
            )
        )
    await world.run(command(ALICE_D, "optout", "code-sniper"))
    reply = await world.run(command(ALICE_D, "programmes"))
    lines = {line.split(":")[0].strip(): line for line in reply.text.splitlines()}
    assert "for people like you" in lines["bug-hunt"]
    assert "not aimed at you" in lines["device-testing"]
    assert "you opted out" in lines["code-sniper"]
    bob = await world.run(command(BOB, "programmes"))
    assert "bug-hunt" in bob.text


async def test_someone_we_do_not_know_gets_a_plain_answer(world: World) -> None:
    stranger = ActorRef("discord", "123456789", display_name="New")
    for name in ("optout", "whyme", "mydata", "forgetme"):
        # Straight to the core, without the pipeline storing the account first.
        reply = await world.core.dispatch(command(stranger, name))
        assert reply.ok and "no data about this account" in reply.text, (name, reply.text)
