"""Merging two members who are one person, undoing it, and suggesting candidates to a manager.

A merge moves the absorbed member's accounts and everything they did to the kept member
and records exactly what moved, so ``unmerge`` can give it back row by row. Segments are
not recomputed here: the next classification decides the merged person afresh.

The moved rows' ids are kept in ``member_merge.moved`` (migration 0010 moved them there
from the trailing object of ``identity_ids`` where the first version kept them).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument, UnknownMember
from bot.store.live_models import (
    Consent,
    Invitation,
    MemberMerge,
    MergeSuggestion,
    OutboxMessage,
    ProgrammePoints,
    SolutionCheck,
)
from bot.store.models import Activity, Identity, Member, Place

log = logging.getLogger(__name__)

#: Names shared by more members than this are too common to suggest anything.
_MAX_NAMESAKES = 4
_MIN_NAME = 4


@dataclass(frozen=True, slots=True)
class MergeResult:
    merge_id: int
    kept: int
    merged: int
    identities: int
    activities: int


async def _exists(conn: AsyncConnection, member_id: int) -> tuple[int, str, bool]:
    row = (
        await conn.execute(
            select(Member.id, Member.display_name, Member.is_bot).where(Member.id == member_id)
        )
    ).first()
    if row is None:
        raise UnknownMember(f"no member #{member_id}")
    return row[0], row[1], row[2]


async def _ids(conn: AsyncConnection, query: Any) -> list[int]:
    return [int(i) for i in (await conn.execute(query)).scalars()]


async def merge(conn: AsyncConnection, keep: int, gone: int, *, by: str, at: datetime) -> MergeResult:
    """Fold member ``gone`` into ``keep`` inside the caller's transaction."""
    if keep == gone:
        raise BadArgument("a member cannot be merged with themselves")
    await _exists(conn, keep)
    _, gone_name, _ = await _exists(conn, gone)
    identities = await _ids(conn, select(Identity.id).where(Identity.member_id == gone))
    activities = await _ids(conn, select(Activity.id).where(Activity.member_id == gone))
    # Points for a source the kept member was already credited for would break the unique key.
    kept_sources = select(ProgrammePoints.source_uid).where(ProgrammePoints.member_id == keep)
    await conn.execute(
        delete(ProgrammePoints).where(
            ProgrammePoints.member_id == gone, ProgrammePoints.source_uid.in_(kept_sources)
        )
    )
    points = await _ids(conn, select(ProgrammePoints.id).where(ProgrammePoints.member_id == gone))
    kept_programmes = select(Invitation.programme).where(Invitation.member_id == keep)
    invitations = await _ids(
        conn,
        select(Invitation.id).where(
            Invitation.member_id == gone, Invitation.programme.not_in(kept_programmes)
        ),
    )
    outbox = await _ids(conn, select(OutboxMessage.id).where(OutboxMessage.member_id == gone))
    asked = await _ids(conn, select(SolutionCheck.id).where(SolutionCheck.asker_member_id == gone))
    helped = await _ids(conn, select(SolutionCheck.id).where(SolutionCheck.helper_member_id == gone))
    await _merge_consents(conn, keep, gone)
    for table, column, ids in (
        (Identity, Identity.member_id, identities),
        (Activity, Activity.member_id, activities),
        (ProgrammePoints, ProgrammePoints.member_id, points),
        (Invitation, Invitation.member_id, invitations),
        (OutboxMessage, OutboxMessage.member_id, outbox),
        (SolutionCheck, SolutionCheck.asker_member_id, asked),
        (SolutionCheck, SolutionCheck.helper_member_id, helped),
    ):
        await _move(conn, table, column, ids, to=keep)
    await conn.execute(delete(Member).where(Member.id == gone))
    moved = {
        "activities": activities,
        "points": points,
        "invitations": invitations,
        "outbox": outbox,
        "asked": asked,
        "helped": helped,
    }
    merge_id = (
        await conn.execute(
            insert(MemberMerge)
            .values(
                kept_member_id=keep,
                merged_member_id=gone,
                merged_display_name=gone_name[:200],
                identity_ids=list(identities),
                moved=moved,
                by=by[:320],
                at=at,
                undone_at=None,
            )
            .returning(MemberMerge.id)
        )
    ).scalar_one()
    log.info("merged #%d into #%d (merge %d) by %s", gone, keep, merge_id, by)
    return MergeResult(merge_id, keep, gone, len(identities), len(activities))


async def _move(conn: AsyncConnection, table: Any, column: Any, ids: Sequence[int], *, to: int) -> None:
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        await conn.execute(update(table).where(table.id.in_(chunk)).values({column.key: to}))


async def _merge_consents(conn: AsyncConnection, keep: int, gone: int) -> None:
    """The stricter word wins: an opt-out of either account stays an opt-out of the person."""
    kept = {
        s: st
        for s, st in await conn.execute(select(Consent.scope, Consent.state).where(Consent.member_id == keep))
    }
    for scope, state, source, at in await conn.execute(
        select(Consent.scope, Consent.state, Consent.source, Consent.at).where(Consent.member_id == gone)
    ):
        if scope not in kept:
            await conn.execute(
                insert(Consent).values(member_id=keep, scope=scope, state=state, source=source, at=at)
            )
        elif state == "out" and kept[scope] != "out":
            await conn.execute(
                update(Consent)
                .where(Consent.member_id == keep, Consent.scope == scope)
                .values(state="out", source=source, at=at)
            )


