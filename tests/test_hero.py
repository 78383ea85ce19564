"""Community Hero's loop at the store level: question, answer, one check, one point on yes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from programme_world import T0, actor, count, member_id, message, reaction, set_segments
from sqlalchemy import insert, select, update

from bot.core.errors import BadArgument
from bot.core.events import Event, event_uid
from bot.store import Store
from bot.store.ingest import Ingestor
from bot.store.live_models import Consent, OutboxMessage, ProgrammePoints, SolutionCheck
from messages.hero import Hero
from messages.programmes import load_catalogue

ASKER, HELPER = actor("asker"), actor("helper")
QUESTION = message(ASKER, "How do I install the sync client on my laptop?", channel="help")


@pytest.fixture
def hero() -> Hero:
    return Hero(load_catalogue(), community="Funambol")


async def _feed(store: Store, hero: Hero, events: list[Event], *, minutes: int = 0) -> object:
    at = T0 + timedelta(minutes=minutes)
    async with store.connection() as conn:
        await Ingestor(now=at).ingest(conn, events)
        return await hero.on_messages(conn, events, now=at)


async def _points(store: Store) -> list[tuple[int, int, str]]:
    async with store.connection() as conn:
        rows = await conn.execute(
            select(ProgrammePoints.member_id, ProgrammePoints.points, ProgrammePoints.programme)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _check(store: Store) -> tuple[str, str, int]:
    async with store.connection() as conn:
        row = (
            await conn.execute(
                select(SolutionCheck.token, SolutionCheck.status, SolutionCheck.helper_member_id)
            )
        ).one()
        return row.token, row.status, row.helper_member_id


async def test_answer_enqueues_one_check_and_yes_credits_the_helper_once(store: Store, hero: Hero) -> None:
    await _feed(store, hero, [QUESTION])
    answer = message(
        HELPER, "Download it from the site and run the installer.", channel="help", reply_to=QUESTION.uid
    )
    await _feed(store, hero, [answer], minutes=5)
    # A second answer and a replay of the first start nothing new.
    second = message(actor("third"), "Or use the package manager.", channel="help", reply_to=QUESTION.uid)
    await _feed(store, hero, [second, answer], minutes=6)
    async with store.connection() as conn:
        out = (await conn.execute(select(OutboxMessage))).one()
        helper_id = await member_id(conn, HELPER)
        asker_id = await member_id(conn, ASKER)
    assert out.dedupe_key == f"solved?:{QUESTION.uid}"
    assert out.member_id == asker_id and out.recipient["user_id"] == "id-asker" and out.kind == "dm"
    assert [b["action"] for b in out.body["buttons"]] == ["solved", "not-solved"]
    assert out.not_before == T0 + timedelta(minutes=65)  # an hour to try the answer first
    assert "helper" in out.body["text"]
    token, status, helper = await _check(store)
    assert (status, helper) == ("asked", helper_id)
    async with store.connection() as conn:
        first = await hero.on_confirmation(conn, token, True, at=T0 + timedelta(hours=2))
        again = await hero.on_confirmation(conn, token, True, at=T0 + timedelta(hours=3))
    assert (first.status, first.credited) == ("solved", True)
    assert (again.status, again.credited) == ("solved", False)
    assert await _points(store) == [(helper_id, 1, "community-hero")]


async def test_not_solved_then_solved_still_credits_once(store: Store, hero: Hero) -> None:
    await _feed(store, hero, [QUESTION, message(HELPER, "Try reinstalling.", reply_to=QUESTION.uid)])
    token, _, _ = await _check(store)
    async with store.connection() as conn:
        no = await hero.on_confirmation(conn, token, False, at=T0)
        assert (no.status, no.credited) == ("unsolved", False)
        yes = await hero.on_confirmation(conn, token, True, at=T0)
        assert (yes.status, yes.credited) == ("solved", True)
        with pytest.raises(BadArgument):
            await hero.on_confirmation(conn, "no-such-token", True, at=T0)
    assert len(await _points(store)) == 1


async def test_asker_reaction_on_the_answer_confirms_and_cancels_the_pending_check(
    store: Store, hero: Hero
) -> None:
    answer = message(HELPER, "Use the installer from the downloads page.", reply_to=QUESTION.uid)
    await _feed(store, hero, [QUESTION, answer])
    # Someone else's ✅ counts for nothing; the asker's does.
    await _feed(store, hero, [reaction(actor("third"), answer.uid)], minutes=1)
    assert await _points(store) == []
    await _feed(store, hero, [reaction(ASKER, answer.uid)], minutes=2)
    _, status, _ = await _check(store)
    assert status == "solved"
    assert len(await _points(store)) == 1
    async with store.connection() as conn:
        out = (await conn.execute(select(OutboxMessage.status))).scalar()
    assert out == "cancelled"


async def test_keyword_reply_carrying_the_token_confirms(store: Store, hero: Hero) -> None:
    await _feed(store, hero, [QUESTION, message(HELPER, "Run the installer.", reply_to=QUESTION.uid)])
    token, _, _ = await _check(store)
    # A reply to the check by mail quotes it, token and all.
    dm = message(ASKER, f"Yes, solved! thanks\n> ref {token}", channel="dm")
    await _feed(store, hero, [dm], minutes=90)
    assert (await _check(store))[1] == "solved"
    assert len(await _points(store)) == 1


async def test_reply_to_the_sent_check_message_confirms(store: Store, hero: Hero) -> None:
    await _feed(store, hero, [QUESTION, message(HELPER, "Run the installer.", reply_to=QUESTION.uid)])
    async with store.connection() as conn:
        await conn.execute(update(OutboxMessage).values(status="sent", receipt={"native_id": "dm-77"}))
    reply = message(ASKER, "no, still broken", channel="dm", reply_to=event_uid("discord", "dm-77"))
    await _feed(store, hero, [reply], minutes=90)
    assert (await _check(store))[1] == "unsolved"
    assert await _points(store) == []


async def test_asker_saying_it_worked_under_the_question_confirms(store: Store, hero: Hero) -> None:
    await _feed(store, hero, [QUESTION, message(HELPER, "Run the installer.", reply_to=QUESTION.uid)])
    await _feed(store, hero, [message(ASKER, "That worked, thank you!", reply_to=QUESTION.uid)], minutes=30)
    assert (await _check(store))[1] == "solved"
    assert len(await _points(store)) == 1


async def test_no_check_for_statements_own_replies_bots_or_opted_out_askers(store: Store, hero: Hero) -> None:
    statement = message(ASKER, "I released version 2 today.")
    await _feed(store, hero, [statement, message(HELPER, "Congratulations.", reply_to=statement.uid)])
    own = message(ASKER, "Is there a way to export contacts?")
    await _feed(store, hero, [own, message(ASKER, "Found a menu entry, trying.", reply_to=own.uid)])
    bot = actor("ci", is_bot=True)
    bot_q = message(bot, "Can anyone review build 12?")
    await _feed(store, hero, [bot_q, message(HELPER, "Looks fine.", reply_to=bot_q.uid)])
    shy = actor("shy")
    shy_q = message(shy, "How can I change the sync interval?")
    await _feed(store, hero, [shy_q])
    async with store.connection() as conn:
        await conn.execute(
            insert(Consent).values(
                member_id=await member_id(conn, shy),
                scope="programme:community-hero",
                state="out",
                source="t",
                at=T0,
            )
        )
    await _feed(store, hero, [message(HELPER, "Settings, then Sync.", reply_to=shy_q.uid)])
    async with store.connection() as conn:
        assert await count(conn, SolutionCheck.__table__) == 0
        assert await count(conn, OutboxMessage.__table__) == 0


async def test_mail_question_gets_a_mail_check_in_the_thread(store: Store, hero: Hero) -> None:
    asker = actor("mia", platform="mail")
    q = message(asker, "How do I configure the server for LDAP?", subject="LDAP setup")
    await _feed(
        store,
        hero,
        [q, message(actor("hal", platform="mail"), "Set ldap.url in the config.", reply_to=q.uid)],
    )
    async with store.connection() as conn:
        out = (await conn.execute(select(OutboxMessage))).one()
    assert out.kind == "email" and out.recipient["email"] == "mia@example.org"
    assert out.body["subject"] == "Re: LDAP setup" and out.body["reply_to_native"] == q.native_id
    assert 'reply with "solved"' in out.body["text"]


async def test_check_waits_for_the_end_of_the_askers_quiet_hours(store: Store, hero: Hero) -> None:
    late = T0.replace(hour=22)  # 23:00 for an asker in UTC+1
    question = message(ASKER, "How do I reset my password?", at=late)
    async with store.connection() as conn:
        await Ingestor(now=late).ingest(conn, [question])
        await set_segments(conn, await member_id(conn, ASKER), segments=(), dims={}, tz=60)
    answer = message(HELPER, "Use the 'forgot password' link.", reply_to=question.uid, at=late)
    async with store.connection() as conn:
        await Ingestor(now=late).ingest(conn, [answer])
        await hero.on_messages(conn, [answer], now=late)
        not_before = (await conn.execute(select(OutboxMessage.not_before))).scalar()
    assert not_before == late.replace(hour=7) + timedelta(days=1)  # 08:00 local


async def test_a_short_dm_to_the_bot_answers_the_latest_sent_check(store: Store, hero: Hero) -> None:
    await _feed(store, hero, [QUESTION, message(HELPER, "Run the installer.", reply_to=QUESTION.uid)])
    # Before the check went out, and in public, "solved" means nothing to the loop.
    await _feed(store, hero, [message(ASKER, "solved", channel="DM")], minutes=10)
    await _feed(store, hero, [message(ASKER, "yes solved", channel="general")], minutes=70)
    assert (await _check(store))[1] == "asked"
    async with store.connection() as conn:
        await conn.execute(update(OutboxMessage).values(status="sent", sent_at=T0 + timedelta(minutes=65)))
    await _feed(store, hero, [message(ASKER, "Solved, thank you!", channel="DM")], minutes=80)
    assert (await _check(store))[1] == "solved"
    assert len(await _points(store)) == 1


async def test_thanks_that_worked_in_reply_to_an_answer_credits_that_answer(store: Store, hero: Hero) -> None:
    first = message(HELPER, "Upgrading to 2.1 fixed it for me.", reply_to=QUESTION.uid)  # says "fixed it"
    other = actor("other")
    second = message(other, "Use the installer from the site.", reply_to=QUESTION.uid)
    await _feed(store, hero, [QUESTION, first, second])
    assert (await _check(store))[1] == "asked"  # the first answer started the check, whatever it said
    await _feed(store, hero, [message(ASKER, "Thanks, that worked!", reply_to=second.uid)], minutes=20)
    async with store.connection() as conn:
        other_id = await member_id(conn, other)
    _, status, helper = await _check(store)
    assert (status, helper) == ("solved", other_id)
    assert await _points(store) == [(other_id, 1, "community-hero")]


async def test_one_batch_asks_each_answered_question_once_and_a_yes_in_it_cancels_its_check(
    store: Store, hero: Hero
) -> None:
    other = actor("other-asker")
    q2 = message(other, "Where do I change my password?", channel="help")
    first = message(HELPER, "Run the installer.", at=T0 + timedelta(seconds=1), reply_to=QUESTION.uid)
    second = message(actor("third"), "Or the package.", at=T0 + timedelta(seconds=2), reply_to=QUESTION.uid)
    answer2 = message(HELPER, "Under Settings > Account.", at=T0 + timedelta(seconds=3), reply_to=q2.uid)
    yes = reaction(ASKER, first.uid, at=T0 + timedelta(seconds=4))
    result = await _feed(store, hero, [QUESTION, q2, yes, answer2, second, first])
    assert result.checks_enqueued == [QUESTION.uid, q2.uid]  # type: ignore[attr-defined]
    async with store.connection() as conn:
        helper_id = await member_id(conn, HELPER)
        checks = dict((await conn.execute(select(SolutionCheck.question_uid, SolutionCheck.status))).all())
        sent = dict((await conn.execute(select(OutboxMessage.dedupe_key, OutboxMessage.status))).all())
    # The ✅ came after the check was decided: it is answered, and its message need not leave.
    assert checks == {QUESTION.uid: "solved", q2.uid: "asked"}
    assert sent == {f"solved?:{QUESTION.uid}": "cancelled", f"solved?:{q2.uid}": "pending"}
    assert await _points(store) == [(helper_id, 1, "community-hero")]
