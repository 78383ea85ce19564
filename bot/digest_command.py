"""``cohortbot digest``: one week's digest as a Markdown, HTML or JSON file, and the demo's digest files.

The lead registers ``digest`` on the Typer app (``app.command("digest")(digest)``); the
demo calls ``write_demo_digest`` at its end. Both build through ``messages.digest`` exactly
as the scheduler does, without claiming the week or sending anything.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from bot.core.errors import CohortbotError
from bot.settings import Settings, load_settings
from bot.store import Store, open_store
from bot.store.db import database_url
from messages.digest import (
    Digest,
    build_digest,
    last_completed_week,
    parse_week,
    render_html,
    render_json,
    render_markdown,
)
from messages.programmes import load_catalogue
from segmentation.config import SegmentationConfig, load_config
from segmentation.rules import RULE_NAMES


class DigestFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"


RENDERERS = {DigestFormat.md: render_markdown, DigestFormat.html: render_html, DigestFormat.json: render_json}


async def digest_for(
    store: Store,
    *,
    week: str | None,
    tz: tzinfo,
    config: SegmentationConfig,
    catalogue: Any,
    now: datetime,
) -> Digest:
    """The named week's digest, or the last completed week's as of ``now``."""
    wk = parse_week(week) if week else last_completed_week(now, tz)
    async with store.connection() as conn:
        return await build_digest(conn, week=wk, tz=tz, config=config, catalogue=catalogue, now=now)


async def render_digest(
    db_url: str, *, week: str | None, fmt: DigestFormat, settings: Settings, now: datetime
) -> str:
    config = load_config(settings.rules, known_rules=RULE_NAMES)
    catalogue = load_catalogue(settings.programmes, segments=list(config.segments))
    store = await open_store(db_url)
    try:
        built = await digest_for(
            store, week=week, tz=ZoneInfo(settings.timezone), config=config, catalogue=catalogue, now=now
        )
    finally:
        await store.close()
    return RENDERERS[fmt](built)


def digest(
    ctx: typer.Context,
    week: Annotated[
        str | None,
        typer.Option("--week", help="ISO week such as 2026-W47 (default: the last completed week)."),
    ] = None,
    fmt: Annotated[DigestFormat, typer.Option("--format", help="md, html or json.")] = DigestFormat.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="cohortbot.toml (time zone, rules, programmes).")
    ] = None,
) -> None:
    """Build one week's digest and print it or write it to a file (nothing is sent)."""
    err = Console(stderr=True)
    db_url = str((ctx.obj or {}).get("db") or database_url(None))
    try:
        settings = load_settings(config)
        text = asyncio.run(
            render_digest(db_url, week=week, fmt=fmt, settings=settings, now=datetime.now(UTC))
        )
    except CohortbotError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"digest written to {output}", highlight=False)


async def write_demo_digest(store: Store, db_path: Path, *, now: datetime) -> tuple[Path, Path]:
    """Write the last completed week's digest (as of ``now``, in UTC) as HTML and Markdown next to
    the database; return (html path, markdown path)."""
    config = load_config(known_rules=RULE_NAMES)
    catalogue = load_catalogue(segments=list(config.segments))
    built = await digest_for(store, week=None, tz=UTC, config=config, catalogue=catalogue, now=now)
    return await asyncio.to_thread(_write_files, built, Path(db_path))


def _write_files(built: Digest, db_path: Path) -> tuple[Path, Path]:
    folder = db_path.resolve().parent
    html_path = folder / f"digest-{built.week}.html"
    md_path = folder / f"digest-{built.week}.md"
    html_path.write_text(render_html(built), encoding="utf-8")
    md_path.write_text(render_markdown(built), encoding="utf-8")
    return html_path, md_path
