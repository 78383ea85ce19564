"""The Discord adapter with the real discord.py client against a fake Discord on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from discord_helpers import RecordingSink, running
from fakes.discord_server import APP_ID, BOT_ID, GENERAL_ID, GUILD_ID, MANAGER_ROLE, MEMBER_ROLE, FakeDiscord

from adapters.discord.uids import interaction_uid
from adapters.imports.discord_translate import message_uid
from bot.core.events import ActionClicked, CommandInvoked, MessagePosted
from bot.core.outbound import Button, CommandReply, OutboundMessage, Recipient

ALICE = "920000000000000001"
BOB = "920000000000000002"
DM_ID = str(int(ALICE) + 1)  # the fake's DM channel id for a user
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice", roles=(MEMBER_ROLE,), nick="Alice A.")
        yield server


async def test_message_in_reaches_the_sink(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    async with running(fake, sink):
        first = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="How do I mount it?",
                                     at=T0)
        await fake.dispatch("MESSAGE_CREATE", first)
        reply = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="> quoted\nnever mind",
                                     at=T0, reply_to=first["id"])
        await fake.dispatch("MESSAGE_CREATE", reply)
        await sink.wait_for(lambda evs: len([e for e in evs if isinstance(e, MessagePosted)]) == 2)
    posted = {e.native_id: e for e in sink.of(MessagePosted)}
    a = posted[first["id"]]
    assert isinstance(a, MessagePosted)
    assert a.uid == message_uid(first["id"])
    assert a.actor.external_id == ALICE and a.actor.display_name == "Alice A." and a.actor.username == "alice"
    assert a.place.channel_id == GENERAL_ID and a.place.container == "Cohort Guild"
    assert a.place.category == "Community"
    assert a.text.own == "How do I mount it?"
    b = posted[reply["id"]]
    assert isinstance(b, MessagePosted)
    assert b.reply_to == a.uid and b.text.own == "never mind" and b.text.quoted_lines == 1


def _invitation(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "outbox_id": 7, "dedupe_key": "invite:hero:42", "platform": "discord", "kind": "dm",
        "to": Recipient(user_id=ALICE), "text": "Hi @everyone, would you like to join **Hero**?",
        "buttons": (Button("accept", "tok42", "Accept", "primary"),
                    Button("decline", "tok42", "Decline", "danger")),
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


async def test_invitation_out_exact_body(fake: FakeDiscord) -> None:
    message = _invitation()
    async with running(fake, RecordingSink()) as adapter:
        receipt = await adapter.send(message)
    assert [r.body for r in fake.requests_to("POST", "/users/@me/channels")] == [{"recipient_id": int(ALICE)}]
    (post,) = fake.requests_to("POST", f"/channels/{DM_ID}/messages")
    assert post.body == {
        "content": "Hi @everyone, would you like to join **Hero**?",
        "tts": False,
        "allowed_mentions": {"parse": []},
        "nonce": message.idempotency_key,
        "enforce_nonce": True,
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Accept", "custom_id": "cb:accept:tok42", "disabled": False},
            {"type": 2, "style": 4, "label": "Decline", "custom_id": "cb:decline:tok42", "disabled": False},
        ]}],
    }
    assert len(message.idempotency_key) <= 25
    assert receipt.native_id and receipt.delivered_at is not None


async def test_button_click_becomes_action_clicked_with_an_ephemeral_answer(fake: FakeDiscord) -> None:
    sink = RecordingSink(CommandReply(text="Thanks, see you in **Hero**!"))
    clicked = fake.message_payload(channel_id=DM_ID, author_id=BOT_ID, content="Join?", at=T0)
    clicked["components"] = [{"type": 1, "components": [
        {"type": 2, "style": 1, "label": "Accept", "custom_id": "cb:accept:tok42"},
        {"type": 2, "style": 4, "label": "Decline", "custom_id": "cb:decline:tok42"},
    ]}]
    payload = fake.interaction_payload(user_id=ALICE, kind=3, in_dm=True, message=clicked,
                                       data={"custom_id": "cb:accept:tok42", "component_type": 2})
    async with running(fake, sink):
        await fake.dispatch("INTERACTION_CREATE", payload)
        await fake.wait_for_request("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    (event,) = sink.of(ActionClicked)
    assert isinstance(event, ActionClicked)
    assert (event.action, event.value) == ("accept", "tok42")
    assert event.uid == interaction_uid(payload["id"]) and event.actor.external_id == ALICE
    (callback,) = fake.requests_to("POST", f"/interactions/{payload['id']}/")
    assert callback.body == {"type": 5, "data": {"flags": 64}}  # "thinking", only the clicker sees it
    (followup,) = fake.requests_to("POST", f"/webhooks/{APP_ID}/")
    assert followup.body["content"] == "Thanks, see you in **Hero**!"
    assert followup.body["flags"] == 64 and followup.body["allowed_mentions"] == {"parse": []}


async def test_unknown_component_is_ignored(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    other = fake.message_payload(channel_id=GENERAL_ID, author_id=BOT_ID, content="poll", at=T0)
    button = {"type": 2, "style": 1, "label": "x", "custom_id": "poll:1"}
    other["components"] = [{"type": 1, "components": [button]}]
    payload = fake.interaction_payload(user_id=ALICE, kind=3, message=other,
                                       data={"custom_id": "poll:1", "component_type": 2})
    async with running(fake, sink):
        await fake.dispatch("INTERACTION_CREATE", payload)
        marker = fake.message_payload(channel_id=GENERAL_ID, author_id=ALICE, content="after", at=T0)
        await fake.dispatch("MESSAGE_CREATE", marker)
        await sink.wait_for(lambda evs: any(isinstance(e, MessagePosted) for e in evs))
    assert sink.of(ActionClicked) == []
    assert fake.requests_to("POST", "/interactions/") == []


async def test_commands_are_registered_per_guild(fake: FakeDiscord) -> None:
    async with running(fake, RecordingSink()):
        pass
    (put,) = fake.requests_to("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    by_name = {c["name"]: c for c in put.body}
    assert set(by_name) == {"optout", "optin", "whyme", "mydata", "forgetme", "programmes", "cohort-admin"}
    admin = by_name["cohort-admin"]
    assert admin["default_member_permissions"] == 32  # Manage Server: hidden from members
    assert [o["name"] for o in admin["options"]] == ["command"] and admin["options"][0]["required"]
    assert by_name["optout"]["default_member_permissions"] is None
    assert [o["name"] for o in by_name["optout"]["options"]] == ["scope"]


async def test_slash_command_becomes_command_invoked_with_role_ids(fake: FakeDiscord) -> None:
    fake.add_member(BOB, "bob", roles=(MANAGER_ROLE, MEMBER_ROLE))
    sink = RecordingSink(CommandReply(text="3 segments", attachment=("segments.csv", b"a,b\n")))
    payload = fake.interaction_payload(user_id=BOB, data={
        "id": "1", "name": "cohort-admin", "type": 1, "guild_id": GUILD_ID,
        "options": [{"name": "command", "type": 3, "value": 'member "Alice A." --why'}],
    })
    async with running(fake, sink):
        await fake.dispatch("INTERACTION_CREATE", payload)
        await fake.wait_for_request("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    (event,) = sink.of(CommandInvoked)
    assert isinstance(event, CommandInvoked)
    assert event.command == "admin" and event.args == ("member", "Alice A.", "--why")
    assert set(event.roles) == {MANAGER_ROLE, MEMBER_ROLE}  # ids, never names; @everyone left out
    assert event.place.container == GUILD_ID and event.place.channel_id == GENERAL_ID
    assert event.actor.external_id == BOB and event.verified
    (callback,) = fake.requests_to("POST", f"/interactions/{payload['id']}/")
    assert callback.body == {"type": 5, "data": {"flags": 64}}
    (followup,) = fake.requests_to("POST", f"/webhooks/{APP_ID}/")
    assert followup.body["payload_json"]["content"] == "3 segments"
    assert followup.body["payload_json"]["flags"] == 64
    assert followup.body["files"] == {"segments.csv": b"a,b\n"}


async def test_member_command_with_scope(fake: FakeDiscord) -> None:
    sink = RecordingSink()
    payload = fake.interaction_payload(user_id=ALICE, data={
        "id": "2", "name": "optout", "type": 1, "guild_id": GUILD_ID,
        "options": [{"name": "scope", "type": 3, "value": "hero"}],
    })
    async with running(fake, sink):
        await fake.dispatch("INTERACTION_CREATE", payload)
        await fake.wait_for_request("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    (event,) = sink.of(CommandInvoked)
    assert isinstance(event, CommandInvoked)
    assert (event.command, event.args, event.roles) == ("optout", ("hero",), (MEMBER_ROLE,))


async def test_manager_command_from_a_dm_reaches_the_core_with_no_guild(fake: FakeDiscord) -> None:
    sink = RecordingSink(CommandReply(text="Managers' commands work only in the server.", ok=False))
    payload = fake.interaction_payload(user_id=ALICE, in_dm=True, data={
        "id": "1", "name": "cohort-admin", "type": 1,
        "options": [{"name": "command", "type": 3, "value": "segments"}],
    })
    async with running(fake, sink):
        await fake.dispatch("INTERACTION_CREATE", payload)
        await fake.wait_for_request("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    (event,) = sink.of(CommandInvoked)
    assert isinstance(event, CommandInvoked)
    assert (event.command, event.args, event.roles) == ("admin", ("segments",), ())
    assert event.place.container == ""  # the core refuses managers' commands without a guild
    (followup,) = fake.requests_to("POST", f"/webhooks/{APP_ID}/")
    assert followup.body["content"] == "Managers' commands work only in the server."
    assert followup.body["flags"] == 64
