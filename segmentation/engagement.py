"""Engagement: how active a member is, against their own history rather than everyone's.

Levels go up at once and down only when the lower level has held for a grace period
(dormancy, 90 silent days, needs none),
judged statelessly: a demotion is applied only if the member would also have been
demoted ``demotion_grace_days`` ago. That keeps one quiet week from flapping a regular
between "regular" and "at risk".
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from segmentation.config import EngagementSettings
from segmentation.features import MemberFeatures
from segmentation.model import DimensionDecision, Reason

# Higher is more engaged; newcomer sits outside the ladder (it is about time, not activity).
_RANK = {"dormant": 0, "at_risk": 1, "casual": 2, "regular": 3, "core": 4}


class _Level(NamedTuple):
    """A level with its reason in words; a named tuple: one is built per member and day judged."""

    value: str
    says: str
    confidence: float


def _level(f: MemberFeatures, today: date, s: EngagementSettings) -> _Level:
    first_at, last_at = f.first(), f.last()
    if first_at is None or last_at is None:
        return _Level("dormant", "no activity at all", 0.5)
    last = last_at.date()
    first = first_at.date()
    silent = (today - last).days
    if silent >= s.dormant_days:
        return _Level("dormant", f"silent for {silent} days (since {last})", 0.95)
    if (today - first).days < s.newcomer_days:
        return _Level("newcomer", f"first seen {first}, {(today - first).days} days ago", 0.95)
    recent_start = today - timedelta(days=s.recent_days)
    base_start = recent_start - timedelta(days=s.baseline_days)
    recent = f.activity_between(recent_start, today + timedelta(days=1))
    baseline = f.activity_between(base_start, recent_start)
    baseline_per_period = baseline * s.recent_days / s.baseline_days
    if (
        baseline_per_period >= s.regular_min_per_30_days
        and recent < s.at_risk_ratio * baseline_per_period
        and (today - first).days >= s.recent_days + s.baseline_days // 2
    ):
        return _Level(
            "at_risk",
            f"{recent} activities in the last {s.recent_days} days against about "
            f"{baseline_per_period:.0f} usually",
            0.85,
        )
    window_start = today - timedelta(days=s.baseline_days)
    per_period = f.activity_between(window_start, today + timedelta(days=1)) * s.recent_days / s.baseline_days
    weeks = f.active_weeks_between(window_start, today + timedelta(days=1))
    if per_period >= s.core_min_per_30_days and f.answers >= s.core_min_answers:
        return _Level(
            "core",
            f"about {per_period:.0f} activities a month, active {weeks} weeks, {f.answers} answers",
            0.9,
        )
    if per_period >= s.regular_min_per_30_days and weeks >= s.regular_min_active_weeks:
        return _Level(
            "regular", f"about {per_period:.0f} activities a month, active {weeks} of 13 weeks", 0.85
        )
    return _Level("casual", f"about {per_period:.1f} activities a month over the last three months", 0.8)


def engagement(
    features: MemberFeatures,
    *,
    today: date,
    settings: EngagementSettings,
    previous: str | None = None,
) -> DimensionDecision:
    """The member's engagement level as of ``today``, with hysteresis against ``previous``."""
    now = _level(features, today, settings)
    # Dormancy is itself 90 days of silence: it needs no further grace.
    demotion = previous in _RANK and now.value in _RANK and _RANK[now.value] < _RANK[previous]
    if demotion and now.value != "dormant" and previous is not None:
        earlier = _level(features, today - timedelta(days=settings.demotion_grace_days), settings)
        if earlier.value in _RANK and _RANK[earlier.value] >= _RANK[previous]:
            return DimensionDecision(
                "engagement",
                previous,
                now.confidence * 0.8,
                (
                    Reason(
                        "demotion-grace",
                        previous,
                        1.0,
                        f"kept at {previous} for now: {now.says}, but not yet for "
                        f"{settings.demotion_grace_days} days",
                    ),
                ),
            )
    decision = _DECISIONS.get(now)
    if decision is None:
        decision = DimensionDecision(
            "engagement", now.value, now.confidence, (Reason("activity", now.value, 1.0, now.says),)
        )
        if len(_DECISIONS) >= _MEMO_SIZE:
            _DECISIONS.clear()
        _DECISIONS[now] = decision
    return decision


#: Decisions by level: members judged on the same day often share one (decisions are
#: immutable, and a shared one is also recognised at once when its evidence is digested).
_DECISIONS: dict[_Level, DimensionDecision] = {}
_MEMO_SIZE = 4096
