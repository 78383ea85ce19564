"""The configuration file (``cohortbot.toml``): which adapters run, who the managers are, and where.

One file, validated at start-up: an unknown key or a value that cannot work stops the bot
with a ``ConfigurationError`` naming the setting, instead of running half-configured.
Each adapter validates its own section with its own settings model (the adapters own
their settings); this module only knows the section names.
Secrets never live in the file: sections name the environment variables that hold them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.errors import ConfigurationError

ADAPTERS = ("discord", "slack", "mail")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSettings(_Strict):
    """The one aiohttp server: unsubscribe and invitation links, health, metrics, Slack HTTP events."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    #: How members' links start (behind a reverse proxy this is the public https address).
    public_url: str = "http://127.0.0.1:8080"


class Settings(_Strict):
    database_url: str | None = None
    timezone: str = "UTC"
    locale: str = "en"
    #: Environment variable holding the secret that signs links (unsubscribe, accept/decline).
    secret_env: str = "COHORTBOT_SECRET"  # noqa: S105 (a variable name, not a secret)
    #: Segmentation rules file (default: the bundled one); see docs/segmentation.md.
    rules: Path | None = None
    #: Programme catalogue file (default: the bundled one); see docs/programmes.md.
    programmes: Path | None = None
    web: WebSettings = WebSettings()
    #: The weekly digest: ``schedule`` (cron in ``timezone``, default Mondays 09:00), ``channels``
    #: and the rest, validated by the digest's own model (docs/digest.md).
    digest: dict[str, Any] = Field(default_factory=dict)
    #: The managers (validated by the command core's own model).
    managers: dict[str, Any] = Field(default_factory=dict)
    #: Policy knobs (caps, cooldowns, quiet hours), validated by the programmes' policy model.
    policy: dict[str, Any] = Field(default_factory=dict)
    #: One section per platform; a section with ``enabled = false`` is kept but not started.
    adapters: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Rome)") from exc
        return value

    @field_validator("adapters")
    @classmethod
    def _known_adapters(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = sorted(set(value) - set(ADAPTERS))
        if unknown:
            raise ValueError(f"unknown adapter(s) {', '.join(unknown)}; known: {', '.join(ADAPTERS)}")
        return value

    def enabled_adapters(self) -> dict[str, dict[str, Any]]:
        return {
            name: {k: v for k, v in section.items() if k != "enabled"}
            for name, section in self.adapters.items()
            if section.get("enabled", True)
        }

    def secret(self) -> bytes:
        """The link-signing secret; a missing one is a configuration error only when links are served."""
        value = os.environ.get(self.secret_env, "")
        if not value:
            raise ConfigurationError(
                f"set the environment variable {self.secret_env} to a long random string "
                "(it signs unsubscribe and invitation links)"
            )
        return value.encode()


def _explain(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: the configuration cannot work:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (a typo?)"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the file; no file means the embedded defaults (no adapters, no managers)."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"configuration file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    return parse_settings(data, source=str(path))


def parse_settings(data: dict[str, Any], *, source: str = "configuration") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(_explain(exc, source)) from exc
