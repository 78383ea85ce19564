"""Managers' commands about programmes: programme list|show|pause|resume, invite, approvals.

The catalogue is configuration; what managers change at run time is whether a programme
is paused (``programme_state``), which segment a campaign goes to, and which held
invitations go out. Campaigns are dry runs unless ``--confirm`` is given.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.admin.registry import CommandContext, CommandSpec, Registry, options
from bot.core.errors import BadArgument
from bot.core.outbound import CommandReply
from bot.store.live_models import Invitation, ProgrammeState
from bot.store.models import Member
from messages import funnel
from messages.planner import Planner
from messages.points import leaderboard
from messages.programmes import Catalogue, load_catalogue
from messages.snapshots import paused_programmes

_APPROVALS_SHOWN = 20


def register(registry: Registry) -> None:
    for spec in (
        CommandSpec(
            "programme",
            "list programmes, show one, pause or resume it",
            "programme list | show NAME | pause NAME | resume NAME",
            True,
            programme,
        ),
        CommandSpec(
            "invite",
            "invite a segment to a programme (a dry run without --confirm)",
            "invite PROGRAMME SEGMENT [--confirm]",
            True,
            invite,
        ),
        CommandSpec(
            "approvals",
            "invitations waiting for a manager; approve or reject one",
            "approvals [approve|reject ID]",
            True,
            approvals,
        ),
    ):
        registry.add(spec)


def _catalogue(ctx: CommandContext) -> Catalogue:
    services = ctx.services
    if isinstance(services.catalogue, Catalogue):
        return services.catalogue
    if isinstance(services.planner, Planner):
        return services.planner.catalogue
    return load_catalogue()


def _planner(ctx: CommandContext) -> Planner:
    if isinstance(ctx.services.planner, Planner):
        return ctx.services.planner
    return Planner(_catalogue(ctx), renderer=ctx.services.renderer)


def _now(ctx: CommandContext) -> datetime:
    return ctx.services.clock.now()


async def programme(ctx: CommandContext) -> CommandReply:
    args = ctx.args
    sub = args[0].lower() if args else "list"
    catalogue = _catalogue(ctx)
    if sub == "list" and len(args) <= 1:
        return await _list(ctx, catalogue)
    if len(args) != 2 or sub not in ("show", "pause", "resume"):
        raise BadArgument("usage: programme list | show NAME | pause NAME | resume NAME")
    try:
        prog = catalogue.get(args[1])
    except Exception as exc:  # ConfigurationError: the name is the user's mistake here
        raise BadArgument(str(exc)) from None
    if sub == "show":
        return await _show(ctx, catalogue, prog.name)
    paused = sub == "pause"
    async with ctx.services.store.connection() as conn:
        await _set_paused(conn, prog.name, paused=paused, by=ctx.by, at=_now(ctx))
    state = "paused: no new invitations until resumed" if paused else "resumed"
    return CommandReply(f"{prog.title} ({prog.name}) {state}.")


async def _set_paused(conn: AsyncConnection, name: str, *, paused: bool, by: str, at: datetime) -> None:
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(ProgrammeState)
    await conn.execute(
        insert.values(name=name, paused=paused, changed_by=by, changed_at=at).on_conflict_do_update(
            index_elements=["name"], set_={"paused": paused, "changed_by": by, "changed_at": at}
        )
    )


async def _list(ctx: CommandContext, catalogue: Catalogue) -> CommandReply:
    async with ctx.services.store.connection() as conn:
        paused = await paused_programmes(conn)
        rows = await funnel.counts(conn)
    totals: dict[str, dict[str, int]] = {}
    for r in rows:
        t = totals.setdefault(r.programme, {})
        for stage, n in r.reached.items():
            t[stage] = t.get(stage, 0) + n
    lines = ["Programmes (in priority order):"]
    for p in catalogue:
        t = totals.get(p.name, {})
        state = " [paused]" if p.name in paused else ""
        approval = (
            "every invitation approved"
            if p.approval_segments is None
            else (
                f"approval for {', '.join(sorted(p.approval_segments))}"
                if p.approval_segments
                else "no approval"
            )
        )
        lines.append(
            f"- {p.name}{state}: {p.title}; for {p.target.source}; {approval}; "
            f"invited {t.get('planned', 0)}, sent {t.get('sent', 0)}, accepted {t.get('accepted', 0)}, "
            f"active {t.get('active', 0)}"
        )
    return CommandReply("\n".join(lines))


async def _show(ctx: CommandContext, catalogue: Catalogue, name: str) -> CommandReply:
    p = catalogue.get(name)
    s = p.settings
    now = _now(ctx)
    async with ctx.services.store.connection() as conn:
        paused = name in await paused_programmes(conn)
        rows = await funnel.counts(conn, programme=name)
        board = await leaderboard(conn, name, s.leaderboard, now, limit=5) if s.points else []
    lines = [
        f"{p.title} ({p.name}){' [paused]' if paused else ''}",
        f"For: {p.target.source}",
        f"Benefit: {s.benefit}",
        f"Points: {', '.join(f'{k} {v}' for k, v in s.points.items()) or 'none'}; "
        f"leaderboard per {s.leaderboard}{' (public)' if s.public_scoreboard else ''}",
        f"Invitations expire after {s.expires_after_days} days; platforms: {', '.join(s.platforms) or 'any'}",
    ]
    if rows:
        lines.append("Funnel by segment (invited / sent / opened / accepted / active):")
        for r in rows:
            reached = r.reached
            lines.append(f"- {r.segment}: " + " / ".join(str(reached[stage]) for stage in funnel.STAGES))
    else:
        lines.append("No invitations yet.")
    if board:
        lines.append(f"Leaderboard this {s.leaderboard}:")
        lines.extend(f"{r.rank}. {r.display_name} — {r.points}" for r in board)
    return CommandReply("\n".join(lines))


async def invite(ctx: CommandContext) -> CommandReply:
    positional, found = options(ctx.args, flags=("confirm",))
    if len(positional) != 2:
        raise BadArgument("usage: invite PROGRAMME SEGMENT [--confirm]")
    catalogue = _catalogue(ctx)
    if positional[0] not in catalogue:
        raise BadArgument(f"unknown programme {positional[0]!r} (known: {', '.join(catalogue.names())})")
    confirm = bool(found.get("confirm"))
    async with ctx.services.store.connection() as conn:
        preview = await _planner(ctx).campaign(
            conn, positional[0], positional[1], now=_now(ctx), confirm=confirm, by=ctx.by
        )
    if confirm and preview.enqueued and ctx.services.wake_outbox is not None:
        ctx.services.wake_outbox()
    skipped = ", ".join(f"{rule} {n}" for rule, n in sorted(preview.skipped.items())) or "none"
    head = (
        f"Invited {preview.would_invite} of {preview.members} members of {preview.segment} "
        f"to {preview.programme}"
        if confirm
        else f"Dry run: {preview.would_invite} of {preview.members} members of {preview.segment} "
        f"would be invited to {preview.programme}"
    )
    lines = [f"{head}; skipped: {skipped}."]
    if preview.sample:
        lines.append("For example:")
        for m in preview.sample:
            when = f", not before {m.not_before:%Y-%m-%d %H:%M} UTC" if m.not_before else ""
            lines.append(f"- #{m.member_id} {m.display_name} on {m.platform}{when}")
    if not confirm and preview.would_invite:
        lines.append(f"Run `admin invite {preview.programme} {preview.segment} --confirm` to send.")
    return CommandReply("\n".join(lines))


async def approvals(ctx: CommandContext) -> CommandReply:
    args = ctx.args
    if not args:
        return await _pending(ctx)
    if len(args) != 2 or args[0].lower() not in ("approve", "reject"):
        raise BadArgument("usage: approvals [approve|reject ID]")
    ref = args[1].removeprefix("#")
    if not ref.isdigit():
        raise BadArgument(f"the invitation id must be a number, not {args[1]!r}")
    invitation_id, now = int(ref), _now(ctx)
    async with ctx.services.store.connection() as conn:
        if args[0].lower() == "approve":
            planned = await _planner(ctx).approve(conn, invitation_id, by=ctx.by, at=now)
            when = f" (not before {planned.not_before:%Y-%m-%d %H:%M} UTC)" if planned.not_before else ""
            reply = (
                f"Invitation #{invitation_id} to {planned.programme} approved; "
                f"it goes out on {planned.platform}{when}."
            )
        else:
            await funnel.reject(conn, invitation_id, by=ctx.by, at=now)
            reply = f"Invitation #{invitation_id} rejected; the bot will not invite this member to it."
    if args[0].lower() == "approve" and ctx.services.wake_outbox is not None:
        ctx.services.wake_outbox()
    return CommandReply(reply)


async def _pending(ctx: CommandContext) -> CommandReply:
    async with ctx.services.store.connection() as conn:
        rows = (
            await conn.execute(
                select(
                    Invitation.id,
                    Invitation.programme,
                    Invitation.segment,
                    Invitation.planned_at,
                    Invitation.member_id,
                    Member.display_name,
                )
                .join(Member, Member.id == Invitation.member_id)
                .where(Invitation.status == "awaiting_approval")
                .order_by(Invitation.planned_at, Invitation.id)
                .limit(_APPROVALS_SHOWN + 1)
            )
        ).all()
    if not rows:
        return CommandReply("No invitations are waiting for approval.")
    lines = ["Waiting for approval (approvals approve|reject ID):"]
    for r in rows[:_APPROVALS_SHOWN]:
        lines.append(
            f"- #{r.id} {r.programme}: {r.display_name} (member #{r.member_id}, {r.segment}), "
            f"planned {r.planned_at:%Y-%m-%d}"
        )
    if len(rows) > _APPROVALS_SHOWN:
        lines.append(f"... and more; the oldest {_APPROVALS_SHOWN} are shown.")
    return CommandReply("\n".join(lines))
