"""What a community configures about its digest: who gets it, which segments it watches, catch-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.errors import ConfigurationError

#: After downtime: send only the most recent completed week ("latest"), or every missed week ("each").
CatchUp = Literal["latest", "each"]


#: Where a digest can be posted; e-mail goes to opted-in managers instead.
CHANNEL_PLATFORMS = ("discord", "slack")


@dataclass(frozen=True, slots=True)
class Destination:
    """A maintainers' channel the digest is posted to."""

    platform: str  # "discord" or "slack"
    channel: str  # the platform's channel id


@dataclass(frozen=True, slots=True)
class DigestSettings:
    channels: tuple[Destination, ...] = ()
    #: Also mail it to managers who opted in (Consent scope "digest", state "in") and have an address.
    mail_opt_ins: bool = True
    catch_up: CatchUp = "latest"
    #: How many completed weeks back a catch-up looks at most (older weeks are never sent late).
    catch_up_weeks: int = 4
    champion_segment: str = "champions"
    at_risk_segment: str = "at_risk"
    #: Segments whose unanswered questions are a warning sign.
    warning_segments: tuple[str, ...] = ("end_users",)
    question_hours: int = 48
    question_lookback_days: int = 14
    chart_weeks: int = 12
    list_limit: int = 10
    #: A run still "building" after this long belongs to a process that died; the next run takes over.
    stale_after_minutes: int = 30

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "[digest]") -> DigestSettings:
        """From the configuration's ``[digest]`` table; ``schedule`` belongs to the scheduler and is
        skipped here. A typo or an unknown platform stops start-up instead of silently sending nowhere."""
        known = {f for f in cls.__dataclass_fields__} | {"schedule"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(f"{source}: unknown setting(s) {', '.join(unknown)}")
        channels = []
        for i, entry in enumerate(data.get("channels", ())):
            platform, channel = str(entry.get("platform", "")), str(entry.get("channel", "")).strip()
            if platform not in CHANNEL_PLATFORMS or not channel or set(entry) - {"platform", "channel"}:
                raise ConfigurationError(
                    f"{source}: channels[{i}] must be {{platform = \"discord\"|\"slack\", channel = \"ID\"}}"
                )
            channels.append(Destination(platform, channel))
        values: dict[str, Any] = {k: v for k, v in data.items() if k not in ("schedule", "channels")}
        if values.get("catch_up", "latest") not in ("latest", "each"):
            raise ConfigurationError(f"{source}: catch_up must be \"latest\" or \"each\"")
        if "warning_segments" in values:
            values["warning_segments"] = tuple(values["warning_segments"])
        return cls(channels=tuple(channels), **values)
