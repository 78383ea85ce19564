"""Programmes as data: the catalogue of what the bot invites members to, validated at start-up.

A programme names who it is for (an expression over segments and dimensions), what it
offers, how points are earned and over which period the leaderboard runs, and whether a
manager approves each invitation. Everything comes from ``messages/config/programmes.toml``
(or a manager's copy) and is checked with pydantic, so a typo — an unknown key, a segment
that does not exist, a points rule nobody implements — stops start-up with a message that
names it instead of quietly inviting nobody.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.errors import ConfigurationError
from bot.core.toml_config import parse_toml, read_settings_text
from segmentation.expressions import Expression, Predicate

PLATFORMS = ("discord", "slack", "mail")
Period = Literal["week", "month", "quarter", "year", "all"]

#: Points rules that ``messages.points`` and ``messages.hero`` know how to apply.
POINTS_RULES = frozenset({"bug_reported", "bug_fixed", "answer_confirmed", "patch_posted", "device_report"})

#: Segments where a person should follow up rather than a bot: invitations of members who
#: are in one of these wait for a manager unless the programme says otherwise.
BUSINESS_SEGMENTS = frozenset({"system_integrators", "isvs", "service_providers", "device_makers"})

#: Key under which a member's segment membership reaches a compiled target (never a dimension name).
_SEGMENT_KEY = "segment:"


class Target(Expression):
    """A programme's target: the segment expression language plus bare segment names.

    ``developers or (skill == 'technical' and engagement == 'core')``: a bare name is
    true when the member is in that segment; comparisons work on dimensions as in
    segment definitions. Unknown names of either kind are configuration errors.
    """

    def __init__(self, source: str, *, segments: Collection[str]) -> None:
        self._known_segments = frozenset(segments)
        super().__init__(source)
        names = {n.id for n in ast.walk(ast.parse(source.strip(), mode="eval")) if isinstance(n, ast.Name)}
        #: The segments the expression names, in sorted order (evidence for ``whyme``).
        self.segments = tuple(sorted(names & self._known_segments))

    def _compile(self, node: ast.expr) -> Predicate:
        if isinstance(node, ast.Name):
            if node.id not in self._known_segments:
                known = ", ".join(sorted(self._known_segments)) or "none"
                raise self._fail(node, f"unknown segment (known segments: {known})")
            key = _SEGMENT_KEY + node.id
            return lambda v: key in v
        return super()._compile(node)

    def matches_member(self, segments: Collection[str], dimensions: Mapping[str, str]) -> bool:
        return self.matches(member_values(segments, dimensions))


def member_values(segments: Collection[str], dimensions: Mapping[str, str]) -> dict[str, str]:
    """What a ``Target`` matches against: the dimension values and the segments the member is in."""
    values = dict(dimensions)
    values.update({_SEGMENT_KEY + s: "1" for s in segments})
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProgrammeSettings(_Strict):
    """One ``[programmes.<name>]`` table as written."""

    title: str
    target: str
    benefit: str = ""
    description: str = ""
    #: Template name per platform; "default" serves platforms not listed.
    templates: dict[str, str] = Field(default_factory=lambda: {"default": "invite"})
    points: dict[str, int] = Field(default_factory=dict)
    leaderboard: Period = "quarter"
    public_scoreboard: bool = False
    #: true: every invitation waits for a manager; false: none; a list: members in those segments.
    #: Unset: the business segments the target names.
    approval: bool | list[str] | None = None
    #: Platforms in order of preference; empty means wherever the member is reachable.
    platforms: list[str] = Field(default_factory=list)
    expires_after_days: int = Field(14, ge=1, le=365)
    enabled: bool = True

    @field_validator("templates")
    @classmethod
    def _template_platforms(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {"default", *PLATFORMS})
        if unknown:
            raise ValueError(f"unknown platform(s) {', '.join(unknown)}; use default, {', '.join(PLATFORMS)}")
        return value

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(PLATFORMS))
        if unknown:
            raise ValueError(f"unknown platform(s) {', '.join(unknown)}; use {', '.join(PLATFORMS)}")
        return value

    @field_validator("points")
    @classmethod
    def _points(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - POINTS_RULES)
        if unknown:
            raise ValueError(
                f"unknown points rule(s) {', '.join(unknown)}; known: {', '.join(sorted(POINTS_RULES))}"
            )
        return value


class PolicySettings(_Strict):
    """``[policy]``: how often anyone may be invited, and when."""

    cap_per_30_days: int = Field(2, ge=1)
    cooldown_days: int = Field(7, ge=0)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    #: Messages of any kind to one member per 24 hours before an invitation waits a day.
    max_messages_per_day: int = Field(3, ge=1)


class HeroSettings(_Strict):
    """``[hero]``: Community Hero's "did that solve it?" loop."""

    programme: str = "community-hero"
    check_delay_minutes: int = Field(60, ge=0)
    solved_words: list[str] = Field(default_factory=lambda: ["solved", "yes", "fixed", "worked", "works"])
    unsolved_words: list[str] = Field(default_factory=lambda: ["no", "not solved", "unsolved", "didn't"])
    solved_reactions: list[str] = Field(
        default_factory=lambda: [
            "✅",
            "✔️",
            "☑️",
            "white_check_mark",
            "heavy_check_mark",
            "ballot_box_with_check",
        ]
    )


