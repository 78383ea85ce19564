"""The ``cohortbot`` command (design section 7): thin Typer front end over the store and importers."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot import cli_live, digest_command
from bot.admin.cli import admin_app
from bot.core.errors import CohortbotError
from bot.demo.defaults import DEFAULT_MEMBERS, DEFAULT_SEED
from bot.importing import ImportSummary, SilentReporter, import_sources
from bot.progress import RichReporter
from bot.store import Store, open_store
from bot.store.db import database_url
from bot.store.queries import MemberView, member_views, recent_activity, resolve_member

app = typer.Typer(
    help="cohortbot: know who your open-source community is, and talk to each part of it the right way.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Import archives (streaming, resumable, idempotent).", no_args_is_help=True)
members_app = typer.Typer(help="Read out what the bot knows about members.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(members_app, name="members")
app.command("run")(cli_live.run)
app.command("simulate")(cli_live.simulate)
app.command("digest")(digest_command.digest)
app.add_typer(admin_app, name="admin")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _db(ctx: typer.Context) -> str:
    return str(ctx.obj["db"])


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine; our errors become a clear message and exit code 1, not a traceback."""
    try:
        return asyncio.run(coro)
    except CohortbotError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None


async def _with_store(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    store = await open_store(url)
    try:
        return await work(store)
    finally:
        await store.close()


@app.callback()
def _main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: $COHORTBOT_DATABASE_URL or ./cohortbot.db)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = {"db": database_url(db), "db_explicit": db}


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the generated archives and the demo database.")
    ] = Path("cohortbot-demo"),
    members: Annotated[
        int, typer.Option("--members", help="How many people the demo community has.")
    ] = DEFAULT_MEMBERS,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the generator (same seed, same community).")
    ] = DEFAULT_SEED,
) -> None:
    """Generate a demo community, import it through the real importers and show what the bot knows."""
    from bot.demo.run import run_demo

    _run(
        run_demo(
            db_url=ctx.obj["db_explicit"], out_dir=out, console=out_console(), seed=seed, members=members
        )
    )


def out_console() -> Console:
    return out


RulesOpt = Annotated[
    Path | None,
    typer.Option("--rules", help="Segmentation settings file (default: the packaged rules)."),
]


def _engine(store: Store, rules: Path | None) -> Any:
    from segmentation.config import load_config
    from segmentation.engine import SegmentationEngine
    from segmentation.rules import RULE_NAMES

    return SegmentationEngine(store, config=load_config(rules, known_rules=RULE_NAMES))


