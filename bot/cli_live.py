"""``cohortbot run`` and ``cohortbot simulate``: the live bot from the shell (design section 7).

Kept out of ``bot/cli.py`` so the archive-side commands do not import the platform
libraries; these two build the composition root.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.core.errors import CohortbotError
from bot.settings import load_settings
from bot.store import open_store

err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The configuration file (default: ./cohortbot.toml when present)."),
]


def _config(path: Path | None) -> Path | None:
    if path is not None:
        return path
    default = Path("cohortbot.toml")
    return default if default.exists() else None


def _db(ctx: typer.Context, configured: str | None) -> str:
    explicit = (ctx.obj or {}).get("db_explicit")
    return str(explicit or configured or (ctx.obj or {}).get("db"))


def run(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Start the configured adapters, the pipeline and the outbox worker; stop cleanly on SIGTERM."""
    from bot.app import build_app, run_app

    async def main() -> None:
        settings = load_settings(_config(config))
        store = await open_store(_db(ctx, settings.database_url))
        app = await build_app(settings, store=store)
        try:
            await run_app(app)
        finally:
            await store.close()

    try:
        asyncio.run(main())
    except CohortbotError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def simulate(
    ctx: typer.Context,
    config: ConfigOption = None,
    batch: Annotated[int, typer.Option(help="Events per pipeline batch (commands always end a batch).")] = 64,
) -> None:
    """Run recorded events (JSON lines on stdin) through the whole live pipeline; print what would be sent."""
    from bot.simulate import simulate as run_simulation

    async def main() -> None:
        settings = load_settings(_config(config))
        store = await open_store(_db(ctx, settings.database_url))
        try:
            report, _ = await run_simulation(
                sys.stdin, settings=settings, store=store, out=sys.stdout, batch=batch
            )
        finally:
            await store.close()
        for number, reason in report.rejected:
            err.print(f"line {number} skipped: {reason}", highlight=False)
        err.print(
            f"simulated {report.events} events, {report.actions} messages would leave, "
            f"{len(report.rejected)} lines skipped; {report.seconds:.1f}s",
            highlight=False,
        )

    try:
        asyncio.run(main())
    except CohortbotError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None
