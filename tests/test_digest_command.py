"""``cohortbot digest``: the command function on a Typer app, as the CLI registers it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from digest_support import DEMO_WEEK, demo_community
from typer.testing import CliRunner

from bot.digest_command import digest


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context, db: Annotated[str, typer.Option("--db")]) -> None:
        ctx.obj = {"db": db}

    app.command("digest")(digest)
    return app


def test_digest_formats_to_stdout_and_to_a_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    asyncio.run(demo_community(url, tmp_path, members=40))
    runner = CliRunner()
    md = runner.invoke(cli(), ["--db", url, "digest", "--week", DEMO_WEEK, "--format", "md"])
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith(f"# Community digest, week {DEMO_WEEK}")

    out = tmp_path / "d.json"
    args = ["--db", url, "digest", "--week", DEMO_WEEK, "--format", "json", "--output", str(out)]
    js = runner.invoke(cli(), args)
    assert js.exit_code == 0, js.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["week"] == DEMO_WEEK and data["totals"]["members"] > 30

    html = runner.invoke(cli(), ["--db", url, "digest", "--week", DEMO_WEEK, "--format", "html"])
    assert html.exit_code == 0 and html.stdout.count("<svg") == 2

    default = runner.invoke(cli(), ["--db", url, "digest", "--format", "json"])
    assert default.exit_code == 0  # the last completed week as of today: empty but well-formed
    assert json.loads(default.stdout)["week"] != DEMO_WEEK

    bad = runner.invoke(cli(), ["--db", url, "digest", "--week", "2026-47"])
    assert bad.exit_code == 1 and "expected an ISO week such as 2026-W47" in bad.output