@app.command()
def classify(
    ctx: typer.Context,
    all_: Annotated[
        bool, typer.Option("--all", help="Recompute every member from all activities, not just what is new.")
    ] = False,
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", help="Judge engagement as of this time (default: now, or an archive's end)."),
    ] = None,
    rules: RulesOpt = None,
) -> None:
    """(Re)compute every member's segments; without --all only new activities are read."""

    async def work(store: Store) -> str:
        engine = _engine(store, rules)
        moment = as_of.replace(tzinfo=UTC) if as_of and as_of.tzinfo is None else as_of
        report = await (engine.rebuild(as_of=moment) if all_ else engine.update(as_of=moment, everyone=True))
        return str(report.line())

    out.print(_run(_with_store(_db(ctx), work)), highlight=False)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the database schema up to date (alembic upgrade head)."""

    async def work() -> str | None:
        store = await open_store(_db(ctx), migrate=False)
        try:
            await store.migrate()
            return await store.current_revision()
        finally:
            await store.close()

    revision = _run(work())
    out.print(f"database at revision {revision}")


def _import(ctx: typer.Context, sources: list[Any], *, rescan: bool) -> ImportSummary:
    async def work(store: Store) -> ImportSummary:
        if err.is_terminal:
            with RichReporter(err) as reporter:
                return await import_sources(store, sources, reporter=reporter, rescan=rescan)
        return await import_sources(store, sources, reporter=SilentReporter(), rescan=rescan)

    summary = _run(_with_store(_db(ctx), work))
    out.print(summary.line(), highlight=False, soft_wrap=True)
    return summary


RescanOpt = Annotated[
    bool,
    typer.Option("--rescan", help="Read sources again even if they are unchanged since the last import."),
]


@import_app.command("mbox")
def import_mbox(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="mbox/mboxrd files (plain or .gz) or folders.")],
    rescan: RescanOpt = False,
) -> None:
    """Import mailing-list archives."""
    from adapters.imports.mbox import discover_mbox

    _import(ctx, _discover(lambda: discover_mbox(paths)), rescan=rescan)


@import_app.command("slack-export")
def import_slack(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A Slack export: zip file or unpacked folder.")],
    rescan: RescanOpt = False,
) -> None:
    """Import a Slack workspace export."""
    from adapters.imports.slack_export import discover_slack_export

    _import(ctx, _discover(lambda: discover_slack_export(path)), rescan=rescan)


@import_app.command("discord-export")
def import_discord(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="DiscordChatExporter JSON or CSV files or folders.")],
    rescan: RescanOpt = False,
) -> None:
    """Import DiscordChatExporter exports."""
    from adapters.imports.discord_export import discover_discord_export

    _import(ctx, _discover(lambda: discover_discord_export(paths)), rescan=rescan)


def _discover(find: Callable[[], Any]) -> list[Any]:
    try:
        return list(find())
    except CohortbotError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None


_CSV_FIELDS = [
    "member_id",
    "display_name",
    "is_bot",
    "platforms",
    "external_ids",
    "usernames",
    "emails",
    "activities",
    "first_seen",
    "last_seen",
    "dimensions",
    "segments",
]


def _csv_cell(value: str) -> str:
    # Spreadsheet formula injection: a display name like "=HYPERLINK(...)" must stay text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_row(view: MemberView) -> dict[str, str]:
    data = view.as_export()
    return {
        "member_id": str(view.member_id),
        "display_name": _csv_cell(view.display_name),
        "is_bot": "true" if view.is_bot else "false",
        "platforms": " ".join(sorted({i.platform for i in view.identities})),
        "external_ids": _csv_cell(" ".join(f"{i.platform}:{i.external_id}" for i in view.identities)),
        "usernames": _csv_cell(" ".join(i.username for i in view.identities if i.username)),
        "emails": _csv_cell(" ".join(sorted({i.email for i in view.identities if i.email}))),
        "activities": str(view.stats.activities),
        "first_seen": data["stats"]["first_seen"] or "",
        "last_seen": data["stats"]["last_seen"] or "",
        "dimensions": json.dumps(view.dimensions, ensure_ascii=False, sort_keys=True),
        "segments": " ".join(view.segments),
    }


@members_app.command("export")
def members_export(
    ctx: typer.Context,
    format: Annotated[
        Format, typer.Option("--format", help="jsonl (design section 7) or csv.")
    ] = Format.jsonl,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    include_bots: Annotated[
        bool, typer.Option("--include-bots", help="Also export accounts flagged as bots.")
    ] = False,
) -> None:
    """One line per member: identities, dimensions (value, confidence, evidence), segments, stats."""

    async def work(store: Store) -> int:
        stream: TextIO = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        count = 0
        try:
            writer = csv.DictWriter(stream, fieldnames=_CSV_FIELDS) if format is Format.csv else None
            if writer:
                writer.writeheader()
            async with store.connection() as conn:
                async for view in member_views(conn, include_bots=include_bots):
                    if writer:
                        writer.writerow(_csv_row(view))
                    else:
                        stream.write(json.dumps(view.as_export(), ensure_ascii=False) + "\n")
                    count += 1
        finally:
            if output:
                stream.close()
        return count

    count = _run(_with_store(_db(ctx), work))
    if output:
        err.print(f"wrote {count} members to {output}")


@members_app.command("show")
def members_show(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="Member id, platform:id, e-mail, username or display name.")],
) -> None:
    """A member with identities, activity and the evidence for every dimension."""

    async def work(store: Store) -> tuple[MemberView, list[Any]]:
        async with store.connection() as conn:
            member_id = await resolve_member(conn, member)
            views = [v async for v in member_views(conn, member_ids=[member_id])]
            recent = await recent_activity(conn, member_id)
        return views[0], recent

    view, recent = _run(_with_store(_db(ctx), work))
    _print_member(view, recent)


@members_app.command("set")
def members_set(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="Member id, platform:id, e-mail, username or display name.")],
    dimension: Annotated[
        str, typer.Argument(help="skill, purpose, org_type, org_size, location or engagement.")
    ],
    value: Annotated[str, typer.Argument(help="The value to pin, or 'auto' to let the rules decide again.")],
    by: Annotated[str, typer.Option("--by", help="Who is deciding (recorded with the override).")] = "cli",
    rules: RulesOpt = None,
) -> None:
    """Pin a manager's decision for one dimension; it survives every reclassification."""

    async def work(store: Store) -> str:
        async with store.connection() as conn:
            member_id = await resolve_member(conn, member)
        engine = _engine(store, rules)
        if value == "auto":
            decision = await engine.clear_override(member_id, dimension, by=by)
            return f"#{member_id} {dimension}: override cleared; rules now say {decision.value(dimension)}"
        await engine.set_override(member_id, dimension, value, by=by)
        return f"#{member_id} {dimension} pinned to {value} by {by}"

    out.print(_run(_with_store(_db(ctx), work)), highlight=False)


