"""Value objects of segmentation: dimensions, decisions and the evidence a person can read.

These cross package lines (messages/ reads them to pick programmes and explain "why me?"),
so they are plain frozen dataclasses with no store or I/O attached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DIMENSIONS: tuple[str, ...] = ("skill", "purpose", "org_type", "org_size", "location", "engagement")

#: Allowed values per dimension; ``location`` takes ISO 3166 codes besides ``unknown``.
VALUES: Mapping[str, tuple[str, ...]] = {
    "skill": ("technical", "non_technical", "unknown"),
    "purpose": ("business", "volunteer", "academic", "unknown"),
    "org_type": (
        "device_maker",
        "isv",
        "system_integrator",
        "service_provider",
        "end_user_org",
        "n/a",
        "unknown",
    ),
    "org_size": ("large", "sme", "n/a", "unknown"),
    "location": ("unknown",),
    "engagement": ("newcomer", "casual", "regular", "core", "at_risk", "dormant"),
}

UNKNOWN = "unknown"


def valid_value(dimension: str, value: str) -> bool:
    """Whether a manager's override names a real value (location accepts any ISO-like code)."""
    if dimension not in VALUES:
        return False
    if dimension == "location":
        return value == UNKNOWN or (2 <= len(value) <= 6 and value.replace("-", "").isalnum())
    return value in VALUES[dimension]


@dataclass(frozen=True, slots=True)
class Example:
    """One of the member's own messages that shows a feature, by id and a short excerpt."""

    event_uid: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class Reason:
    """A rule that fired: what it saw, in words, and which value it pushed with what weight."""

    rule: str
    value: str
    weight: float
    says: str


@dataclass(frozen=True, slots=True)
class DimensionDecision:
    dimension: str
    value: str
    confidence: float
    reasons: tuple[Reason, ...] = ()
    examples: tuple[Example, ...] = ()
    pinned_by: str | None = None
    #: The export worked out elsewhere (a rebuild's worker process), used as it is; a
    #: decision made from it carries no reasons objects of its own.
    exported: Mapping[str, Any] | None = field(default=None, compare=False)

    def as_export(self) -> dict[str, Any]:
        if self.exported is not None:
            return dict(self.exported)
        evidence: list[dict[str, Any]] = [
            {"rule": r.rule, "value": r.value, "weight": round(r.weight, 3), "says": r.says}
            for r in self.reasons
        ]
        evidence += [{"message": e.event_uid, "excerpt": e.excerpt} for e in self.examples]
        out: dict[str, Any] = {
            "value": self.value,
            "confidence": round(self.confidence, 3),
            "evidence": evidence,
        }
        if self.pinned_by:
            out["pinned_by"] = self.pinned_by
        return out


#: A decision as plain data: (ruleset version, segments, {dimension: (value, confidence, pinned_by, export)}).
Wire = tuple[str, tuple[str, ...], dict[str, tuple[str, float, str | None, dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class SegmentDecision:
    """Every dimension for one member, the segments that follow, and the ruleset that decided."""

    dimensions: Mapping[str, DimensionDecision]
    ruleset_version: str
    segments: tuple[str, ...] = field(default=())

    def value(self, dimension: str) -> str:
        d = self.dimensions.get(dimension)
        return d.value if d else UNKNOWN

    def to_wire(
        self,
    ) -> tuple[str, tuple[str, ...], dict[str, tuple[str, float, str | None, dict[str, Any]]]]:
        """Plain tuples and dicts: cheap to send between processes (dataclasses pickle slowly)."""
        return (
            self.ruleset_version,
            self.segments,
            {d: (v.value, v.confidence, v.pinned_by, v.as_export()) for d, v in self.dimensions.items()},
        )

    @classmethod
    def from_wire(cls, wire: Wire) -> SegmentDecision:
        version, segments, dims = wire
        return cls(
            dimensions={
                d: DimensionDecision(d, value, confidence, pinned_by=pinned, exported=export)
                for d, (value, confidence, pinned, export) in dims.items()
            },
            ruleset_version=version,
            segments=tuple(segments),
        )


# ---- quick construction for the classifier's inner loop -----------------------------------
# A frozen dataclass's __init__ sets each field through object.__setattr__; the slots'
# own descriptors do the same store for about half the cost. The classifier builds a few
# hundred reasons and decisions per batch of events, so it uses these; the objects are the
# same in every respect (a test compares them field by field with the constructors' output).

_new = object.__new__
_REASON_FIELDS = ("rule", "value", "weight", "says")
_DECISION_FIELDS = ("dimension", "value", "confidence", "reasons", "examples", "pinned_by", "exported")
_set_rule, _set_r_value, _set_weight, _set_says = (getattr(Reason, n).__set__ for n in _REASON_FIELDS)
(
    _set_dimension,
    _set_d_value,
    _set_confidence,
    _set_reasons,
    _set_examples,
    _set_pinned_by,
    _set_exported,
) = (getattr(DimensionDecision, n).__set__ for n in _DECISION_FIELDS)


def quick_reason(rule: str, value: str, weight: float, says: str) -> Reason:
    """``Reason(rule, value, weight, says)``, built for less."""
    r = _new(Reason)
    _set_rule(r, rule)
    _set_r_value(r, value)
    _set_weight(r, weight)
    _set_says(r, says)
    return r


def quick_decision(
    dimension: str,
    value: str,
    confidence: float,
    reasons: tuple[Reason, ...],
    examples: tuple[Example, ...] = (),
) -> DimensionDecision:
    """``DimensionDecision(dimension, value, confidence, reasons, examples)``, built for less."""
    d = _new(DimensionDecision)
    _set_dimension(d, dimension)
    _set_d_value(d, value)
    _set_confidence(d, confidence)
    _set_reasons(d, reasons)
    _set_examples(d, examples)
    _set_pinned_by(d, None)
    _set_exported(d, None)
    return d
