"""The ``[adapters.slack]`` section of cohortbot.toml, validated before anything connects.

Secrets never live in the file: the section names the environment variables that hold the
bot token, the app-level token (Socket Mode) and the signing secret (HTTP mode), and
``secrets()`` reads them once at start-up, failing with a message that names the variable.
The two URL overrides exist for tests (a fake Web API and a local websocket on 127.0.0.1);
production leaves them unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.errors import ConfigurationError


class SlackSettings(BaseModel):
    """One Slack workspace, reached over Socket Mode or over HTTP events on the bot's web server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["socket", "http"] = "socket"
    #: The workspace (``T…``) the bot serves; events and commands from any other are refused.
    team_id: str
    bot_token_env: str = "SLACK_BOT_TOKEN"  # noqa: S105 (a variable name, not a secret)
    app_token_env: str = "SLACK_APP_TOKEN"  # noqa: S105
    signing_secret_env: str = "SLACK_SIGNING_SECRET"  # noqa: S105
    #: The slash command the app manifest declares.
    command: str = "/cohort"
    #: HTTP mode: where Slack posts events, commands and interactivity (one URL for all three).
    http_path: str = "/slack/events"
    #: Tests only: a fake Web API instead of https://slack.com/api/.
    api_base_url: str | None = None
    #: Tests only: a fixed websocket URL instead of asking ``apps.connections.open`` for one.
    socket_mode_url: str | None = None
    #: Socket Mode keep-alive: a silent connection is replaced after four missed pings.
    ping_interval: float = Field(default=10.0, gt=0)
    #: 429 answers the Web API client waits out itself (Retry-After) before the outbox reschedules.
    rate_limit_retries: int = Field(default=3, ge=0, le=20)
    #: Seconds between two messages to the same channel or DM (Slack allows about one a second).
    channel_interval: float = Field(default=1.0, ge=0)
    #: Seconds one Web API call may take.
    timeout: int = Field(default=30, gt=0)
    #: Start-up back-fill: channels whose history is read (empty: every channel the bot is in).
    backfill_channels: tuple[str, ...] = ()
    #: A channel with nothing stored yet is read back this many days (0 turns back-fill off).
    backfill_days: int = Field(default=7, ge=0)
    #: Upper bound of messages read back per channel per start.
    backfill_limit: int = Field(default=5000, ge=0)

    @field_validator("team_id")
    @classmethod
    def _team(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("T", "E")):
            raise ValueError("a workspace id looks like T0123ABCD (Slack: About this workspace)")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not value.startswith("/") or " " in value:
            raise ValueError("a slash command looks like /cohort")
        return value

    @field_validator("http_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("the events path starts with /")
        return value

    def secrets(self, environ: Mapping[str, str] | None = None) -> SlackSecrets:
        """Read the tokens the mode needs from the environment; a missing one stops start-up."""
        env: Mapping[str, str] = os.environ if environ is None else environ
        bot = _need(env, self.bot_token_env, "the bot token (xoxb-…, OAuth & Permissions)")
        app = signing = ""
        if self.mode == "socket":
            app = _need(env, self.app_token_env, "the app-level token (xapp-…, scope connections:write)")
        else:
            signing = _need(env, self.signing_secret_env, "the signing secret (Basic Information)")
        return SlackSecrets(bot_token=bot, app_token=app, signing_secret=signing)


@dataclass(frozen=True, slots=True)
class SlackSecrets:
    bot_token: str
    app_token: str
    signing_secret: str

    def __repr__(self) -> str:  # never in a log or a traceback
        return "SlackSecrets(***)"


def _need(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "")
    if not value.strip():
        raise ConfigurationError(f"Slack: set the environment variable {name} to {what}")
    return value.strip()
