"""The digest as one self-contained HTML page (file and e-mail): tables and inline SVG charts.

Nothing loads from the network: no script, no stylesheet link, no web font, no image URL;
the charts are SVG elements in the page. Member-supplied text goes through
``messages.escaping.html``; our own labels through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from messages import escaping
from messages.digest.charts import activity_svg, matrix_svg
from messages.digest.model import Digest, MemberNote
from messages.digest.render import render_plain, title
from messages.digest.sections import label, period, signed

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; color: #222; max-width: 960px;
       margin: 24px auto; padding: 0 12px; }
h1 { font-size: 24px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f3f3f3; } td.n { text-align: right; } .warning { color: #b00020; font-weight: bold; }
.muted { color: #777; } .charts { display: flex; flex-wrap: wrap; gap: 16px; }
"""


def _m(text: str) -> str:
    """Member-supplied text, escaped for HTML."""
    return str(escaping.html(escaping.shorten(text, 200)))


def _table(cls: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Cells are HTML already (escaped by the caller); numbers are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _notes(notes: Sequence[MemberNote], empty: str) -> str:
    if not notes:
        return f'<p class="muted">{escape(empty)}</p>'
    items = "".join(
        f"<li><b>{_m(n.name)}</b>{' (new this week)' if n.new_this_week else ''}: "
        f"{'; '.join(_m(e) for e in n.evidence) or 'no evidence recorded'}</li>"
        for n in notes
    )
    return f"<ul>{items}</ul>"


def render_html(digest: Digest) -> str:
    t = digest.totals
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title(digest))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title(digest))}</h1>",
        f'<p class="muted">{escape(period(digest))} '
        f"({escape(digest.timezone)}), built {escape(digest.generated_at[:16])}</p>",
        f'<p class="overview"><b>{t.members}</b> members ({signed(t.members_change)}), '
        f"<b>{t.active}</b> active this week ({signed(t.active_change)}), "
        f"<b>{t.new}</b> new ({signed(t.new_change)}).</p>",
    ]
    for g in digest.warnings:
        parts.append(
            f'<p class="warning">⚠ {g.count} question(s) from {escape(label(g.segment))} waiting more '
            f"than {digest.question_hours} hours.</p>"
        )
    parts += [
        "<h2>Charts</h2>",
        '<div class="charts">',
        f'<figure id="matrix">{matrix_svg(digest.matrix)}<figcaption>Segments by financial impact and '
        "strategic importance; bubble area = members.</figcaption></figure>",
        f'<figure id="activity">{activity_svg(digest.activity)}<figcaption>Activities per segment, last '
        f"{len(digest.activity.weeks)} weeks.</figcaption></figure>",
        "</div>",
        "<h2>Segments</h2>",
        _table(
            "segments",
            ("segment", "members", "change", "active", "change", "new", "change"),
            [
                (escape(label(r.segment)), str(r.members), signed(r.members_change), str(r.active),
                 signed(r.active_change), str(r.new), signed(r.new_change))
                for r in digest.segments
            ],
        ),
        "<h2>Movements</h2>",
    ]
    if not digest.has_baseline:
        parts.append('<p class="muted">First classification: no earlier week to compare with.</p>')
    parts.append(
        _table(
            "movements",
            ("segment", "entered", "left"),
            [(escape(label(m.segment)), str(m.entered), str(m.left)) for m in digest.movements],
        )
    )
    parts += [
        "<h3>New champions</h3>",
        _notes(digest.champions_new, "None this week."),
        "<h3>At risk</h3>",
        _notes(digest.at_risk, "Nobody is at risk."),
        f"<h2>Newcomers ({digest.newcomers_total})</h2>",
    ]
    if digest.newcomers:
        parts.append(
            _table(
                "newcomers",
                ("name", "platform", "first seen", "segments"),
                [
                    (_m(n.name), escape(n.platform), escape(n.first_seen[:10]),
                     escape(", ".join(label(s) for s in n.segments)))
                    for n in digest.newcomers
                ],
            )
        )
    else:
        parts.append('<p class="muted">No newcomers this week.</p>')
    parts.append(f"<h2>Unanswered after {digest.question_hours} hours ({digest.questions_total})</h2>")
    if not digest.questions:
        parts.append('<p class="muted">Every question got an answer.</p>')
    for g in digest.questions:
        cls = ' class="warning"' if g.warning else ""
        parts.append(f"<h3{cls}>{escape(label(g.segment))} ({g.count})</h3>")
        parts.append(
            _table(
                "questions",
                ("asked by", "hours waiting", "where", "question"),
                [(_m(q.name), str(q.hours_waiting), _m(q.place), _m(q.excerpt)) for q in g.questions],
            )
        )
    parts.append("<h2>Programmes</h2>")
    if digest.funnels:
        parts.append(
            _table(
                "funnels",
                ("programme", "invited", "opened", "accepted", "active"),
                [
                    (escape(f.programme), f"{f.invited} (+{f.invited_week})",
                     f"{f.opened} (+{f.opened_week})", f"{f.accepted} (+{f.accepted_week})",
                     f"{f.active} (+{f.active_week})")
                    for f in digest.funnels
                ],
            )
        )
    else:
        parts.append('<p class="muted">No programme invitations yet.</p>')
    for b in digest.leaderboards:
        parts.append(f"<h3>Leaderboard: {escape(b.programme)}</h3>")
        if b.standings:
            parts.append(
                _table(
                    "leaderboard",
                    ("rank", "member", "this week", "in all"),
                    [(str(s.rank), _m(s.name), str(s.points_week), str(s.points_total)) for s in b.standings],
                )
            )
        else:
            parts.append('<p class="muted">No points yet.</p>')
    parts.append("<h2>Top helpers</h2>")
    if digest.helpers:
        parts.append(
            _table(
                "helpers",
                ("member", "answers", "thanked", "confirmed solutions"),
                [(_m(h.name), str(h.answers), str(h.thanked), str(h.solved)) for h in digest.helpers],
            )
        )
    else:
        parts.append('<p class="muted">Nobody answered anyone this week.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


@dataclass(frozen=True, slots=True)
class MailDigest:
    subject: str
    text: str
    html: str


def render_email(digest: Digest) -> MailDigest:
    """HTML with the charts inline as SVG, plus the plain-text alternative."""
    t = digest.totals
    subject = escaping.header(f"{title(digest)}: {t.active} active, {t.new} new")
    return MailDigest(subject=subject, text=render_plain(digest), html=render_html(digest))
