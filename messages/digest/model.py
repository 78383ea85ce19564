"""The weekly digest as plain data: frozen, JSON-serialisable, rendered by every front end.

``Digest.to_json()`` is what ``DigestRun.content`` keeps, so a run that was built but not
yet sent (a crash in between) is rendered again from exactly the same figures; and
``Digest.from_json`` reads it back. Times are ISO-8601 strings so the JSON needs no codec.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Totals:
    members: int
    members_change: int
    active: int
    active_change: int
    new: int
    new_change: int


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """One segment's members (as of the week's end), those active in the week, and newcomers."""

    segment: str
    description: str
    financial_impact: int
    strategic_importance: int
    members: int
    members_change: int
    active: int
    active_change: int
    new: int
    new_change: int


@dataclass(frozen=True, slots=True)
class SegmentMove:
    """How many existing members entered and left a segment during the week."""

    segment: str
    entered: int
    left: int


@dataclass(frozen=True, slots=True)
class MemberNote:
    """A member named in the digest, with why (the evidence lines of the deciding dimensions)."""

    member_id: int
    name: str
    new_this_week: bool
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Newcomer:
    member_id: int
    name: str
    first_seen: str
    platform: str
    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Question:
    uid: str
    member_id: int
    name: str
    asked_at: str
    place: str
    excerpt: str
    hours_waiting: int


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    """Unanswered questions of one segment; ``warning`` where that segment waiting is a bad sign."""

    segment: str
    warning: bool
    count: int
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Funnel:
    """A programme's invitations as of the week's end, and how many moved this week."""

    programme: str
    invited: int
    opened: int
    accepted: int
    active: int
    invited_week: int
    opened_week: int
    accepted_week: int
    active_week: int


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    member_id: int
    name: str
    points_week: int
    points_total: int


@dataclass(frozen=True, slots=True)
class Leaderboard:
    programme: str
    standings: tuple[Standing, ...]


@dataclass(frozen=True, slots=True)
class Helper:
    """Someone who helped others this week: answers to others' questions, thanks received, solutions."""

    member_id: int
    name: str
    answers: int
    thanked: int
    solved: int
    score: int


@dataclass(frozen=True, slots=True)
class MatrixPoint:
    """A segment on the article's matrix: x financial impact, y strategic importance (1-5)."""

    segment: str
    financial_impact: int
    strategic_importance: int
    members: int


@dataclass(frozen=True, slots=True)
class Series:
    segment: str
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ActivityChart:
    """Activities per segment for each of the last weeks (oldest first)."""

    weeks: tuple[str, ...]
    series: tuple[Series, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    week: str
    timezone: str
    start: str
    end: str
    generated_at: str
    totals: Totals
    segments: tuple[SegmentRow, ...]
    movements: tuple[SegmentMove, ...]
    #: False on the first classification: nothing to compare with, so no movements yet.
    has_baseline: bool
    champions_new: tuple[MemberNote, ...]
    at_risk: tuple[MemberNote, ...]
    newcomers: tuple[Newcomer, ...]
    newcomers_total: int
    questions: tuple[QuestionGroup, ...]
    questions_total: int
    question_hours: int
    funnels: tuple[Funnel, ...]
    leaderboards: tuple[Leaderboard, ...]
    helpers: tuple[Helper, ...]
    matrix: tuple[MatrixPoint, ...]
    activity: ActivityChart

    @property
    def warnings(self) -> tuple[QuestionGroup, ...]:
        return tuple(g for g in self.questions if g.warning and g.count)

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], _plain(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Digest:
        return _build(cls, data)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _build(cls: type[T], data: Any) -> T:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _convert(hints[f.name], data[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        return tuple(_convert(inner, v) for v in value)
    if origin is types.UnionType or origin is typing.Union:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    return value
