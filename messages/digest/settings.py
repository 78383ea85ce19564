"""What a community configures about its digest: who gets it, which segments it watches, catch-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: After downtime: send only the most recent completed week ("latest"), or every missed week ("each").
CatchUp = Literal["latest", "each"]


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
