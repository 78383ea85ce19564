"""Segmentation settings from TOML: thresholds, rule weights, channel hints, orgs, segments.

Parsed with pydantic at the edge so that a typo (an unknown rule name, a weight that is
not a number, a dimension that does not exist) stops start-up with a message that
names the setting, instead of silently classifying everyone differently.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.core.errors import ConfigurationError
from bot.core.toml_config import parse_toml, read_settings_text
from segmentation.expressions import Expression


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionSettings(_Strict):
    min_score: float = 1.5
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    prior: float = Field(1.0, ge=0.0)


class EngagementSettings(_Strict):
    newcomer_days: int = 30
    dormant_days: int = 90
    recent_days: int = 30
    baseline_days: int = 90
    at_risk_ratio: float = 0.35
    regular_min_per_30_days: float = 2.0
    regular_min_active_weeks: int = 3
    core_min_per_30_days: float = 8.0
    core_min_answers: int = 5
    demotion_grace_days: int = 14


class SegmentSettings(_Strict):
    when: str
    description: str = ""
    financial_impact: int = Field(3, ge=1, le=5)
    strategic_importance: int = Field(3, ge=1, le=5)


class OrgSettings(_Strict):
    name: str
    type: str
    size: str = "unknown"


class _Document(_Strict):
    version: str
    dimensions: dict[str, DimensionSettings] = Field(default_factory=dict)
    rules: dict[str, dict[str, float]] = Field(default_factory=dict)
    engagement: EngagementSettings = Field(default_factory=EngagementSettings)
    channel_hints: dict[str, str] = Field(default_factory=dict)
    orgs: dict[str, OrgSettings] = Field(default_factory=dict)
    segments: dict[str, SegmentSettings] = Field(default_factory=dict)


HINTS = ("technical", "end_user", "business", "academic")


class SegmentationConfig:
    """The validated settings, with segment expressions compiled and a ruleset version."""

    def __init__(self, document: _Document, *, digest: str, source: str, text: str = "") -> None:
        self.document = document
        self.source = source
        #: The settings as written, so a worker process can load exactly the same ruleset.
        self.text = text
        #: Derived data that users of the settings compute once (the classifier's rule plan).
        self.memo: dict[str, Any] = {}
        self.ruleset_version = f"{document.version}+{digest[:10]}"
        self.segments = {name: (Expression(s.when), s) for name, s in document.segments.items()}
        for channel, hint in document.channel_hints.items():
            if hint not in HINTS:
                raise ConfigurationError(
                    f"{source}: channel hint {channel!r} = {hint!r}; use one of {', '.join(HINTS)}"
                )

    def dimension(self, name: str) -> DimensionSettings:
        return self.document.dimensions.get(name) or DimensionSettings.model_validate({})

    def rule(self, name: str) -> dict[str, float]:
        return self.document.rules.get(name, {})

    @property
    def engagement(self) -> EngagementSettings:
        return self.document.engagement

    def channel_hint(self, platform: str, channel_id: str, name: str) -> str | None:
        hints = self.document.channel_hints
        return hints.get(f"{platform}:{channel_id}") or hints.get(name) or hints.get(name.lstrip("#"))

    def org_overrides(self) -> dict[str, dict[str, str]]:
        return {d: o.model_dump() for d, o in self.document.orgs.items()}


def default_config_text() -> str:
    return (resources.files("segmentation") / "config" / "default.toml").read_text(encoding="utf-8")


def load_config(path: Path | None = None, *, known_rules: frozenset[str] | None = None) -> SegmentationConfig:
    """Read a settings file (or the packaged default) and validate it completely."""
    text, source = read_settings_text(path, default=default_config_text, what="segmentation settings")
    return load_config_text(text, source=source, known_rules=known_rules)


def load_config_text(
    text: str, *, source: str = "segmentation settings", known_rules: frozenset[str] | None = None
) -> SegmentationConfig:
    """Validate settings given as TOML text (``load_config`` reads the file first)."""
    document = parse_toml(_Document, text, source=source)
    if known_rules is not None:
        unknown = sorted(set(document.rules) - known_rules)
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown rule(s) {', '.join(unknown)}; "
                f"known rules: {', '.join(sorted(known_rules))}"
            )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SegmentationConfig(document, digest=digest, source=source, text=text)
