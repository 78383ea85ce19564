"""Managers' commands about members and segments: segments, member, set, merge, unmerge, suggestions.

Readings reuse the store's queries (the ones ``cohortbot members show`` prints from);
overrides go through the segmentation engine, exactly as ``cohortbot members set`` does.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.admin.explain import member_text
from bot.admin.merging import merge, suggest_merges, unmerge
from bot.admin.registry import CommandContext, CommandSpec, Registry
from bot.core.errors import BadArgument
from bot.core.outbound import CommandReply
from bot.store.live_models import MergeSuggestion
from bot.store.models import SegmentAssignment
from bot.store.queries import dimension_counts, member_views, recent_activity, resolve_member, segment_sizes


def register(registry: Registry) -> None:
    for spec in (
        CommandSpec(
            "segments", "members per segment and dimension, this week's movements", "segments", True, segments
        ),
        CommandSpec(
            "member",
            "a member's identities and every dimension with its evidence",
            "member MEMBER",
            True,
            member,
        ),
        CommandSpec(
            "set",
            "pin a dimension for a member (or 'auto' to unpin)",
            "set MEMBER DIMENSION VALUE|auto",
            True,
            set_dimension,
        ),
        CommandSpec("merge", "merge member B into member A (one person)", "merge A B", True, merge_members),
        CommandSpec("unmerge", "undo a merge", "unmerge MERGE_ID", True, unmerge_members),
        CommandSpec(
            "suggestions",
            "possible duplicates to approve or reject",
            "suggestions [approve|reject ID]",
            True,
            suggestions,
        ),
    ):
        registry.add(spec)


async def member_ref(conn: AsyncConnection, ref: str) -> int:
    """A member from ``#12``, ``12``, an e-mail address, ``platform:external_id`` or a unique name."""
    return await resolve_member(conn, ref.removeprefix("#") if ref.startswith("#") else ref)


def _exactly(ctx: CommandContext, count: int, usage: str) -> tuple[str, ...]:
    if len(ctx.args) != count:
        raise BadArgument(f"usage: {usage}")
    return ctx.args


def _number(text: str, what: str) -> int:
    if not text.removeprefix("#").isdigit():
        raise BadArgument(f"{what} must be a number, not {text!r}")
    return int(text.removeprefix("#"))


def week_start(now: datetime, timezone: str) -> datetime:
    """Monday 00:00 of ``now``'s week in the configured time zone."""
    local = now.astimezone(ZoneInfo(timezone))
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday


async def movements(conn: AsyncConnection, *, since: datetime) -> Counter[tuple[str, str, str]]:
    """(dimension, from, to) counts for values that changed since ``since``."""
    touched = (
        select(SegmentAssignment.member_id, SegmentAssignment.dimension)
        .where(SegmentAssignment.decided_at >= since)
        .distinct()
    )
    rows = await conn.execute(
        select(
            SegmentAssignment.member_id,
            SegmentAssignment.dimension,
            SegmentAssignment.value,
            SegmentAssignment.decided_at,
        )
        .where(tuple_(SegmentAssignment.member_id, SegmentAssignment.dimension).in_(touched))
        .order_by(
            SegmentAssignment.member_id,
            SegmentAssignment.dimension,
            SegmentAssignment.decided_at,
            SegmentAssignment.id,
        )
    )
    out: Counter[tuple[str, str, str]] = Counter()
    previous: tuple[int, str, str] | None = None
    for member_id, dimension, value, decided_at in rows:
        same = previous is not None and previous[:2] == (member_id, dimension)
        if same and previous is not None and decided_at >= since and previous[2] != value:
            out[(dimension, previous[2], value)] += 1
        previous = (member_id, dimension, value)
    return out


