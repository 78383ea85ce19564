"""Managers' commands about people's rights and the record: audit, optout MEMBER, forget MEMBER.

A manager acts here on someone's behalf (a request by letter, a complaint): the same
consent and erasure functions as the member's own commands, and the audit line says who
did it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.admin import audit as audit_log
from bot.admin.commands_members import member_ref
from bot.admin.registry import CommandContext, CommandSpec, Registry, options
from bot.admin.selfservice import consent_scope
from bot.core.errors import BadArgument
from bot.core.outbound import CommandReply
from bot.store.privacy import cancel_pending, erase_member, set_consent


def register(registry: Registry) -> None:
    for spec in (
        CommandSpec(
            "audit",
            "the latest commands and who ran them",
            "audit [--since YYYY-MM-DD] [--limit N]",
            True,
            audit,
        ),
        CommandSpec(
            "optout",
            "opt a member out (on their behalf)",
            "optout MEMBER [programme|all]",
            True,
            optout_member,
        ),
        CommandSpec(
            "forget",
            "erase a member for good (asks for --confirm)",
            "forget MEMBER [--confirm]",
            True,
            forget_member,
            private_args=True,
        ),
    ):
        registry.add(spec)


def _date(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadArgument(f"--since takes a date like 2026-11-01, not {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def audit(ctx: CommandContext) -> CommandReply:
    rest, opts = options(ctx.args, values=("since", "limit"))
    if rest:
        raise BadArgument(f"unexpected {' '.join(rest)!r}")
    since = _date(str(opts["since"])) if "since" in opts else None
    limit = str(opts.get("limit", "30"))
    if not limit.isdigit() or not 0 < int(limit) <= 500:
        raise BadArgument("--limit takes a number from 1 to 500")
    async with ctx.services.store.connection() as conn:
        found = await audit_log.entries(conn, since=since, limit=int(limit))
    if not found:
        return CommandReply("No audit entries" + (f" since {since:%Y-%m-%d}." if since else "."))
    return CommandReply("\n".join(e.line() for e in found))


async def optout_member(ctx: CommandContext) -> CommandReply:
    if not 1 <= len(ctx.args) <= 2:
        raise BadArgument("usage: optout MEMBER [programme|all]")
    scope = consent_scope(ctx, ctx.args[1] if len(ctx.args) == 2 else None)
    async with ctx.services.store.connection() as conn:
        member_id = await member_ref(conn, ctx.args[0])
        await set_consent(conn, member_id, scope, "out", source=f"manager {ctx.by}", at=ctx.at)
        cancelled = await cancel_pending(
            conn, member_id, scope=scope, reason=f"opted out by {ctx.by}", at=ctx.at
        )
    return CommandReply(f"#{member_id} opted out ({scope}); {cancelled} waiting message(s) cancelled.")


async def forget_member(ctx: CommandContext) -> CommandReply:
    rest, opts = options(ctx.args, flags=("confirm",))
    if len(rest) != 1:
        raise BadArgument("usage: forget MEMBER [--confirm]")
    async with ctx.services.store.connection() as conn:
        member_id = await member_ref(conn, rest[0])
        if not opts.get("confirm"):
            return CommandReply(
                f"This erases member #{member_id} from every table for good and keeps only hashes "
                f"of their accounts. Run `admin forget #{member_id} --confirm` to go ahead."
            )
        report = await erase_member(conn, member_id, at=ctx.at)
    return CommandReply(
        f"Member #{member_id} erased ({report.identities} account(s); {report.hashes} hashes kept "
        "so they are not imported again)."
    )
