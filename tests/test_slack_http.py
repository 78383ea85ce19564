"""Slack over HTTP: the real slack-bolt app behind our aiohttp route, a fake Web API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.slack_api import FakeSlackApi
from fakes.slack_kit import (
    SIGNING_SECRET,
    TEAM,
    RecordingSink,
    click_body,
    command_body,
    event_body,
    signed_headers,
)

from adapters.imports.slack_translate import SlackDirectory, message_uid, translate_message
from adapters.slack import SlackAdapter, SlackSecrets, SlackSettings
from bot.core.errors import ConfigurationError
from bot.core.events import ActionClicked, CommandInvoked, MessagePosted, PlaceRef, ProfileSeen, ReactionAdded
from bot.core.outbound import CommandReply

SECRETS = SlackSecrets(bot_token="xoxb-test", app_token="", signing_secret=SIGNING_SECRET)
FORM = "application/x-www-form-urlencoded"

ANN = {
    "id": "U1",
    "team_id": TEAM,
    "name": "ann",
    "real_name": "Ann Example",
    "is_bot": False,
    "profile": {
        "display_name": "ann",
        "real_name": "Ann Example",
        "title": "SRE at Example",
        "email": "ann@example.org",
    },
}
MESSAGE = {
    "type": "message",
    "channel": "C1",
    "user": "U1",
    "text": "How do I rotate logs &amp; keep them?",
    "ts": "1700000050.000200",
    "thread_ts": "1700000000.000100",
    "channel_type": "channel",
}


@dataclass
class Http:
    adapter: SlackAdapter
    client: TestClient
    sink: RecordingSink
    api: FakeSlackApi

    async def post(
        self, body: str, *, content_type: str = "application/json", **headers: str
    ) -> tuple[int, str]:
        sent = signed_headers(body, content_type=content_type) | headers
        resp = await self.client.post("/slack/events", data=body.encode(), headers=sent)
        return resp.status, await resp.text()


@pytest.fixture
async def http() -> AsyncIterator[Http]:
    api = await FakeSlackApi().start()
    api.users["U1"] = ANN
    settings = SlackSettings(mode="http", team_id=TEAM, api_base_url=api.api_url)
    adapter = SlackAdapter(settings, secrets=SECRETS, timer=api.timer)
    sink = RecordingSink()
    await adapter.start(sink)
    client = TestClient(TestServer(adapter.aiohttp_app()))
    await client.start_server()
    yield Http(adapter, client, sink, api)
    await client.close()
    await adapter.stop()
    await api.close()


async def test_a_message_reaches_the_sink_with_the_export_importers_uid(http: Http) -> None:
    status, _ = await http.post(event_body(MESSAGE))
    assert status == 200
    await http.adapter.inbox.drain()
    profile, posted = http.sink.events
    assert isinstance(profile, ProfileSeen)
    assert (profile.actor.email, profile.actor.title) == ("ann@example.org", "SRE at Example")
    assert isinstance(posted, MessagePosted)
    assert posted.uid == message_uid("C1", "1700000050.000200")
    assert posted.text.own == "How do I rotate logs & keep them?"
    assert posted.thread == posted.reply_to == message_uid("C1", "1700000000.000100")
    assert posted.place == PlaceRef(platform="slack", channel_id="C1", container=TEAM)
    assert posted.actor.email == "ann@example.org" and not posted.actor.is_bot
    # the same entry read from an export gives the same uid (one stored message for both paths)
    exported = translate_message(
        {k: v for k, v in MESSAGE.items() if k != "channel"},
        place=PlaceRef("slack", "C1"),
        directory=SlackDirectory(users={}),
    )
    assert exported[0].uid == posted.uid
    assert [c.args["user"] for c in http.api.of("users.info")] == ["U1"]


async def test_a_reaction_and_a_bot_message(http: Http) -> None:
    reaction = {
        "type": "reaction_added",
        "user": "U1",
        "reaction": "thumbsup",
        "item_user": "U2",
        "item": {"type": "message", "channel": "C1", "ts": "1700000050.000200"},
        "event_ts": "1700000060.1",
    }
    bot = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B9",
        "username": "ci",
        "channel": "C1",
        "text": "build passed",
        "ts": "1700000070.000300",
    }
    assert (await http.post(event_body(reaction, event_id="Ev1")))[0] == 200
    assert (await http.post(event_body(bot, event_id="Ev2")))[0] == 200
    await http.adapter.inbox.drain()
    [added] = http.sink.of(ReactionAdded)
    assert added.target_uid == message_uid("C1", "1700000050.000200") and added.emoji == "thumbsup"
    [posted] = http.sink.of(MessagePosted)
    assert posted.actor.is_bot and posted.actor.external_id == "B9"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Slack-Signature": "v0=" + "0" * 64}, id="forged signature"),
        pytest.param(signed_headers(event_body(MESSAGE), at=int(time.time()) - 6 * 60), id="stale timestamp"),
        pytest.param(signed_headers(event_body(MESSAGE), secret="another-apps-secret"), id="wrong secret"),
    ],
)
async def test_unverified_requests_are_refused_and_nothing_reaches_the_sink(
    http: Http, headers: dict[str, str]
) -> None:
    status, _ = await http.post(event_body(MESSAGE), **headers)
    assert status == 401
    await http.adapter.inbox.drain()
    assert http.sink.events == []
    assert [c.method for c in http.api.calls] == ["auth.test"]  # start()'s; verification comes first


async def test_a_tampered_body_is_refused(http: Http) -> None:
    headers = signed_headers(event_body(MESSAGE))
    forged = event_body({**MESSAGE, "text": "something else"})
    resp = await http.client.post("/slack/events", data=forged.encode(), headers=headers)
    assert resp.status == 401
    assert http.sink.events == []


async def test_a_retried_event_is_delivered_once(http: Http) -> None:
    body = event_body(MESSAGE, event_id="Ev42")
    assert (await http.post(body))[0] == 200
    assert (await http.post(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))[
        0
    ] == 200
    assert (await http.post(body, **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}))[
        0
    ] == 200
    await http.adapter.inbox.drain()
    assert len(http.sink.of(MessagePosted)) == 1


async def test_an_event_from_another_workspace_is_ignored(http: Http) -> None:
    assert (await http.post(event_body(MESSAGE, team="T0OTHER")))[0] == 200
    await http.adapter.inbox.drain()
    assert http.sink.events == []


async def test_a_failing_sink_keeps_the_event_and_tries_again(http: Http) -> None:
    http.sink.fail_next = 2
    assert (await http.post(event_body(MESSAGE)))[0] == 200
    await http.adapter.inbox.drain()
    assert len(http.sink.of(MessagePosted)) == 1
    assert http.adapter.inbox.failures == 2
    assert http.api.timer.slept[-2:] == [1.0, 2.0]  # growing pauses, on the virtual clock


async def test_url_verification_is_answered(http: Http) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    status, text = await http.post(body)
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


async def test_a_slash_command_is_acknowledged_then_answered_privately(http: Http) -> None:
    status, text = await http.post(
        command_body("optout  all", response_url=http.api.hook_url()), content_type=FORM
    )
    assert (status, text) == (200, "")
    await http.adapter.inbox.drain()
    [command] = http.sink.of(CommandInvoked)
    assert (command.command, command.args) == ("optout", ("all",))
    assert command.actor.external_id == "U1" and command.place.container == TEAM and command.verified
    assert http.api.hooks == [
        {"name": "r1", "text": "done: optout all", "response_type": "ephemeral", "replace_original": False}
    ]


async def test_a_manager_command_keeps_its_words(http: Http) -> None:
    text = 'admin set U2 skill "go developer"'
    await http.post(command_body(text, response_url=http.api.hook_url()), content_type=FORM)
    await http.adapter.inbox.drain()
    [command] = http.sink.of(CommandInvoked)
    assert (command.command, command.args) == ("admin", ("set", "U2", "skill", "go developer"))


async def test_a_command_from_another_workspace_is_refused_before_the_sink(http: Http) -> None:
    status, text = await http.post(
        command_body("admin segments", response_url=http.api.hook_url(), team="T0OTHER"), content_type=FORM
    )
    assert status == 200 and "another Slack workspace" in text
    await http.adapter.inbox.drain()
    assert http.sink.events == []


async def test_a_button_click_becomes_an_action_and_is_answered(http: Http) -> None:
    status, _ = await http.post(
        click_body("accept", "tok-123", response_url=http.api.hook_url("r2")), content_type=FORM
    )
    assert status == 200
    await http.adapter.inbox.drain()
    [click] = http.sink.of(ActionClicked)
    assert (click.action, click.value, click.actor.external_id) == ("accept", "tok-123", "U1")
    assert http.api.hooks == [
        {
            "name": "r2",
            "text": "thanks, accept noted",
            "response_type": "ephemeral",
            "replace_original": False,
        }
    ]


async def test_a_reply_with_a_file_is_uploaded_to_the_members_dm(http: Http) -> None:
    http.sink.answer = CommandReply(
        text="Your data is attached.", attachment=("mydata.json", b'{"member": 1}')
    )
    await http.post(command_body("mydata", response_url=http.api.hook_url()), content_type=FORM)
    await http.adapter.inbox.drain()
    assert http.api.uploads and b'{"member": 1}' in http.api.uploads[0]
    [done] = http.api.of("files.completeUploadExternal")
    assert done.args["channel_id"] == "DU1"
    assert http.api.hooks[0]["text"] == "Your data is attached."


async def test_before_start_requests_get_503_so_slack_tries_again() -> None:
    api = await FakeSlackApi().start()
    adapter = SlackAdapter(
        SlackSettings(mode="http", team_id=TEAM, api_base_url=api.api_url), secrets=SECRETS
    )
    client = TestClient(TestServer(adapter.aiohttp_app()))
    await client.start_server()
    try:
        body = event_body(MESSAGE)
        resp = await client.post("/slack/events", data=body.encode(), headers=signed_headers(body))
        assert resp.status == 503
    finally:
        await client.close()
        await api.close()


def test_socket_mode_exposes_no_http_route() -> None:
    adapter = SlackAdapter(
        SlackSettings(mode="socket", team_id=TEAM),
        secrets=SlackSecrets(bot_token="xoxb-t", app_token="xapp-t", signing_secret=""),
    )
    assert adapter.routes() == []


async def test_a_token_for_another_workspace_stops_start_up() -> None:
    api = await FakeSlackApi(team_id="T0OTHER").start()
    adapter = SlackAdapter(
        SlackSettings(mode="http", team_id=TEAM, api_base_url=api.api_url), secrets=SECRETS
    )
    try:
        with pytest.raises(ConfigurationError, match="T0OTHER"):
            await adapter.start(RecordingSink())
        api.fail("auth.test", "invalid_auth")
        with pytest.raises(ConfigurationError, match="invalid_auth"):
            await adapter.start(RecordingSink())
    finally:
        await api.close()


async def test_slack_gets_its_answer_before_the_event_is_stored(http: Http) -> None:
    http.sink.gate = asyncio.Event()  # a busy database
    status, _ = await http.post(event_body(MESSAGE))
    assert status == 200 and http.sink.events == []  # acknowledged while the sink still waits
    http.sink.gate.set()
    await http.adapter.inbox.drain()
    assert [type(e) for e in http.sink.events] == [ProfileSeen, MessagePosted]


async def test_a_failed_upload_still_answers_and_says_so(http: Http) -> None:
    http.sink.answer = CommandReply(text="Your data is attached.", attachment=("mydata.json", b"{}"))
    http.api.fail("files.getUploadURLExternal", "not_in_channel")
    await http.post(command_body("mydata", response_url=http.api.hook_url()), content_type=FORM)
    await http.adapter.inbox.drain()
    [answer] = http.api.hooks
    assert answer["text"].startswith("Your data is attached.") and "could not be attached" in answer["text"]


async def test_a_stopping_adapter_turns_requests_away_so_slack_sends_them_again(http: Http) -> None:
    await http.adapter.stop()
    assert (await http.post(event_body(MESSAGE)))[0] == 503
    assert http.sink.events == []


async def test_a_click_on_a_link_button_is_acknowledged_and_ignored(http: Http) -> None:
    body = click_body("x", "y", response_url=http.api.hook_url()).replace("cohort%3Ax", "open_site")
    status, _ = await http.post(body, content_type=FORM)
    assert status == 200
    await http.adapter.inbox.drain()
    assert http.sink.events == [] and http.api.hooks == []
