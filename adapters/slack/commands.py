"""The ``/cohort`` slash command and Block Kit button clicks, as kernel events; pure functions.

One slash command carries every command of the command core: ``/cohort optout all`` for
members, ``/cohort admin segments`` for managers. The adapter only splits the words and
says who asked from where (user id, channel, workspace); whether that person may run a
manager's command is the command core's decision, by user id from configuration. A
command from another workspace never reaches it: ``foreign_workspace`` is checked first.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from adapters.imports.chat_text import decode_slack_entities
from adapters.imports.slack_translate import PLATFORM
from bot.core.events import ActionClicked, ActorRef, CommandInvoked, PlaceRef, event_uid

#: Buttons the bot renders carry ``action_id = "cohort:<action>"`` so clicks on anything
#: else (another app's message, a link button) are not mistaken for ours.
ACTION_PREFIX = "cohort:"
MEMBER_COMMANDS = ("optout", "optin", "whyme", "mydata", "forgetme", "programmes", "help")

_REFERENCE = re.compile(r"<([@#!]?)([^>|]+)(?:\|([^>]*))?>")

REFUSED_WORKSPACE = "This bot serves another Slack workspace; nothing was done."


def action_id(action: str) -> str:
    return f"{ACTION_PREFIX}{action}"


def plain_references(text: str) -> str:
    """Slack's escaped references as plain ids: ``<@U2|bo>`` is ``U2``, ``<#C1|general>`` is ``C1``.

    The manifest asks Slack to escape mentions (``should_escape``), so a manager who picks
    a member from the @-menu hands the command core the stable user id, never a name
    anyone could copy. Links keep their address; other specials keep their label.
    """
    return _REFERENCE.sub(_plain, text) if "<" in text else text


def _plain(match: re.Match[str]) -> str:
    sigil, target, label = match.group(1), match.group(2), match.group(3)
    if sigil in ("@", "#"):
        return target
    if sigil == "!":
        return label or target
    return target


def split_words(text: str) -> list[str]:
    """Words as typed; quotes group words ("go developer"), an unbalanced quote falls back to spaces.

    Slack escapes ``& < >`` in command text; the escapes are undone (after references are
    made plain) so arguments compare equal to what the member typed.
    """
    plain = decode_slack_entities(plain_references(text)).strip()
    try:
        return shlex.split(plain)
    except ValueError:
        return plain.split()


def foreign_workspace(payload: Mapping[str, Any], *, team_id: str) -> bool:
    """True when a command or click comes from a workspace other than the configured one."""
    team = payload.get("team_id")
    if team is None:
        inner = payload.get("team")
        team = inner.get("id") if isinstance(inner, Mapping) else None
    user = payload.get("user")
    if team is None and isinstance(user, Mapping):
        team = user.get("team_id")
    return team != team_id


def command_event(payload: Mapping[str, Any], *, team_id: str, received_at: datetime) -> CommandInvoked:
    """A slash command payload (form fields) to ``CommandInvoked``; no text means ``help``."""
    words = split_words(str(payload.get("text") or ""))
    user_id = str(payload.get("user_id") or "")
    user_name = str(payload.get("user_name") or "")
    trigger = str(payload.get("trigger_id") or f"{user_id}:{received_at.timestamp()}")
    return CommandInvoked(
        uid=event_uid(PLATFORM, f"command:{trigger}"),
        actor=ActorRef(platform=PLATFORM, external_id=user_id, display_name=user_name,
                       username=user_name or None),
        place=PlaceRef(platform=PLATFORM, channel_id=str(payload.get("channel_id") or ""),
                       name=str(payload.get("channel_name") or ""), container=team_id),
        occurred_at=received_at,
        command=words[0].lower() if words else "help",
        args=tuple(words[1:]),
        verified=True,  # Slack signed the request (HTTP) or sent it over our own socket
    )


def click_events(
    payload: Mapping[str, Any], *, team_id: str, received_at: datetime
) -> Iterator[ActionClicked]:
    """Each of our buttons in a ``block_actions`` payload to ``ActionClicked`` (usually one)."""
    user = payload.get("user")
    user = user if isinstance(user, Mapping) else {}
    user_id = str(user.get("id") or "")
    name = str(user.get("name") or user.get("username") or "")
    channel = payload.get("channel")
    where = None
    if isinstance(channel, Mapping) and channel.get("id"):
        where = PlaceRef(platform=PLATFORM, channel_id=str(channel["id"]),
                         name=str(channel.get("name") or ""), container=team_id)
    actions = payload.get("actions")
    for action in actions if isinstance(actions, list) else []:
        if not isinstance(action, Mapping):
            continue
        ident = str(action.get("action_id") or "")
        if not ident.startswith(ACTION_PREFIX):
            continue
        stamp = str(action.get("action_ts") or payload.get("trigger_id") or received_at.timestamp())
        yield ActionClicked(
            uid=event_uid(PLATFORM, f"action:{user_id}:{ident}:{stamp}"),
            actor=ActorRef(platform=PLATFORM, external_id=user_id, display_name=name, username=name or None),
            occurred_at=received_at,
            action=ident.removeprefix(ACTION_PREFIX),
            value=str(action.get("value") or ""),
            place=where,
        )
