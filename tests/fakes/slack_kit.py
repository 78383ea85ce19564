"""Helpers for the Slack tests: signed requests, a recording sink, payload builders."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from bot.core.events import ActionClicked, CommandInvoked, Event
from bot.core.outbound import CommandReply

TEAM = "T0TEST"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, at: int | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def event_body(event: dict[str, Any], *, event_id: str = "Ev0001", team: str = TEAM) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "event": event,
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
        }
    )


def command_body(text: str, *, response_url: str, team: str = TEAM, user: str = "U1") -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": team,
            "team_domain": "test",
            "channel_id": "C1",
            "channel_name": "general",
            "user_id": user,
            "user_name": "ann",
            "command": "/cohort",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )


def click_body(action: str, value: str, *, response_url: str, team: str = TEAM) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "test"},
        "user": {"id": "U1", "username": "ann", "name": "ann", "team_id": team},
        "api_app_id": "A0TEST",
        "token": "legacy",
        "trigger_id": "1234.5678.abcd",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "DU1"},
        "channel": {"id": "DU1", "name": "directmessage"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": f"cohort:{action}",
                "block_id": "cohort-actions",
                "value": value,
                "text": {"type": "plain_text", "text": action},
                "action_ts": "1700000100.1",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


class RecordingSink:
    """The pipeline's side of ``EventSink``: records events, answers commands and clicks."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_next = 0
        self.gate: asyncio.Event | None = None  # when set up, events wait for it (a busy database)
        self.answer: CommandReply | None = None  # replaces the default answer to commands

    async def __call__(self, event: Event) -> CommandReply | None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("database went away")
        self.events.append(event)
        if self.answer is not None and isinstance(event, CommandInvoked):
            return self.answer
        if isinstance(event, CommandInvoked):
            return CommandReply(text=f"done: {event.command} {' '.join(event.args)}")
        if isinstance(event, ActionClicked):
            return CommandReply(text=f"thanks, {event.action} noted")
        return None

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
