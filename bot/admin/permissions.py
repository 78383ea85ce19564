"""Who may run managers' commands: ids from configuration, checked on every call.

Managers are named by what a platform vouches for — a Discord user or role id, a Slack user
id, an e-mail address — never by a display name or role name, which anyone can copy. A
mistyped entry must stop start-up: a silently ignored line would lock every manager out, and
a silently accepted one could let the wrong person in. Chat commands count only from the
configured Discord server or Slack workspace; e-mail commands run only after the one-time
confirmation (``bot.admin.confirmations``), because a ``From:`` line can be forged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.core.errors import ConfigurationError
from bot.core.events import CommandInvoked

#: The CLI is a manager by being on the machine; its calls are still audited.
CLI_PLATFORM = "cli"

_SNOWFLAKE = re.compile(r"^\d{1,20}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_SLACK_TEAM = re.compile(r"^[TE][A-Z0-9]{2,20}$")
_EMAIL = re.compile(r"^[^@\s:<>,;]+@[^@\s:<>,;]+\.[^@\s:<>,;.]+$")
_KINDS = {
    "discord": ("a Discord user id (digits)", _SNOWFLAKE),
    "discord-role": ("a Discord role id (digits)", _SNOWFLAKE),
    "slack": ("a Slack user id (U… or W…)", _SLACK_USER),
    "mail": ("an e-mail address", _EMAIL),
}
_FORMS = "discord:<user id>, discord-role:<role id>, slack:<user id> or mail:<address>"


def _parse_entry(entry: str) -> tuple[str, str]:
    kind, sep, value = entry.strip().partition(":")
    if not sep or kind not in _KINDS:
        raise ValueError(f"manager entry {entry!r}: unknown kind {kind!r}; use {_FORMS}")
    what, pattern = _KINDS[kind]
    value = value.strip().lower() if kind == "mail" else value.strip()
    if not pattern.match(value):
        raise ValueError(
            f"manager entry {entry!r}: {value!r} is not {what}; names are not accepted "
            "because anyone can copy a name"
        )
    return kind, value


class ManagerSettings(BaseModel):
    """The ``[managers]`` table of cohortbot.toml.

    ``managers`` lists ``discord:<user id>``, ``discord-role:<role id>``, ``slack:<user id>``
    and ``mail:<address>`` entries. ``discord_guild`` / ``slack_workspace`` are the only
    server / workspace whose commands count; they are required as soon as a manager of that
    platform is listed. ``require_managers`` (default true) refuses an empty list, so a
    forgotten section cannot leave the chat platforms without anyone in charge unnoticed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    managers: tuple[str, ...] = ()
    require_managers: bool = True
    discord_guild: str | None = None
    slack_workspace: str | None = None
    confirm_minutes: int = Field(default=30, ge=1, le=24 * 60)

    @field_validator("managers")
    @classmethod
    def _entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for entry in value:
            kind, ident = _parse_entry(entry)
            out.append(f"{kind}:{ident}")
        return tuple(dict.fromkeys(out))

    @field_validator("discord_guild")
    @classmethod
    def _guild(cls, value: str | None) -> str | None:
        if value is not None and not _SNOWFLAKE.match(value.strip()):
            raise ValueError(f"discord_guild {value!r} is not a Discord server id (digits)")
        return value.strip() if value else value

    @field_validator("slack_workspace")
    @classmethod
    def _workspace(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_TEAM.match(value.strip()):
            raise ValueError(f"slack_workspace {value!r} is not a Slack team id (T…)")
        return value.strip() if value else value

    @model_validator(mode="after")
    def _complete(self) -> ManagerSettings:
        if self.require_managers and not self.managers:
            raise ValueError(
                "no managers configured and require_managers is true: list at least one of "
                f"{_FORMS}, or set require_managers = false (then only the CLI is a manager)"
            )
        kinds = {entry.partition(":")[0] for entry in self.managers}
        if kinds & {"discord", "discord-role"} and not self.discord_guild:
            raise ValueError("Discord managers are listed but discord_guild (the server id) is not set")
        if "slack" in kinds and not self.slack_workspace:
            raise ValueError("Slack managers are listed but slack_workspace (the team id) is not set")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ManagerSettings:
        """Validate a configuration table; any problem is a ``ConfigurationError`` naming the setting."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigurationError(describe_error(exc, section="managers")) from None


def describe_error(exc: ValidationError, *, section: str) -> str:
    """A pydantic error as one readable line per problem, prefixed with the configuration table."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown setting (mistyped?)"
        problems.append(f"[{section}] {where + ': ' if where else ''}{message}")
    return "; ".join(problems)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one call: allowed outright, allowed after confirmation, or refused and why."""

    allowed: bool
    reason: str
    needs_confirmation: bool = False


class Permissions:
    """The check made on every managers' command, from validated settings."""

    def __init__(self, settings: ManagerSettings) -> None:
        # Re-validate: a settings object built with model_construct() skips the validators.
        self.settings = ManagerSettings.from_mapping(settings.model_dump())
        by_kind: dict[str, set[str]] = {kind: set() for kind in _KINDS}
        for entry in self.settings.managers:
            kind, _, ident = entry.partition(":")
            by_kind[kind].add(ident)
        self._discord_users = frozenset(by_kind["discord"])
        self._discord_roles = frozenset(by_kind["discord-role"])
        self._slack_users = frozenset(by_kind["slack"])
        self._emails = frozenset(by_kind["mail"])

    def check(self, event: CommandInvoked) -> Verdict:
        actor, place = event.actor, event.place
        platform = actor.platform
        if platform == CLI_PLATFORM:
            return Verdict(True, "command line on the bot's machine")
        if platform == "mail":
            address = (actor.email or actor.external_id).strip().lower()
            if address not in self._emails:
                return Verdict(False, f"{address} is not a manager")
            if event.verified:
                return Verdict(True, f"manager mail:{address}")
            return Verdict(True, f"manager mail:{address}, pending confirmation", needs_confirmation=True)
        if not event.verified:
            return Verdict(False, "the platform did not vouch for the sender")
        if platform == "discord":
            if not place.container:  # None, or "" as the Discord adapter sends for a DM
                return Verdict(False, "managers' commands are not taken in direct messages")
            if place.container != self.settings.discord_guild:
                return Verdict(False, f"server {place.container} is not the configured server")
            if actor.external_id in self._discord_users:
                return Verdict(True, f"manager discord:{actor.external_id}")
            roles = self._discord_roles.intersection(event.roles)
            if roles:
                return Verdict(True, f"manager role discord-role:{min(roles)}")
            return Verdict(False, f"discord:{actor.external_id} is not a manager")
        if platform == "slack":
            if place.container != self.settings.slack_workspace:
                return Verdict(False, f"workspace {place.container} is not the configured workspace")
            if actor.external_id in self._slack_users:
                return Verdict(True, f"manager slack:{actor.external_id}")
            return Verdict(False, f"slack:{actor.external_id} is not a manager")
        return Verdict(False, f"managers' commands are not taken from {platform!r}")

    def is_manager(self, event: CommandInvoked) -> bool:
        """For listings (``help``): would this call be allowed, confirmation aside."""
        return self.check(event).allowed
