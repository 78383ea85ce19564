"""``classify(features, profile, ...) -> SegmentDecision``: pure, no I/O, explainable.

Every rule of the table that fires adds its weight to one value of its dimension; the
value with the most weight wins when the evidence is strong enough, and otherwise the
answer is an honest ``unknown``. Manager overrides are pinned and win. The segments a
member belongs to follow from the decided values and the configured expressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from segmentation.config import DimensionSettings, SegmentationConfig
from segmentation.domains import DomainInfo, OrgKnowledge
from segmentation.engagement import engagement
from segmentation.features import MemberFeatures, Profile
from segmentation.model import (
    UNKNOWN,
    DimensionDecision,
    Example,
    Reason,
    SegmentDecision,
    quick_decision,
    quick_reason,
)
from segmentation.rules import RULES, Check, Finding, Params, RuleContext

_RULE_DIMENSIONS = ("skill", "purpose", "org_type", "org_size", "location")


@dataclass(frozen=True, slots=True)
class Previous:
    """The member's current decision for one dimension before this round."""

    value: str
    pinned_by: str | None = None


class Pin(Protocol):
    """What ``classify`` reads of a member's current decision for one dimension: a ``Previous``,
    or the store's current row as it is (``repository.CurrentRow``), with no copy made per call."""

    @property
    def value(self) -> str: ...

    @property
    def pinned_by(self) -> str | None: ...


Rules = list[tuple[str, Check, Params, float]]
#: Per rule dimension: its rules with their settings, and the dimension's thresholds.
Plan = dict[str, tuple[Rules, DimensionSettings]]


def _plan(config: SegmentationConfig) -> Plan:
    """The rules of each dimension with their settings, worked out once per settings object
    (``config.dimension`` validates defaults afresh on every call: too dear per member)."""
    plan: Plan | None = config.memo.get("plan")
    if plan is None:
        rules: dict[str, Rules] = {d: [] for d in _RULE_DIMENSIONS}
        for rule in RULES:
            params = Params(config.rule(rule.name))
            if params.weight > 0:  # a weight of 0 switches a rule off
                rules[rule.dimension].append((rule.name, rule.check, params, params.weight))
        plan = {d: (rules[d], config.dimension(d)) for d in _RULE_DIMENSIONS}
        config.memo["plan"] = plan
    return plan


#: The decision of a dimension no rule spoke for. Decisions are immutable, and over half of
#: all are this one, so each dimension's is built once and shared.
_NOTHING_FOUND = {d: DimensionDecision(d, UNKNOWN, 0.0) for d in _RULE_DIMENSIONS}


def profile_domains(profile: Profile, knowledge: OrgKnowledge) -> tuple[DomainInfo, ...]:
    name = profile.display_name
    return tuple(knowledge.lookup(email, display_name=name) for email in profile.emails)


def signing_domains(features: MemberFeatures, knowledge: OrgKnowledge) -> tuple[DomainInfo, ...]:
    return tuple(knowledge.lookup(d) for d in features.signing_domains())


#: Messages cited per decision.
_EXAMPLES = 3


def _decide(
    dimension: str,
    findings: list[tuple[str, Finding, float]],
    features: MemberFeatures,
    settings: DimensionSettings,
) -> DimensionDecision:
    if not findings:
        return _NOTHING_FOUND[dimension]
    scores: dict[str, float] = {}
    for _, finding, weight in findings:
        scores[finding.value] = scores.get(finding.value, 0.0) + weight
    reasons = tuple([quick_reason(name, f.value, round(w, 3), f.says) for name, f, w in findings])
    best = max(scores, key=lambda v: scores[v])
    total = sum(scores.values())
    confidence = scores[best] / (total + settings.prior)
    if scores[best] < settings.min_score or confidence < settings.min_confidence:
        why = Reason(
            "thin-evidence",
            UNKNOWN,
            0.0,
            f"evidence too thin or mixed to say (best: {best} at {confidence:.2f})",
        )
        return quick_decision(dimension, UNKNOWN, round(1 - confidence, 3), (*reasons, why))
    return quick_decision(dimension, best, round(confidence, 3), reasons, _examples(findings, best, features))


