"""Managers' ``admin outbox status|dead|retry ID``: what is waiting, what failed and why, another try.

The texts are built by plain functions over the store (``status_text``, ``dead_text``,
``retry``) so the CLI and tests can call them without the command core; ``register`` puts
them behind the one ``outbox`` subcommand.
"""

from __future__ import annotations

from datetime import datetime

from bot.admin.registry import CommandContext, CommandSpec, Registry, options
from bot.core.errors import BadArgument
from bot.core.outbound import CommandReply
from bot.store import Store
from bot.store import outbox_views as views

USAGE = "outbox status | outbox dead [--limit N] | outbox retry ID"


def register(registry: Registry) -> None:
    registry.add(
        CommandSpec(
            "outbox", "messages waiting, dead letters and their reasons, retry one", USAGE, True, outbox
        )
    )


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "-"


async def status_text(store: Store, *, now: datetime) -> str:
    async with store.connection() as conn:
        st = await views.status(conn, now=now)
    if not st.counts:
        return "The outbox is empty."
    lines = [
        f"Outbox: {st.depth} waiting ({st.due} due now, oldest due since {_when(st.oldest_due)}), "
        f"{st.total('sent')} sent, {st.total('dead')} dead, {st.total('cancelled')} cancelled.",
        "",
        f"{'status':<10} {'lane':<12} {'platform':<8} {'count':>7}",
    ]
    lines += [f"{c.status:<10} {c.lane:<12} {c.platform:<8} {c.count:>7}" for c in st.counts]
    return "\n".join(lines)


async def dead_text(store: Store, *, limit: int = 20) -> str:
    async with store.connection() as conn:
        dead = await views.dead_rows(conn, limit=limit)
    if not dead:
        return "No dead letters."
    lines = [f"The {len(dead)} newest dead letters (retry one with `admin outbox retry ID`):"]
    for row in dead:
        to = ", ".join(f"{k}={v}" for k, v in row.recipient.items() if k != "display_name")
        what = row.template or row.kind
        if row.programme:
            what += f" ({row.programme})"
        lines.append(
            f"  #{row.id} {row.platform} {what} to {to}, {row.attempts} attempt(s), "
            f"due {_when(row.not_before)}: {row.last_error or 'no reason recorded'}"
        )
    return "\n".join(lines)


async def retry(store: Store, outbox_id: int, *, now: datetime) -> tuple[bool, str]:
    """Put a dead row back in the queue; (done, what to tell the manager)."""
    async with store.connection() as conn:
        row = await views.get_row(conn, outbox_id)
        if row is None:
            return False, f"There is no outbox message #{outbox_id}."
        if row.status != "dead":
            return (
                False,
                f"Outbox message #{outbox_id} is {row.status}, not dead; only dead letters can be retried.",
            )
        await views.retry_dead(conn, outbox_id, now=now)
    return True, f"Outbox message #{outbox_id} is queued again (was: {row.last_error or 'no reason'})."


async def outbox(ctx: CommandContext) -> CommandReply:
    rest, opts = options(ctx.args, values=("limit",))
    sub = rest[0].lower() if rest else "status"
    store, now = ctx.services.store, ctx.services.clock.now()
    if sub == "status" and len(rest) <= 1:
        return CommandReply(await status_text(store, now=now))
    if sub == "dead" and len(rest) == 1:
        raw = str(opts.get("limit", "20"))
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise BadArgument(f"--limit takes a number from 1 to 500, not {raw!r}")
        return CommandReply(await dead_text(store, limit=int(raw)))
    if sub == "retry" and len(rest) == 2:
        ident = rest[1].lstrip("#")
        if not ident.isdigit():
            raise BadArgument(f"retry takes an outbox message number, not {rest[1]!r}")
        done, text = await retry(store, int(ident), now=now)
        if done and ctx.services.wake_outbox is not None:
            ctx.services.wake_outbox()
        return CommandReply(text, ok=done)
    raise BadArgument(f"unknown outbox command {' '.join(rest)!r}")
