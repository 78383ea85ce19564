"""The digest's two charts as self-contained SVG, drawn here in Python: nothing loads from the network.

The matrix places each segment by financial impact (x) and strategic importance (y), the
1-5 scores of the segmentation settings, with bubble *area* proportional to members (radius
by square root, so a segment twice as big does not look four times as big). Segments that
share a cell are spread around its centre so none hides another. The activity chart draws
one line per segment over the last weeks. Every label is escaped: segment names come from
configuration, but nothing that reaches HTML goes unescaped.
"""

from __future__ import annotations

import math
from html import escape

from messages.digest.model import ActivityChart, MatrixPoint

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)
_FONT = 'font-family="Helvetica, Arial, sans-serif"'


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _label(name: str) -> str:
    return escape(name.replace("_", " "))


def matrix_svg(points: tuple[MatrixPoint, ...], *, width: int = 560, height: int = 460) -> str:
    left, right, top, bottom = 60, 20, 30, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    cell_w, cell_h = plot_w / 5, plot_h / 5

    def x_of(v: float) -> float:
        return left + (v - 0.5) * cell_w

    def y_of(v: float) -> float:
        return top + plot_h - (v - 0.5) * cell_h

    biggest = max((p.members for p in points), default=0) or 1
    max_r = min(cell_w, cell_h) * 0.45
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart matrix" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {_FONT} font-size="12">',
        "<title>Segments by financial impact and strategic importance (bubble area = members)</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
        # The quadrant lines of the article's matrix.
        f'<line x1="{x_of(3):.1f}" y1="{top}" x2="{x_of(3):.1f}" y2="{top + plot_h}" stroke="#ddd" '
        'stroke-dasharray="4 4"/>',
        f'<line x1="{left}" y1="{y_of(3):.1f}" x2="{left + plot_w}" y2="{y_of(3):.1f}" stroke="#ddd" '
        'stroke-dasharray="4 4"/>',
    ]
    for v in range(1, 6):
        parts.append(f'<text x="{x_of(v):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{v}</text>')
        parts.append(f'<text x="{left - 12}" y="{y_of(v) + 4:.1f}" text-anchor="end">{v}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 16}" text-anchor="middle" font-weight="bold">'
        "financial impact →</text>"
    )
    parts.append(
        f'<text transform="translate(18 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
        'font-weight="bold">strategic importance →</text>'
    )
    cells: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(points):
        cells.setdefault((p.financial_impact, p.strategic_importance), []).append(i)
    for (fx, sy), members in sorted(cells.items()):
        n = len(members)
        for k, i in enumerate(members):
            p = points[i]
            cx, cy = x_of(fx), y_of(sy)
            if n > 1:
                angle = 2 * math.pi * k / n - math.pi / 2
                cx += math.cos(angle) * cell_w * 0.22
                cy += math.sin(angle) * cell_h * 0.22
            # Area proportional to members; a floor keeps an empty segment visible on the map.
            r = max(4.0, max_r * math.sqrt(p.members / biggest) / (1.6 if n > 1 else 1.0))
            parts.append(
                f'<circle class="bubble" data-segment="{escape(p.segment)}" data-members="{p.members}" '
                f'cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{colour(i)}" fill-opacity="0.6" '
                f'stroke="{colour(i)}"><title>{_label(p.segment)}: {p.members} members</title></circle>'
            )
            parts.append(
                f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" font-size="10">'
                f"{_label(p.segment)} ({p.members})</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def activity_svg(chart: ActivityChart, *, width: int = 640, height: int = 360) -> str:
    left, right, top, bottom = 50, 150, 20, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    weeks = len(chart.weeks)
    peak = max((c for s in chart.series for c in s.counts), default=0) or 1
    step = plot_w / max(weeks - 1, 1)

    def y_of(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart activity" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {_FONT} font-size="11">',
        "<title>Activities per segment, week by week</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        v = peak * frac
        parts.append(f'<text x="{left - 6}" y="{y_of(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for i, label in enumerate(chart.weeks):
        if i % 2 == (weeks - 1) % 2:  # every other week, always the last
            x = left + i * step
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(label[5:])}</text>'
            )
    for i, s in enumerate(chart.series):
        points = " ".join(f"{left + j * step:.1f},{y_of(c):.1f}" for j, c in enumerate(s.counts))
        parts.append(
            f'<polyline class="series" data-segment="{escape(s.segment)}" points="{points}" fill="none" '
            f'stroke="{colour(i)}" stroke-width="2"><title>{_label(s.segment)}</title></polyline>'
        )
        ly = top + 12 + i * 16
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="10" height="10" fill="{colour(i)}"/>'
            f'<text x="{left + plot_w + 28}" y="{ly}">{_label(s.segment)}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">ISO week</text></svg>'
    )
    return "".join(parts)
