"""``cohortbot admin SUB ...``: the managers' commands from the bot's machine.

The command line is a manager by being on the machine (actor platform ``cli``, named by
the operating-system user); every call still goes through the command core and its audit
log, so the same command does the same thing here as in Discord, Slack or e-mail. The lead
mounts ``admin_app`` under the main ``cohortbot`` app; the database URL comes from the
parent's ``--db`` (or ``--db`` here when run alone).
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from bot.admin.permissions import CLI_PLATFORM, ManagerSettings
from bot.admin.registry import ADMIN, CommandCore, Registry, Services, load_commands
from bot.core.clock import SystemClock
from bot.core.errors import CohortbotError
from bot.core.events import ActorRef, CommandInvoked, PlaceRef
from bot.core.outbound import CommandReply
from bot.store import open_store
from bot.store.db import database_url

admin_app = typer.Typer(
    help="Managers' commands (the same as `admin ...` in chat); every call is audited.",
    no_args_is_help=True,
)

_REGISTRY = Registry()
load_commands(_REGISTRY)


def _catalogue(path: Path | None) -> Any:
    from messages.programmes import load_catalogue

    return load_catalogue(path)


def _engine(store: Any, rules: Path | None) -> Any:
    from segmentation.config import load_config
    from segmentation.engine import SegmentationEngine
    from segmentation.rules import RULE_NAMES

    return SegmentationEngine(store, config=load_config(rules, known_rules=RULE_NAMES))


async def run_admin(
    url: str,
    args: list[str],
    *,
    programmes: Path | None = None,
    rules: Path | None = None,
    timezone: str = "UTC",
) -> CommandReply:
    """Run one managers' command against the database at ``url``, as the local user."""
    store = await open_store(url)
    try:
        services = Services(
            store=store,
            clock=SystemClock(),
            segmentation=_engine(store, rules),
            catalogue=_catalogue(programmes),
            timezone=timezone,
        )
        core = CommandCore(services, managers=ManagerSettings(require_managers=False), registry=_REGISTRY)
        event = CommandInvoked(
            uid=f"cli:{uuid.uuid4().hex}",
            actor=ActorRef(platform=CLI_PLATFORM, external_id=getpass.getuser(), display_name="command line"),
            place=PlaceRef(platform=CLI_PLATFORM, channel_id="terminal"),
            occurred_at=datetime.now(UTC),
            command=ADMIN,
            args=tuple(args),
        )
        return await core.dispatch(event)
    finally:
        await store.close()


def _db_of(ctx: typer.Context, explicit: str | None) -> str:
    if explicit:
        return explicit
    parent = ctx.find_root().obj
    if isinstance(parent, dict) and parent.get("db"):
        return str(parent["db"])
    return database_url(None)


ArgsArg = Annotated[
    list[str] | None,
    typer.Argument(help="The command's arguments (see the usage above).", show_default=False),
]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (default: the main --db).")]
ProgrammesOpt = Annotated[
    Path | None, typer.Option("--programmes", help="Programme catalogue (default: the packaged one).")
]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help="Segmentation settings file.")]


def _command(name: str, summary: str, usage: str) -> None:
    def run(
        ctx: typer.Context,
        args: ArgsArg = None,
        db: DbOpt = None,
        programmes: ProgrammesOpt = None,
        rules: RulesOpt = None,
    ) -> None:
        try:
            reply = asyncio.run(
                run_admin(_db_of(ctx, db), [name, *(args or [])], programmes=programmes, rules=rules)
            )
        except CohortbotError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(reply.text)
        if reply.attachment is not None:
            file_name, content = reply.attachment
            Path(file_name).write_bytes(content)
            typer.echo(f"wrote {file_name}", err=True)
        if not reply.ok:
            raise typer.Exit(1)

    run.__doc__ = f"{summary}.  Usage: admin {usage}"
    admin_app.command(
        name,
        help=escape(f"{summary}. Usage: admin {usage}"),
        context_settings={"ignore_unknown_options": True, "allow_extra_args": False},
    )(run)


for _spec in _REGISTRY.specs(manager=True):
    _command(_spec.name, _spec.summary, _spec.usage)
