"""The digest's content as titled sections of lines, in one order for every text front end.

Markdown files, Discord, Slack and the e-mail's plain-text part differ only in a ``Style``:
how member-supplied text is escaped, how bold and tables look. Keeping the wording here once
means the front ends cannot drift apart in what they say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from messages import escaping
from messages.digest.model import Digest, MemberNote


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Style:
    esc: Callable[[str], str]
    bold: Callable[[str], str]
    #: True: tables as Markdown tables; False: one bullet line per row (chat has no tables).
    tables: bool
    bullet: str = "-"


def _md_esc(text: str) -> str:
    return escaping.discord(escaping.shorten(text, 200))


MARKDOWN = Style(esc=_md_esc, bold=lambda s: f"**{s}**", tables=True)
DISCORD = Style(esc=_md_esc, bold=lambda s: f"**{s}**", tables=False, bullet="•")
SLACK = Style(esc=lambda s: escaping.slack(escaping.shorten(s, 200)), bold=lambda s: f"*{s}*",
              tables=False, bullet="•")
PLAIN = Style(esc=lambda s: escaping.mail_text(escaping.shorten(s, 200)), bold=lambda s: s,
              tables=False, bullet="-")


def period(digest: Digest) -> str:
    """"2026-10-26 to 2026-11-01": the week's first and last local day (the end bound is exclusive)."""
    last = date.fromisoformat(digest.end[:10]) - timedelta(days=1)
    return f"{digest.start[:10]} to {last.isoformat()}"


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else ("±0" if n == 0 else f"−{-n}")


def label(segment: str) -> str:
    return segment.replace("_", " ")


def _table(style: Style, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if style.tables:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return out
    return [
        f"{style.bullet} {style.bold(r[0])} — "
        + ", ".join(f"{h} {v}" for h, v in zip(header[1:], r[1:], strict=True))
        for r in rows
    ]


def _note(style: Style, note: MemberNote) -> str:
    why = "; ".join(style.esc(e) for e in note.evidence) or "no evidence recorded"
    new = " (new this week)" if note.new_this_week else ""
    return f"{style.bullet} {style.esc(note.name)}{new}: {why}"


def sections(digest: Digest, style: Style) -> list[Section]:
    t = digest.totals
    out = [
        Section(
            "Overview",
            (
                f"{t.members} members ({signed(t.members_change)}), {t.active} active this week "
                f"({signed(t.active_change)}), {t.new} new ({signed(t.new_change)}).",
                f"Week {digest.week}, {period(digest)} ({digest.timezone}).",
            ),
        ),
        Section(
            "Segments",
            tuple(
                _table(
                    style,
                    ("segment", "members", "active", "new"),
                    [
                        (
                            label(r.segment),
                            f"{r.members} ({signed(r.members_change)})",
                            f"{r.active} ({signed(r.active_change)})",
                            f"{r.new} ({signed(r.new_change)})",
                        )
                        for r in digest.segments
                    ],
                )
            ),
        ),
    ]
    moves: list[str] = []
    if not digest.has_baseline:
        moves.append("First classification: no earlier week to compare with, so no movements yet.")
    moved = [m for m in digest.movements if m.entered or m.left]
    moves += [f"{style.bullet} {label(m.segment)}: {m.entered} in, {m.left} out" for m in moved]
    if digest.has_baseline and not moved:
        moves.append("Nobody moved between segments this week.")
    moves.append(style.bold("New champions"))
    moves += [_note(style, n) for n in digest.champions_new] or ["None this week."]
    moves.append(style.bold("At risk"))
    moves += [_note(style, n) for n in digest.at_risk] or ["Nobody is at risk."]
    out.append(Section("Movements", tuple(moves)))

    newcomers = [
        f"{style.bullet} {style.esc(n.name)} ({n.platform}, first seen {n.first_seen[:10]})"
        + (f": {', '.join(label(s) for s in n.segments)}" if n.segments else "")
        for n in digest.newcomers
    ]
    if digest.newcomers_total > len(digest.newcomers):
        newcomers.append(f"…and {digest.newcomers_total - len(digest.newcomers)} more.")
    newcomers = newcomers or ["No newcomers this week."]
    out.append(Section(f"Newcomers ({digest.newcomers_total})", tuple(newcomers)))

    questions: list[str] = []
    for g in digest.warnings:
        questions.append(
            f"⚠ Warning: {g.count} question(s) from {label(g.segment)} waiting more than "
            f"{digest.question_hours} hours."
        )
    for g in digest.questions:
        questions.append(style.bold(f"{label(g.segment)} ({g.count})"))
        questions += [
            f"{style.bullet} {style.esc(q.name)}, {q.hours_waiting} h, {style.esc(q.place)}: "
            f"{style.esc(q.excerpt)}"
            for q in g.questions
        ]
    out.append(
        Section(
            f"Unanswered after {digest.question_hours} hours ({digest.questions_total})",
            tuple(questions or ["Every question got an answer."]),
        )
    )

    funnel_rows = [
        (
            f.programme,
            f"{f.invited} (+{f.invited_week})",
            f"{f.opened} (+{f.opened_week})",
            f"{f.accepted} (+{f.accepted_week})",
            f"{f.active} (+{f.active_week})",
        )
        for f in digest.funnels
    ]
    out.append(
        Section(
            "Programmes",
            tuple(_table(style, ("programme", "invited", "opened", "accepted", "active"), funnel_rows))
            or ("No programme invitations yet.",),
        )
    )
    boards: list[str] = []
    for b in digest.leaderboards:
        boards.append(style.bold(b.programme))
        boards += [
            f"{s.rank}. {style.esc(s.name)}: {s.points_week} this week, {s.points_total} in all"
            for s in b.standings
        ] or ["No points yet."]
    out.append(Section("Leaderboards", tuple(boards or ["No points yet."])))
    helpers = [
        f"{style.bullet} {style.esc(h.name)}: {h.answers} answers, thanked {h.thanked}×, "
        f"{h.solved} confirmed solutions"
        for h in digest.helpers
    ]
    out.append(Section("Top helpers", tuple(helpers or ["Nobody answered anyone this week."])))
    return out