def _print_member(view: MemberView, recent: list[Any]) -> None:
    kind = " [yellow](bot — kept apart from people)[/yellow]" if view.is_bot else ""
    out.print(f"[bold]#{view.member_id} {view.display_name}[/bold]{kind}", highlight=False)
    s = view.stats
    span = (
        f"{s.first_seen:%Y-%m-%d} → {s.last_seen:%Y-%m-%d}" if s.first_seen and s.last_seen else "no activity"
    )
    out.print(f"{s.activities} activities ({s.messages} messages), {span}", highlight=False)
    ids = Table(title="Identities", title_justify="left")
    for col in ("platform", "id", "username", "name", "e-mail", "title"):
        ids.add_column(col)
    for i in view.identities:
        ids.add_row(i.platform, i.external_id, i.username or "", i.display_name, i.email or "", i.title or "")
    out.print(ids)
    if view.dimensions:
        dims = Table(title="Dimensions", title_justify="left", show_lines=True)
        for col in ("dimension", "value", "confidence", "why"):
            dims.add_column(col)
        for name, d in view.dimensions.items():
            dims.add_row(name, str(d.get("value")), f"{d.get('confidence', 0):.2f}", _explain(d))
        out.print(dims)
        if view.segments:
            out.print("Segments: " + ", ".join(view.segments), highlight=False)
    else:
        out.print("Dimensions: not classified yet (run `cohortbot classify`).")
    if recent:
        acts = Table(title="Recent messages", title_justify="left")
        for col in ("when", "where", "own words"):
            acts.add_column(col)
        for a in recent:
            where = f"{a.platform}:{a.place}" if a.place else (a.platform or "")
            acts.add_row(f"{a.occurred_at:%Y-%m-%d %H:%M}", where, a.excerpt)
        out.print(acts)


def _explain(d: dict[str, Any]) -> str:
    """Evidence in plain language: the rules that decided, then up to three of the member's own messages."""
    if d.get("pinned_by"):
        return f"pinned by {d['pinned_by']}: a manager's decision, kept on every reclassification"
    lines = []
    for e in d.get("evidence", []):
        if "says" in e:
            mark = "+" if e.get("value") == d.get("value") else "-"
            lines.append(f"{mark} {e['says']}")
        elif "message" in e:
            lines.append(f'  e.g. "{e["excerpt"]}"')
    return "\n".join(lines) or "no evidence either way"


def main() -> None:
    app()


if __name__ == "__main__":
    main()
