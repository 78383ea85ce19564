"""Why a member got an invitation: the rule, the segment and the evidence, kept for ``whyme``.

The planner stores this with each invitation at the moment of the decision, because the
member's segments move on; ``whyme`` and the managers' views read it back as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messages import policy
from messages.programmes import Programme
from messages.snapshots import MemberView


def why_text(segment: str, decisions: Mapping[str, Any], prog: Programme) -> str:
    """One line for the invitation: the segment and the values behind it."""
    values = [
        f"{dim.replace('_', ' ')} {str(v.get('value')).replace('_', ' ')}"
        for dim, v in decisions.items()
        if isinstance(v, dict) and v.get("value") not in (None, "unknown", "n/a")
    ]
    seg = segment.replace("_", " ")
    tail = f" ({', '.join(values)})" if values else ""
    return f"our segmentation counts you among {seg}{tail}; {prog.title} is for {seg}."


def reason_for(
    view: MemberView,
    prog: Programme,
    d: policy.Decision,
    segment: str,
    evidence: Mapping[str, list[str]],
    *,
    decided_by: str | None,
) -> dict[str, Any]:
    """Why this member got this invitation: the rule, the segment and the evidence behind it."""
    dims = {
        dim: {"value": v.get("value"), "confidence": v.get("confidence")}
        for dim, v in view.decisions.items()
        if isinstance(v, dict) and v.get("value") not in (None, "unknown")
    }
    return {
        "rule": d.rule,
        "detail": d.detail,
        "programme": prog.name,
        "target": prog.target.source if decided_by is None else f"segment {segment} (campaign)",
        "segment": segment,
        "segments": sorted(view.snapshot.segments),
        "dimensions": dims,
        "evidence": {dim: says for dim, says in evidence.items() if dim in dims},
        "platform": d.platform,
        "not_before": d.not_before.isoformat() if d.not_before else None,
        "deferred_by": list(d.deferred_by),
        "tz_offset_minutes": view.snapshot.tz_offset_minutes,
        "decided_by": decided_by or "policy",
    }