def _examples(
    findings: list[tuple[str, Finding, float]], best: str, features: MemberFeatures
) -> tuple[Example, ...]:
    """The member's first few distinct messages behind the findings for the winning value."""
    examples: list[Example] = []
    seen: set[str] = set()
    for _, finding, _ in findings:
        if finding.value != best or not finding.examples:
            continue
        for key in finding.examples:
            for uid, text in features.examples.get(key, ()):
                if uid not in seen:
                    seen.add(uid)
                    examples.append(Example(uid, text))
                    if len(examples) == _EXAMPLES:
                        return tuple(examples)
    return tuple(examples)


#: Distinct combinations of values remembered per settings object (a handful in practice).
_SEGMENT_MEMO_SIZE = 4096


def _segments(config: SegmentationConfig, decisions: Mapping[str, DimensionDecision]) -> tuple[str, ...]:
    """The configured segments these values fall in; the expressions depend on the values only,
    and members share few combinations of them, so each combination is worked out once."""
    key = tuple((d, dec.value) for d, dec in decisions.items())
    memo: dict[tuple[tuple[str, str], ...], tuple[str, ...]] | None = config.memo.get("segments")
    if memo is None:
        memo = config.memo["segments"] = {}
    found = memo.get(key)
    if found is None:
        values = {d: dec.value for d, dec in decisions.items()}
        found = tuple(name for name, (expr, _) in config.segments.items() if expr.matches(values))
        if len(memo) >= _SEGMENT_MEMO_SIZE:
            memo.clear()
        memo[key] = found
    return found


def classify(
    features: MemberFeatures,
    profile: Profile,
    *,
    config: SegmentationConfig,
    knowledge: OrgKnowledge,
    as_of: datetime,
    previous: Mapping[str, Pin] | None = None,
) -> SegmentDecision:
    """Decide every dimension for one member from their features and profile.

    ``previous``: the member's current decisions by dimension (``Previous`` or the stored rows).
    """
    previous = previous or {}
    plan = _plan(config)
    domains = profile_domains(profile, knowledge)
    signed = signing_domains(features, knowledge)
    decided: dict[str, str] = {}
    decisions: dict[str, DimensionDecision] = {}
    # One context for every dimension: ``decided`` is the same dict, filled in as they are decided.
    ctx = RuleContext(
        features=features, profile=profile, domains=domains, signed=signed, decided=decided, as_of=as_of
    )
    for dimension in _RULE_DIMENSIONS:
        pin = previous.get(dimension)
        if pin is not None and pin.pinned_by:
            decisions[dimension] = DimensionDecision(dimension, pin.value, 1.0, pinned_by=pin.pinned_by)
            decided[dimension] = pin.value
            continue
        rules, settings = plan[dimension]
        findings: list[tuple[str, Finding, float]] = []
        for name, check, params, weight in rules:
            finding = check(ctx, params)
            if finding is not None:
                findings.append((name, finding, weight * finding.strength))
        decision = _decide(dimension, findings, features, settings)
        decisions[dimension] = decision
        decided[dimension] = decision.value
    pin = previous.get("engagement")
    if pin is not None and pin.pinned_by:
        decisions["engagement"] = DimensionDecision("engagement", pin.value, 1.0, pinned_by=pin.pinned_by)
    else:
        decisions["engagement"] = engagement(
            features,
            today=as_of.date(),
            settings=config.engagement,
            previous=pin.value if pin else None,
        )
    segments = _segments(config, decisions)
    if profile.is_bot:
        segments = ()  # bots are kept apart from every segment
    return SegmentDecision(dimensions=decisions, ruleset_version=config.ruleset_version, segments=segments)
