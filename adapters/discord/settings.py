"""The Discord adapter's configuration (the ``[discord]`` table of cohortbot.toml), checked at start-up.

The bot token never sits in the file: ``token_env`` names the environment variable that holds
it, read when the adapter connects. Who counts as a manager (role ids, user ids) is the
command core's configuration, not this one: the adapter only reports the roles it sees.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.errors import ConfigurationError


class DiscordSettings(BaseModel):
    """Everything the Discord adapter needs; docs/discord.md explains each field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Environment variable holding the bot token (Developer Portal → Bot → Reset Token).
    token_env: str = "COHORTBOT_DISCORD_TOKEN"  # noqa: S105 - a variable name, not a secret
    #: The servers (guild ids) the bot serves: slash commands are registered in each, and
    #: history is back-filled for their channels. Events from other guilds are ignored.
    guild_ids: tuple[str, ...] = ()
    #: Run discord.py's AutoShardedClient (needed past ~2,500 servers; harmless below).
    sharded: bool = False
    #: How many messages to back-fill from a channel the store has never seen (0: none; the
    #: history of an existing server comes from ``cohortbot import discord-export``).
    initial_backfill: int = Field(default=0, ge=0)
    #: Tests only: a local fake Discord. None means discord.com and its gateway.
    api_base_url: str | None = None
    gateway_url: str | None = None
    #: Seconds discord.py waits for the guilds after READY (its default is 2.0).
    guild_ready_timeout: float = Field(default=2.0, ge=0)
    #: Seconds to wait before identifying again after a session could not resume (Discord's
    #: identify limit; discord.py's default). Tests against the local fake set 0.
    reidentify_delay: float = Field(default=5.0, ge=0)
    #: Seconds ``start`` waits for the gateway's READY before giving up.
    ready_timeout: float = Field(default=60.0, gt=0)

    @field_validator("guild_ids")
    @classmethod
    def _snowflakes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for gid in value:
            if not gid.isdigit():
                raise ValueError(f"guild id {gid!r} is not a Discord id (copy it with Developer Mode)")
        return value

    def token(self) -> str:
        """The bot token from the environment, or a ConfigurationError that says where to put it."""
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigurationError(
                f"Discord bot token missing: set the environment variable {self.token_env} "
                "(Developer Portal → your application → Bot → Reset Token)"
            )
        return value
