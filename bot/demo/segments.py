"""The demo's second half: classify the imported community and show segments with their evidence.

The generator knows the truth about every demo member (``manifest.json``), so the demo
also prints how often the classifier agrees with it, per dimension. That is a check of
the pipeline on synthetic people, not the accuracy figure: ``bench/segmentation_eval.py``
measures that on real, hand-labelled people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.store import Store
from bot.store.queries import dimension_counts, member_ids_by_identity, member_views, segment_sizes
from segmentation.config import SegmentationConfig, load_config
from segmentation.engine import ClassifyReport, SegmentationEngine
from segmentation.rules import RULE_NAMES

_SCORED = ("skill", "purpose", "org_type", "org_size")
#: Personas whose evidence is shown, in order of preference: a business member, an end user, someone else.
_SHOWCASE = ("device_maker", "end_user", "academic", "integrator", "hobbyist")


async def classify_demo(store: Store) -> tuple[ClassifyReport, SegmentationConfig]:
    config = load_config(known_rules=RULE_NAMES)
    report = await SegmentationEngine(store, config=config).rebuild()
    return report, config


def _manifest(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / "manifest.json"
    members: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["members"]
    return members


async def render_segments(
    console: Console, store: Store, *, report: ClassifyReport, config: SegmentationConfig, out_dir: Path
) -> dict[str, float]:
    """Print segments, agreement with the ground truth, and three members' evidence; return agreement."""
    people = [m for m in _manifest(out_dir) if not m["is_bot"]]
    keys = [(platform, acc["external_id"]) for m in people for platform, acc in m["accounts"].items()]
    async with store.connection() as conn:
        sizes = await segment_sizes(conn)
        counts = await dimension_counts(conn)
        ids = await member_ids_by_identity(conn, keys)
        views = {v.member_id: v async for v in member_views(conn, include_bots=False)}

    table = Table(title=f"Segments (ruleset {report.ruleset_version})", title_justify="left", show_edge=False)
    for col in ("segment", "members", "financial impact", "strategic importance", "what it is"):
        table.add_column(col, justify="right" if col in ("members",) else "left")
    for name, (_, seg) in config.segments.items():
        table.add_row(
            name,
            f"{sizes.get(name, 0):,}",
            "★" * seg.financial_impact,
            "★" * seg.strategic_importance,
            seg.description,
        )
    table.caption = report.line()
    console.print(table)

    dims = Table(title="Members per dimension value", title_justify="left", show_edge=False)
    dims.add_column("dimension", style="bold")
    dims.add_column("values")
    for dim in ("skill", "purpose", "org_type", "org_size", "location", "engagement"):
        values = sorted(counts.get(dim, {}).items(), key=lambda kv: -kv[1])
        dims.add_row(dim, ", ".join(f"{v} {n}" for v, n in values[:8]))
    console.print(dims)

    # Agreement with the generator's truth, counting "unknown" as a miss.
    agreement: dict[str, float] = {}
    for dim in _SCORED:
        hits = total = 0
        for m in people:
            mids = {
                ids[(p, a["external_id"])] for p, a in m["accounts"].items() if (p, a["external_id"]) in ids
            }
            for mid in mids:
                view = views.get(mid)
                if view is None:
                    continue
                total += 1
                hits += view.dimensions.get(dim, {}).get("value") == m["truth"][dim]
        agreement[dim] = hits / total if total else 0.0
    console.print(
        "Agreement with the demo's ground truth (synthetic people; unknown counts as a miss): "
        + ", ".join(f"{d} {v:.0%}" for d, v in agreement.items()),
        highlight=False,
    )

    shown = 0
    for persona in _SHOWCASE:
        if shown == 3:
            break
        for m in people:
            if m["persona"] != persona:
                continue
            found = [
                ids[(p, a["external_id"])] for p, a in m["accounts"].items() if (p, a["external_id"]) in ids
            ]
            known = [mid for mid in found if mid in views and views[mid].dimensions]
            if not known:
                continue
            _evidence(console, views[known[0]], persona)
            shown += 1
            break
    return agreement


def _evidence(console: Console, view: Any, persona: str) -> None:
    table = Table(
        title=f"Why: #{view.member_id} {view.display_name} (demo persona: {persona.replace('_', ' ')})",
        title_justify="left",
        show_edge=False,
        show_lines=False,
    )
    table.add_column("dimension", style="bold")
    table.add_column("value")
    table.add_column("conf.", justify="right")
    table.add_column("evidence")
    for dim, d in view.dimensions.items():
        reasons = [
            e["says"] for e in d.get("evidence", []) if "says" in e and e.get("value") == d.get("value")
        ]
        examples = [f'"{e["excerpt"]}"' for e in d.get("evidence", []) if "message" in e][:1]
        table.add_row(
            dim, str(d.get("value")), f"{d.get('confidence', 0):.2f}", "; ".join(reasons[:3] + examples)
        )
    segments = ", ".join(view.segments) or "none"
    table.caption = f"segments: {segments}"
    console.print(table)
