"""Pure parts of the Slack adapter: payload translation, commands and clicks, message bodies, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.imports.slack_translate import SlackDirectory, message_uid
from adapters.slack.blocks import message_blocks, neutralise, sections
from adapters.slack.commands import click_events, command_event, foreign_workspace, split_words
from adapters.slack.settings import SlackSettings
from adapters.slack.translate import translate_event, users_in
from bot.core.errors import ConfigurationError
from bot.core.events import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ProfileSeen,
    ReactionAdded,
)
from bot.core.outbound import Button

TEAM = "T0TEST"
NOW = datetime(2023, 11, 15, tzinfo=UTC)


def translate(event: dict[str, Any]) -> list[Any]:
    return translate_event(event, team_id=TEAM, directory=SlackDirectory(users={}), received_at=NOW)


def test_a_thread_reply_points_at_its_root() -> None:
    [posted] = translate(
        {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "text": "see `man 8 logrotate`",
            "ts": "1700000050.000200",
            "thread_ts": "1700000000.000100",
        }
    )
    assert isinstance(posted, MessagePosted)
    assert posted.uid == message_uid("C1", "1700000050.000200")
    assert posted.reply_to == posted.thread == message_uid("C1", "1700000000.000100")
    assert posted.native_id == "C1:1700000050.000200"
    assert posted.occurred_at == datetime.fromtimestamp(1700000050.0002, UTC)
    assert posted.place.container == TEAM


def test_a_thread_root_has_no_reply_target() -> None:
    [posted] = translate(
        {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "text": "q",
            "ts": "1700000000.000100",
            "thread_ts": "1700000000.000100",
        }
    )
    assert posted.reply_to is None and posted.thread is None


def test_an_app_mention_is_the_same_message() -> None:
    base = {"channel": "C1", "user": "U1", "text": "<@UBOT> help", "ts": "1700000001.000001"}
    [mention] = translate({"type": "app_mention", **base})
    [message] = translate({"type": "message", **base})
    assert mention == message


def test_an_edit_and_a_delete() -> None:
    [edited] = translate(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "hidden": True,
            "ts": "1700000100.000000",
            "message": {
                "type": "message",
                "user": "U1",
                "text": "fixed typo",
                "ts": "1700000050.000200",
                "edited": {"user": "U1", "ts": "1700000100.0"},
            },
            "previous_message": {
                "type": "message",
                "user": "U1",
                "text": "fixd typo",
                "ts": "1700000050.000200",
            },
        }
    )
    assert isinstance(edited, MessageEdited)
    assert edited.uid == message_uid("C1", "1700000050.000200") and edited.text.own == "fixed typo"
    [deleted] = translate(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C1",
            "hidden": True,
            "ts": "1700000200.000000",
            "deleted_ts": "1700000050.000200",
        }
    )
    assert deleted == MessageDeleted(uid=edited.uid, occurred_at=datetime.fromtimestamp(1700000200, UTC))


@pytest.mark.parametrize(
    "event",
    [
        {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B1",
            "username": "ci",
            "channel": "C1",
            "text": "green",
            "ts": "1.1",
        },
        {
            "type": "message",
            "user": "U9",
            "bot_id": "B1",
            "channel": "C1",
            "text": "from an app",
            "ts": "1.2",
        },
    ],
)
def test_bot_messages_are_marked_as_bots(event: dict[str, Any]) -> None:
    [posted] = translate(event)
    assert posted.actor.is_bot


def test_quotes_leave_the_members_own_words() -> None:
    [posted] = translate(
        {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "ts": "1.3",
            "text": "&gt; what they said\nmy answer &amp; more",
        }
    )
    assert (posted.text.own, posted.text.quoted_lines) == ("my answer & more", 1)


def test_reactions_and_memberships() -> None:
    [reaction] = translate(
        {
            "type": "reaction_added",
            "user": "U2",
            "reaction": "+1",
            "item": {"type": "message", "channel": "C1", "ts": "1700000050.000200"},
            "event_ts": "1700000060.000000",
        }
    )
    assert isinstance(reaction, ReactionAdded)
    assert reaction.uid != reaction.target_uid == message_uid("C1", "1700000050.000200")
    assert (
        translate(
            {
                "type": "reaction_added",
                "user": "U2",
                "reaction": "+1",
                "item": {"type": "file", "file": "F1"},
                "event_ts": "1.0",
            }
        )
        == []
    )
    [joined] = translate(
        {"type": "member_joined_channel", "user": "U3", "channel": "C1", "event_ts": "1700000070.000000"}
    )
    [left] = translate(
        {"type": "member_left_channel", "user": "U3", "channel": "C1", "event_ts": "1700000080.000000"}
    )
    assert isinstance(joined, MemberJoined) and isinstance(left, MemberLeft)
    assert joined.uid == message_uid("C1", "1700000070.000000")


@pytest.mark.parametrize("kind", ["team_join", "user_change"])
def test_profiles_carry_title_and_email(kind: str) -> None:
    directory = SlackDirectory(users={})
    user = {
        "id": "U5",
        "name": "bo",
        "real_name": "Bo Li",
        "updated": 1700000000,
        "profile": {"title": "Staff Engineer, Acme", "email": "bo@acme.example", "display_name": "bo"},
    }
    [seen] = translate_event(
        {"type": kind, "user": user, "event_ts": "1700000001.0"},
        team_id=TEAM,
        directory=directory,
        received_at=NOW,
    )
    assert isinstance(seen, ProfileSeen)
    assert (seen.actor.title, seen.actor.email, seen.actor.external_id) == (
        "Staff Engineer, Acme",
        "bo@acme.example",
        "U5",
    )
    assert directory.users["U5"] == seen.actor  # later messages from U5 carry the profile


@pytest.mark.parametrize(
    "event",
    [
        {
            "type": "message",
            "subtype": "channel_topic",
            "channel": "C1",
            "user": "U1",
            "ts": "1.0",
            "text": "t",
        },
        {"type": "message", "channel": "C1", "user": "U1"},  # no ts
        {"type": "channel_rename", "channel": {"id": "C1", "name": "x"}},
        {"type": "message", "user": "U1", "text": "no channel", "ts": "1.0"},
    ],
)
def test_what_is_not_activity_gives_nothing(event: dict[str, Any]) -> None:
    assert translate(event) == []


def test_users_named_by_an_event() -> None:
    assert users_in({"type": "message", "user": "U1", "message": {"user": "U2"}}) == ["U1", "U2"]
    assert users_in({"type": "reaction_added", "user": "U3"}) == ["U3"]
    assert users_in({"type": "team_join", "user": {"id": "U4"}}) == []


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("", "help", ()),
        ("  OptOut   bug-hunt ", "optout", ("bug-hunt",)),
        ('admin set U2 skill "go developer"', "admin", ("set", "U2", "skill", "go developer")),
        ("admin note it's fine", "admin", ("note", "it's", "fine")),  # unbalanced quote
        ("admin note a &amp; b &lt;3", "admin", ("note", "a", "&", "b", "<3")),
    ],
)
def test_command_words(text: str, command: str, args: tuple[str, ...]) -> None:
    event = command_event(
        {
            "text": text,
            "user_id": "U1",
            "user_name": "ann",
            "channel_id": "C1",
            "trigger_id": "t1",
            "team_id": TEAM,
        },
        team_id=TEAM,
        received_at=NOW,
    )
    assert (event.command, event.args) == (command, args)
    assert event.actor.external_id == "U1" and event.place.container == TEAM


def test_the_same_trigger_is_the_same_command() -> None:
    payload = {"text": "optout", "user_id": "U1", "trigger_id": "t1"}
    first = command_event(payload, team_id=TEAM, received_at=NOW)
    assert first.uid == command_event(payload, team_id=TEAM, received_at=NOW).uid
    assert first.uid != command_event({**payload, "trigger_id": "t2"}, team_id=TEAM, received_at=NOW).uid


def test_workspace_check_reads_every_payload_shape() -> None:
    assert not foreign_workspace({"team_id": TEAM}, team_id=TEAM)
    assert not foreign_workspace({"team": {"id": TEAM}}, team_id=TEAM)
    assert not foreign_workspace({"user": {"team_id": TEAM}}, team_id=TEAM)
    assert foreign_workspace({"team_id": "T0OTHER"}, team_id=TEAM)
    assert foreign_workspace({}, team_id=TEAM)


def test_only_our_buttons_become_clicks() -> None:
    payload = {
        "user": {"id": "U1", "name": "ann"},
        "channel": {"id": "D1"},
        "actions": [
            {"action_id": "cohort:decline", "value": "tok", "action_ts": "1.5"},
            {"action_id": "another_app_button", "value": "x", "action_ts": "1.6"},
        ],
    }
    [click] = click_events(payload, team_id=TEAM, received_at=NOW)
    assert (click.action, click.value, click.place and click.place.channel_id) == ("decline", "tok", "D1")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("admin member <@U2|bo>", ["admin", "member", "U2"]),
        ("admin member <@U2>", ["admin", "member", "U2"]),
        ("admin place <#C7|dev-help> developers", ["admin", "place", "C7", "developers"]),
        ("admin note <https://example.org|site>", ["admin", "note", "https://example.org"]),
        ("admin note &lt;@U2&gt; typed by hand", ["admin", "note", "<@U2>", "typed", "by", "hand"]),
    ],
)
def test_escaped_references_become_ids(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("<!here> look", "&lt;!here&gt; look"),
        ("<!channel|@channel> and <!EVERYONE>", "&lt;!channel|@channel&gt; and &lt;!EVERYONE&gt;"),
        ("<!subteam^S123|@devs>", "&lt;!subteam^S123|@devs&gt;"),
        ("<!date^1392734382^{date}|Feb 18>", "<!date^1392734382^{date}|Feb 18>"),  # a date is harmless
        ("&lt;!here&gt; already escaped", "&lt;!here&gt; already escaped"),
        ("<@U123> hi", "<@U123> hi"),
    ],
)
def test_mass_mentions_are_neutralised(text: str, safe: str) -> None:
    assert neutralise(text) == safe


def test_long_text_becomes_several_sections() -> None:
    text = "\n".join(["x" * 1000] * 7)
    blocks = sections(text)
    assert len(blocks) == 4  # two 1,000-character lines fit, three (3,002 with the breaks) do not
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    assert "\n".join(b["text"]["text"] for b in blocks) == text
    assert [len(b["text"]["text"]) for b in sections("y" * 7000)] == [3000, 3000, 1000]


def test_buttons_are_not_added_twice_to_rendered_blocks() -> None:
    ours = {"type": "actions", "elements": [{"type": "button", "action_id": "cohort:accept", "value": "t"}]}
    choice = (Button("accept", "t", "Accept"),)
    assert message_blocks("x", blocks=(ours,), buttons=choice) == [ours]
    plain = message_blocks("x", blocks=(), buttons=())
    assert plain == []
    with_buttons = message_blocks(
        "x", blocks=({"type": "header", "text": {"type": "plain_text", "text": "H"}},), buttons=choice
    )
    assert [b["type"] for b in with_buttons] == ["header", "actions"]


def test_settings_name_the_missing_variable() -> None:
    settings = SlackSettings(team_id=TEAM)
    with pytest.raises(ConfigurationError, match="SLACK_APP_TOKEN"):
        settings.secrets({"SLACK_BOT_TOKEN": "xoxb-1"})
    http = SlackSettings(team_id=TEAM, mode="http", signing_secret_env="MY_SECRET")
    with pytest.raises(ConfigurationError, match="MY_SECRET"):
        http.secrets({"SLACK_BOT_TOKEN": "xoxb-1"})
    secrets = http.secrets({"SLACK_BOT_TOKEN": " xoxb-1 ", "MY_SECRET": "s"})
    assert (secrets.bot_token, secrets.signing_secret) == ("xoxb-1", "s")
    assert "xoxb" not in repr(secrets)


@pytest.mark.parametrize(
    "section",
    [
        {"team_id": "acme"},
        {"team_id": TEAM, "mode": "webhook"},
        {"team_id": TEAM, "command": "cohort"},
        {"team_id": TEAM, "bot_token": "xoxb-in-the-file"},
    ],
)
def test_settings_refuse_what_cannot_work(section: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SlackSettings.model_validate(section)


def test_rendered_buttons_are_claimed_and_link_buttons_left_alone() -> None:
    def button(action: str, **extra: str) -> dict[str, Any]:
        return {
            "type": "button",
            "action_id": action,
            "value": "t",
            "text": {"type": "plain_text", "text": "x"},
            **extra,
        }

    rendered = (
        {"type": "section", "text": {"type": "mrkdwn", "text": "Join?"}, "accessory": button("open")},
        {"type": "actions", "elements": [button("accept"), button("site", url="https://example.org")]},
    )
    out = message_blocks("Join?", blocks=rendered, buttons=(Button("accept", "t", "A"),))
    assert out[0]["accessory"]["action_id"] == "cohort:open"
    assert [e["action_id"] for e in out[1]["elements"]] == ["cohort:accept", "site"]
    assert len(out) == 2  # the buttons were already there: none appended
    assert rendered[1]["elements"][0]["action_id"] == "accept"  # the input is not changed
