"""Plain-text accounts of a member and of a decision, shared by ``admin member`` and ``whyme``.

Chat replies cannot carry Rich tables, so this says in lines what ``cohortbot members
show`` prints: the stored evidence of every dimension, read from ``member_views`` (the
same query), in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.store.queries import ActivityView, MemberView


def explain_dimension(d: Mapping[str, Any]) -> list[str]:
    """The rules that decided a dimension, then up to three of the member's own messages."""
    if d.get("pinned_by"):
        return [f"pinned by {d['pinned_by']}: a manager's decision, kept on every reclassification"]
    lines = []
    for e in d.get("evidence", []):
        if not isinstance(e, Mapping):
            continue
        if "says" in e:
            mark = "+" if e.get("value") == d.get("value") else "-"
            lines.append(f"{mark} {e['says']}")
        elif "message" in e:
            lines.append(f'  e.g. "{e.get("excerpt", "")}"')
    return lines or ["no evidence either way"]


def dimension_lines(dimensions: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, d in dimensions.items():
        if not isinstance(d, Mapping):
            continue
        confidence = d.get("confidence", 0) or 0
        lines.append(f"{name}: {d.get('value')} (confidence {confidence:.2f})")
        lines += [f"    {line}" for line in explain_dimension(d)]
    return lines


def member_text(view: MemberView, recent: Sequence[ActivityView] = ()) -> str:
    """``cohortbot members show`` as lines of text."""
    kind = " (bot — kept apart from people)" if view.is_bot else ""
    lines = [f"#{view.member_id} {view.display_name}{kind}"]
    s = view.stats
    span = (
        f"{s.first_seen:%Y-%m-%d} → {s.last_seen:%Y-%m-%d}" if s.first_seen and s.last_seen else "no activity"
    )
    lines.append(f"{s.activities} activities ({s.messages} messages), {span}")
    lines.append("Identities:")
    for i in view.identities:
        extra = ", ".join(x for x in (i.username, i.email, i.title) if x)
        lines.append(f"  {i.platform}:{i.external_id} {i.display_name}" + (f" ({extra})" if extra else ""))
    if view.dimensions:
        lines.append("Dimensions:")
        lines += [f"  {line}" for line in dimension_lines(view.dimensions)]
        if view.segments:
            lines.append("Segments: " + ", ".join(view.segments))
    else:
        lines.append("Dimensions: not classified yet (run `cohortbot classify`).")
    if recent:
        lines.append("Recent messages:")
        for a in recent:
            where = f"{a.platform}:{a.place}" if a.place else (a.platform or "")
            lines.append(f"  {a.occurred_at:%Y-%m-%d %H:%M} {where}: {a.excerpt}")
    return "\n".join(lines)