class _Document(_Strict):
    version: str = "1"
    policy: PolicySettings = Field(default_factory=lambda: PolicySettings.model_validate({}))
    hero: HeroSettings = Field(default_factory=lambda: HeroSettings.model_validate({}))
    programmes: dict[str, ProgrammeSettings] = Field(default_factory=dict)


class Programme:
    """A validated programme with its target compiled."""

    __slots__ = ("approval_segments", "name", "settings", "target")

    def __init__(
        self, name: str, settings: ProgrammeSettings, *, segments: Collection[str], source: str
    ) -> None:
        self.name = name
        self.settings = settings
        try:
            self.target = Target(settings.target, segments=segments)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: programmes.{name}.target: {exc}") from None
        approval = settings.approval
        if isinstance(approval, list):
            unknown = sorted(set(approval) - set(segments))
            if unknown:
                raise ConfigurationError(
                    f"{source}: programmes.{name}.approval: unknown segment(s) {', '.join(unknown)}"
                )
        #: None: every invitation needs approval; otherwise members in these segments do.
        self.approval_segments: frozenset[str] | None
        if approval is True:
            self.approval_segments = None
        elif approval is False:
            self.approval_segments = frozenset()
        elif approval is None:
            self.approval_segments = frozenset(self.target.segments) & BUSINESS_SEGMENTS
        else:
            self.approval_segments = frozenset(approval)

    @property
    def title(self) -> str:
        return self.settings.title

    def template(self, platform: str) -> str:
        t = self.settings.templates
        return t.get(platform) or t.get("default") or "invite"

    def points_for(self, rule: str) -> int:
        return self.settings.points.get(rule, 0)

    def needs_approval(self, segments: Collection[str]) -> bool:
        if self.approval_segments is None:
            return True
        return not self.approval_segments.isdisjoint(segments)

    def eligible(self, segments: Collection[str], dimensions: Mapping[str, str]) -> bool:
        return self.target.matches_member(segments, dimensions)

    def matched_segment(self, segments: Collection[str]) -> str:
        """The segment to record an invitation under: the first the target names that the member is in."""
        for s in self.target.segments:
            if s in segments:
                return s
        return next(iter(sorted(segments)), "-")


class Catalogue:
    """Every programme in priority order (the order of the file), with the policy settings."""

    def __init__(self, document: _Document, *, segments: Collection[str], source: str) -> None:
        self.source = source
        self.version = document.version
        self.policy = document.policy
        self.hero = document.hero
        self.programmes: dict[str, Programme] = {
            name: Programme(name, s, segments=segments, source=source)
            for name, s in document.programmes.items()
            if s.enabled
        }
        self.segment_names = frozenset(segments)

    def __iter__(self) -> Iterator[Programme]:
        return iter(self.programmes.values())

    def __contains__(self, name: object) -> bool:
        return name in self.programmes

    def get(self, name: str) -> Programme:
        try:
            return self.programmes[name]
        except KeyError:
            known = ", ".join(self.programmes) or "none"
            raise ConfigurationError(f"unknown programme {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return list(self.programmes)


def _default_segments() -> frozenset[str]:
    from segmentation.config import load_config

    return frozenset(load_config().segments)


def default_catalogue_text() -> str:
    return (resources.files("messages") / "config" / "programmes.toml").read_text(encoding="utf-8")


def load_catalogue(path: Path | None = None, *, segments: Collection[str] | None = None) -> Catalogue:
    """Read the catalogue (or the packaged default) and validate it completely.

    ``segments`` are the segment names in force (the segmentation settings'); by default
    those of the packaged segmentation settings.
    """
    text, source = read_settings_text(path, default=default_catalogue_text, what="programmes")
    return load_catalogue_text(text, source=source, segments=segments)


def load_catalogue_text(
    text: str, *, source: str = "programmes", segments: Collection[str] | None = None
) -> Catalogue:
    document = parse_toml(_Document, text, source=source)
    return Catalogue(document, segments=_default_segments() if segments is None else segments, source=source)
