"""``cohortbot demo``: generate the demo community, import it through the real importers, print what is known.

Nothing here shortcuts the product: the archives go through the same discovery,
importers, import runner and ingest as a user's own files, so the demo is also an
end-to-end check. Running it again regenerates identical files (left untouched on
disk), the import cursors see nothing new, and the printout says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from adapters.base import ArchiveSource
from adapters.imports.discord_export import discover_discord_export
from adapters.imports.mbox import discover_mbox
from adapters.imports.slack_export import discover_slack_export
from bot.demo.defaults import DEFAULT_MEMBERS, DEFAULT_SEED
from bot.demo.generate import DemoFiles, generate_demo
from bot.demo.report import render
from bot.demo.segments import classify_demo, render_segments
from bot.demo.week import WeekResult, render_week, simulate_week
from bot.demo.world import END
from bot.digest_command import write_demo_digest
from bot.importing import ImportSummary, SilentReporter, import_sources
from bot.progress import RichReporter
from bot.store import open_store
from bot.store.overview import Overview, community_overview
from segmentation.engine import ClassifyReport

log = logging.getLogger(__name__)

DEFAULT_OUT_DIR = Path("cohortbot-demo")


@dataclass(frozen=True, slots=True)
class DemoResult:
    files: DemoFiles
    summary: ImportSummary
    overview: Overview
    db_url: str
    seconds: float
    classified: ClassifyReport | None = None
    agreement: dict[str, float] | None = None
    week: WeekResult | None = None
    digest_files: tuple[Path, Path] | None = None


def demo_db_url(out_dir: Path) -> str:
    """The demo's own embedded database, beside its files, so it never touches the user's database."""
    return f"sqlite+aiosqlite:///{out_dir.resolve() / 'demo.db'}"


def _sources(files: DemoFiles) -> list[ArchiveSource]:
    sources: list[ArchiveSource] = []
    sources.extend(discover_mbox(files.mbox))
    sources.extend(discover_slack_export(files.slack))
    sources.extend(discover_discord_export(files.discord))
    return sources


async def run_demo(
    *,
    db_url: str | None,
    out_dir: Path = DEFAULT_OUT_DIR,
    console: Console,
    seed: int = DEFAULT_SEED,
    members: int = DEFAULT_MEMBERS,
    show: bool = True,
) -> DemoResult:
    """Generate (or refresh) the demo files in ``out_dir``, import them into ``db_url`` and print an overview.

    ``db_url`` None means the demo's own SQLite file ``<out_dir>/demo.db``; a URL (``--db``) is
    used as given. Raises ``ConfigurationError`` when ``out_dir`` holds something other than a
    demo, ``StoreUnavailable`` when the database cannot be opened.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    with console.status("Generating the demo community…"):
        files = await asyncio.to_thread(generate_demo, out_dir, seed=seed, members=members)
    url = db_url or demo_db_url(out_dir)
    store = await open_store(url)
    try:
        sources = await asyncio.to_thread(_sources, files)
        if console.is_terminal:
            with RichReporter(console) as reporter:
                summary = await import_sources(store, sources, reporter=reporter)
        else:
            summary = await import_sources(store, sources, reporter=SilentReporter())
        overview = await community_overview(store)
        with console.status("Classifying every member…"):
            report, config = await classify_demo(store)
        if show:
            render(console, overview, summary, where=str(out_dir), db=_safe(url))
        agreement = {}
        if show:
            agreement = await render_segments(console, store, report=report, config=config, out_dir=out_dir)
        with console.status("Simulating a week of the live bot…"):
            week = await simulate_week(store)
        if show:
            render_week(console, week)
        digest_files = await write_demo_digest(store, out_dir / "demo.db", now=END)
        if show:
            html_path, md_path = digest_files
            console.rule("The weekly digest for maintainers")
            console.print(f"Written to {html_path} (open it in a browser) and {md_path}", highlight=False)
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    log.info("demo: %s; %s; %.1fs", summary.line(), report.line(), seconds)
    if show:
        console.print(
            f"[dim]Ground truth for every member: {out_dir / 'manifest.json'}; took {seconds:.1f}s[/dim]"
        )
    return DemoResult(
        files=files,
        summary=summary,
        overview=overview,
        db_url=url,
        seconds=seconds,
        classified=report,
        agreement=agreement,
        week=week,
        digest_files=digest_files,
    )


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
