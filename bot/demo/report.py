"""The demo's printout: what the import did and what the bot now knows, as Rich tables."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.importing import ImportSummary
from bot.store.overview import MemberSummary, Overview

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: tuple[int, ...]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return ""
    return "".join(_BARS[round(v / top * (len(_BARS) - 1))] for v in values)


def _people(title: str, rows: tuple[MemberSummary, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("member", style="bold")
    table.add_column("platforms")
    table.add_column("messages", justify="right")
    for row in rows:
        table.add_row(row.display_name, ", ".join(row.platforms), f"{row.messages:,}")
    return table


def import_line(summary: ImportSummary) -> Text:
    if summary.imported == 0 and summary.new_members == 0:
        why = (
            f"all {summary.sources} sources unchanged since the last run"
            if summary.unchanged == summary.sources
            else f"{summary.duplicates:,} records were already stored"
        )
        return Text(f"Nothing new to import: {why}.", style="yellow")
    skipped = f", {summary.skipped_total:,} skipped" if summary.skipped_total else ""
    return Text(
        f"Imported {summary.imported:,} activities from {summary.sources} sources "
        f"({summary.new_members:,} new members, {summary.duplicates:,} duplicates{skipped}) "
        f"in {summary.seconds:.1f}s.",
        style="green",
    )


def render(console: Console, overview: Overview, summary: ImportSummary, *, where: str, db: str) -> None:
    console.print(Panel.fit(
        Group(Text(f"Demo community in {where}", style="bold"), Text(f"database: {db}", style="dim"),
              import_line(summary)),
        title="cohortbot demo",
    ))

    platforms = Table(title="Members per platform", title_justify="left", show_edge=False)
    platforms.add_column("platform", style="bold")
    platforms.add_column("people", justify="right")
    platforms.add_column("bots", justify="right")
    platforms.add_column("messages", justify="right")
    platforms.add_column("reactions", justify="right")
    platforms.add_column("joins", justify="right")
    for row in overview.per_platform:
        kinds = overview.activities.get(row.platform, {})
        platforms.add_row(row.platform, f"{row.people:,}", f"{row.bots:,}", f"{kinds.get('message', 0):,}",
                          f"{kinds.get('reaction', 0):,}", f"{kinds.get('join', 0):,}")
    people = overview.members - overview.bots
    platforms.caption = (f"{people:,} people and {overview.bots} bots; "
                         f"{overview.multi_platform:,} people are on two or more platforms, merged by "
                         "e-mail address "
                         "(Discord accounts have none, and names are never used to merge)")
    console.print(platforms)

    places = Table(title="Activity per channel and list", title_justify="left", show_edge=False)
    places.add_column("platform")
    places.add_column("channel / list", style="bold")
    places.add_column("messages", justify="right")
    places.add_column("joins", justify="right")
    for place in overview.places:
        # A list's name is its List-Id phrase; the id itself says which list it is.
        name = f"{place.name} [dim]<{place.channel_id}>[/dim]" if place.platform == "mail" else place.name
        places.add_row(place.platform, name, f"{place.messages:,}", f"{place.joins:,}" if place.joins else "")
    console.print(places)

    console.print(_people("Most active people", overview.top))
    if overview.multi_examples:
        console.print(_people("On more than one platform (merged by e-mail)", overview.multi_examples))
    bots = Table(title="Bots (flagged, kept apart)", title_justify="left", show_edge=False)
    bots.add_column("bot", style="bold")
    bots.add_column("platform")
    bots.add_column("messages", justify="right")
    for bot in overview.bot_members:
        bots.add_row(bot.display_name, ", ".join(bot.platforms), f"{bot.messages:,}")
    console.print(bots)

    span = overview.span
    if span.first is not None and span.last is not None:
        days = (span.last - span.first).days
        console.print(
            f"[bold]Activity span[/bold] {span.first:%Y-%m-%d} → {span.last:%Y-%m-%d} ({days} days, "
            f"{days / 7:.1f} weeks)   messages per week: {sparkline(span.weekly)}  "
            f"[dim]{' '.join(str(n) for n in span.weekly)}[/dim]"
        )