async def unmerge(conn: AsyncConnection, merge_id: int, *, by: str, at: datetime) -> int:
    """Give a merged member back their accounts and rows; returns their (restored) member id."""
    row = (await conn.execute(select(MemberMerge).where(MemberMerge.id == merge_id))).first()
    if row is None:
        raise BadArgument(f"no merge {merge_id}")
    if row.undone_at is not None:
        raise BadArgument(f"merge {merge_id} was undone already on {row.undone_at:%Y-%m-%d}")
    keep = row.kept_member_id
    identities = [int(x) for x in row.identity_ids]
    moved = {str(k): [int(i) for i in v] for k, v in (row.moved or {}).items()}
    taken = (await conn.execute(select(Member.id).where(Member.id == row.merged_member_id))).scalar()
    values: dict[str, Any] = {"display_name": row.merged_display_name, "is_bot": False, "created_at": at}
    if taken is None:
        values["id"] = row.merged_member_id  # the same number again, so old references still fit
    back = (await conn.execute(insert(Member).values(**values).returning(Member.id))).scalar_one()
    still = set(await _ids(conn, select(Identity.id).where(Identity.member_id == keep)))
    await _move(conn, Identity, Identity.member_id, [i for i in identities if i in still], to=back)
    for key, table, column in (
        ("activities", Activity, Activity.member_id),
        ("points", ProgrammePoints, ProgrammePoints.member_id),
        ("invitations", Invitation, Invitation.member_id),
        ("outbox", OutboxMessage, OutboxMessage.member_id),
        ("asked", SolutionCheck, SolutionCheck.asker_member_id),
        ("helped", SolutionCheck, SolutionCheck.helper_member_id),
    ):
        ids = moved.get(key, [])
        owned = (
            set(await _ids(conn, select(table.id).where(column == keep, table.id.in_(ids)))) if ids else set()
        )
        await _move(conn, table, column, [i for i in ids if i in owned], to=back)
    await _return_later_activity(conn, keep, back)
    bots = (await conn.execute(select(Identity.is_bot).where(Identity.member_id == back))).scalars()
    if any(bots):
        await conn.execute(update(Member).where(Member.id == back).values(is_bot=True))
    # Opt-outs stay with both people: nobody gets a message because a merge was undone.
    for scope, source in await conn.execute(
        select(Consent.scope, Consent.source).where(Consent.member_id == keep, Consent.state == "out")
    ):
        await conn.execute(
            insert(Consent).values(member_id=back, scope=scope, state="out", source=source, at=at)
        )
    await conn.execute(update(MemberMerge).where(MemberMerge.id == merge_id).values(undone_at=at))
    log.info("undid merge %d: #%d back from #%d by %s", merge_id, back, keep, by)
    return back


async def _return_later_activity(conn: AsyncConnection, keep: int, back: int) -> None:
    """Activity that arrived after the merge from the returning accounts goes back with them.

    Activities do not name the account they came from, only the place; on a platform where
    only the returning member has an account, everything there is theirs. (Where both keep
    accounts on one platform, later activity stays with the kept member.)
    """
    platforms = {
        member: set(
            (await conn.execute(select(Identity.platform).where(Identity.member_id == member))).scalars()
        )
        for member in (keep, back)
    }
    theirs = platforms[back] - platforms[keep]
    if not theirs:
        return
    places = select(Place.id).where(Place.platform.in_(sorted(theirs)))
    await conn.execute(
        update(Activity)
        .where(Activity.member_id == keep, Activity.place_id.in_(places))
        .values(member_id=back)
    )


def normalise_name(name: str) -> str:
    """Case, accents, punctuation and spacing removed: ``"José  O'Neil"`` -> ``"jose oneil"``."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.replace("_", " ").split())


async def suggest_merges(conn: AsyncConnection, *, at: datetime | None = None) -> list[int]:
    """Record suggestions for members who share a name on different platforms; returns new ids.

    Pairs a manager rejected keep their rejection (the pair is unique), and bots are left out.
    """
    rows = await conn.execute(
        select(Identity.member_id, Identity.platform, Identity.display_name, Identity.username)
        .join(Member, Member.id == Identity.member_id)
        .where(Member.is_bot.is_(False))
    )
    platforms: dict[int, set[str]] = defaultdict(set)
    by_name: dict[str, set[int]] = defaultdict(set)
    shown: dict[str, str] = {}
    for member_id, platform, display, username in rows:
        platforms[member_id].add(platform)
        for raw in {display or "", username or ""}:
            key = normalise_name(raw)
            if len(key) >= _MIN_NAME:
                by_name[key].add(member_id)
                shown.setdefault(key, raw.strip())
    pairs: dict[tuple[int, int], str] = {}
    for key, members in by_name.items():
        if len(members) < 2 or len(members) > _MAX_NAMESAKES:
            continue
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if platforms[a].isdisjoint(platforms[b]):
                    where = f"{'/'.join(sorted(platforms[a]))} and {'/'.join(sorted(platforms[b]))}"
                    pairs.setdefault((a, b), f"same name {shown[key]!r} on {where}"[:300])
    if not pairs:
        return []
    at = at or datetime.now(UTC)
    existing = set()
    for a, b in await conn.execute(select(MergeSuggestion.member_a, MergeSuggestion.member_b)):
        existing.add((a, b))
    fresh = [
        {"member_a": a, "member_b": b, "reason": reason, "status": "open", "created_at": at}
        for (a, b), reason in sorted(pairs.items())
        if (a, b) not in existing
    ]
    if not fresh:
        return []
    ins: Any = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(MergeSuggestion)
    await conn.execute(ins.on_conflict_do_nothing(), fresh)
    keys = [
        and_(MergeSuggestion.member_a == f["member_a"], MergeSuggestion.member_b == f["member_b"])
        for f in fresh
    ]
    out: list[int] = []
    for i in range(0, len(keys), 200):
        out += await _ids(conn, select(MergeSuggestion.id).where(or_(*keys[i : i + 200])))
    return sorted(out)
