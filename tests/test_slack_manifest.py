"""The Slack app manifests ask for exactly what the adapter uses, and both modes ask for the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.slack.settings import SlackSettings
from adapters.slack.translate import MESSAGE_TYPES, PROFILE_TYPES

yaml = pytest.importorskip("yaml")

FOLDER = Path(__file__).resolve().parents[1] / "adapters" / "slack"
#: Event types translate_event turns into kernel events.
HANDLED = MESSAGE_TYPES | PROFILE_TYPES | {"reaction_added", "member_joined_channel", "member_left_channel"}
#: Web API methods the adapter calls, and the scope each needs.
NEEDED = {
    "channels:history", "groups:history",  # message events, conversations.history/replies
    "channels:read", "groups:read",  # users.conversations, membership events
    "im:history",  # reconcile in DMs
    "im:write",  # conversations.open
    "chat:write",  # chat.postMessage
    "commands",  # /cohort
    "files:write",  # mydata upload
    "reactions:read",  # reaction_added
    "users:read", "users:read.email",  # users.info with the e-mail
    "app_mentions:read",  # app_mention
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((FOLDER / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", ["manifest.yml", "manifest-http.yml"])
def test_scopes_and_events_are_exactly_what_the_adapter_uses(name: str) -> None:
    manifest = load(name)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == NEEDED
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {e.split(".")[0] for e in events} <= HANDLED
    assert {
        "message.channels",
        "message.groups",
        "app_mention",
        "reaction_added",
        "team_join",
        "user_change",
    } <= set(events)
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == SlackSettings(team_id="T0").command
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_the_two_modes_differ_only_in_how_slack_reaches_the_bot() -> None:
    socket, http = load("manifest.yml"), load("manifest-http.yml")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["socket_mode_enabled"] is False
    path = SlackSettings(team_id="T0").http_path
    assert http["settings"]["event_subscriptions"]["request_url"].endswith(path)
    assert http["settings"]["interactivity"]["request_url"].endswith(path)
    assert http["features"]["slash_commands"][0]["url"].endswith(path)
    assert socket["oauth_config"] == http["oauth_config"]
    assert (
        socket["settings"]["event_subscriptions"]["bot_events"]
        == http["settings"]["event_subscriptions"]["bot_events"]
    )