async def segments(ctx: CommandContext) -> CommandReply:
    since = week_start(ctx.services.clock.now(), ctx.services.timezone)
    async with ctx.services.store.connection() as conn:
        sizes = await segment_sizes(conn)
        dims = await dimension_counts(conn)
        moved = await movements(conn, since=since)
    lines = ["Segments (members):"]
    lines += [f"  {name}: {n}" for name, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not sizes:
        lines.append("  none yet (run `cohortbot classify`)")
    lines.append("Dimensions:")
    for dim, values in dims.items():
        shown = ", ".join(f"{v} {n}" for v, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"  {dim}: {shown}")
    lines.append(f"Movements since {since:%Y-%m-%d}:")
    for (dim, old, new), n in moved.most_common(20):
        lines.append(f"  {dim}: {old} → {new}: {n}")
    if not moved:
        lines.append("  none")
    return CommandReply("\n".join(lines))


async def member(ctx: CommandContext) -> CommandReply:
    (ref,) = _exactly(ctx, 1, "member MEMBER")
    async with ctx.services.store.connection() as conn:
        member_id = await member_ref(conn, ref)
        views = [v async for v in member_views(conn, member_ids=[member_id])]
        recent = await recent_activity(conn, member_id)
    return CommandReply(member_text(views[0], recent))


async def set_dimension(ctx: CommandContext) -> CommandReply:
    ref, dimension, value = _exactly(ctx, 3, "set MEMBER DIMENSION VALUE|auto")
    engine = ctx.services.segmentation
    if engine is None:
        return CommandReply("Segmentation is not configured in this process.", ok=False)
    async with ctx.services.store.connection() as conn:
        member_id = await member_ref(conn, ref)
    if value == "auto":
        decision = await engine.clear_override(member_id, dimension, by=ctx.by)
        return CommandReply(
            f"#{member_id} {dimension}: override cleared; rules now say {decision.value(dimension)}"
        )
    await engine.set_override(member_id, dimension, value, by=ctx.by)
    return CommandReply(f"#{member_id} {dimension} pinned to {value} by {ctx.by}")


async def merge_members(ctx: CommandContext) -> CommandReply:
    a, b = _exactly(ctx, 2, "merge A B")
    async with ctx.services.store.connection() as conn:
        keep, gone = await member_ref(conn, a), await member_ref(conn, b)
        result = await merge(conn, keep, gone, by=ctx.by, at=ctx.at)
    return CommandReply(
        f"Merged #{gone} into #{keep} (merge {result.merge_id}: {result.identities} account(s), "
        f"{result.activities} activities moved). Segments are recomputed at the next classification; "
        f"`admin unmerge {result.merge_id}` undoes it."
    )


async def unmerge_members(ctx: CommandContext) -> CommandReply:
    (raw,) = _exactly(ctx, 1, "unmerge MERGE_ID")
    async with ctx.services.store.connection() as conn:
        back = await unmerge(conn, _number(raw, "MERGE_ID"), by=ctx.by, at=ctx.at)
    return CommandReply(f"Merge {raw} undone: member #{back} has their accounts back.")


async def suggestions(ctx: CommandContext) -> CommandReply:
    if ctx.args:
        action, raw = _exactly(ctx, 2, "suggestions [approve|reject ID]")
        if action not in ("approve", "reject"):
            raise BadArgument(f"{action!r}: say approve or reject")
        return await _decide(ctx, action, _number(raw, "ID"))
    async with ctx.services.store.connection() as conn:
        new = await suggest_merges(conn, at=ctx.at)
        rows = (
            await conn.execute(
                select(
                    MergeSuggestion.id,
                    MergeSuggestion.member_a,
                    MergeSuggestion.member_b,
                    MergeSuggestion.reason,
                )
                .where(MergeSuggestion.status == "open")
                .order_by(MergeSuggestion.id)
                .limit(25)
            )
        ).all()
    if not rows:
        return CommandReply("No merge suggestions open.")
    lines = [f"Open merge suggestions ({len(new)} new):"]
    lines += [f"  {sid}: #{a} + #{b} — {reason}" for sid, a, b, reason in rows]
    lines.append("`admin suggestions approve ID` merges the second into the first; `reject ID` drops it.")
    return CommandReply("\n".join(lines))


async def _decide(ctx: CommandContext, action: str, suggestion_id: int) -> CommandReply:
    async with ctx.services.store.connection() as conn:
        row = (
            await conn.execute(
                select(MergeSuggestion.member_a, MergeSuggestion.member_b, MergeSuggestion.status).where(
                    MergeSuggestion.id == suggestion_id
                )
            )
        ).first()
        if row is None or row.status != "open":
            raise BadArgument(f"no open merge suggestion {suggestion_id}")
        if action == "reject":
            await conn.execute(
                update(MergeSuggestion).where(MergeSuggestion.id == suggestion_id).values(status="rejected")
            )
            return CommandReply(f"Suggestion {suggestion_id} rejected; it will not be suggested again.")
        await conn.execute(
            update(MergeSuggestion).where(MergeSuggestion.id == suggestion_id).values(status="approved")
        )
        result = await merge(conn, row.member_a, row.member_b, by=ctx.by, at=ctx.at)
    return CommandReply(
        f"Suggestion {suggestion_id} approved: #{row.member_b} merged into #{row.member_a} "
        f"(merge {result.merge_id}; `admin unmerge {result.merge_id}` undoes it)."
    )
