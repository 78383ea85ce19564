"""Writing segmentation results: decisions (with history), feature summaries, current rows.

Split from ``repository`` (the reads) because the SQLite fast paths live here: plain
``executemany`` statements where SQLAlchemy would spend more per row than the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.activity_rows import sqlite_time
from bot.store.db import json_text
from bot.store.models import MemberFeatureRow, SegmentAssignment
from bot.store.sqlite_hops import last_rowid
from bot.store.sqlite_trip import Runner
from segmentation import sqlite_writes as sq
from segmentation.features import MemberFeatures
from segmentation.model import DimensionDecision, SegmentDecision
from segmentation.repository import CURSOR_KEY, CurrentRow, _chunks, evidence_digest
from segmentation.state_memo import StateMemo


def _decisions_json(rows: Mapping[str, CurrentRow]) -> dict[str, Any]:
    return {
        dim: {
            "id": r.id,
            "value": r.value,
            "confidence": r.confidence,
            "digest": r.digest,
            "pinned_by": r.pinned_by,
        }
        for dim, r in rows.items()
    }


async def save_features(
    conn: AsyncConnection,
    features: Mapping[int, MemberFeatures | dict[str, Any]],
    decisions: Mapping[int, SegmentDecision],
    *,
    now: datetime,
    ruleset_version: str,
    current: Mapping[int, Mapping[str, CurrentRow]] | None = None,
) -> None:
    """Upsert features, segments and (when given) the current decision rows of each member."""
    if conn.dialect.name == "sqlite":
        # Plain values in one executemany: SQLAlchemy's per-row JSON and date processing cost
        # more than the statement itself on the live pipeline's small batches.
        params = _feature_params(
            features, decisions, now=now, ruleset_version=ruleset_version, current=current
        )
        if params:
            await conn.exec_driver_sql(sq.SQLITE_UPSERT_FEATURES, params)
        return
    rows: list[dict[str, Any]] = [
        {
            "member_id": mid,
            "features": f if isinstance(f, dict) else f.to_json(),
            "segments": list(decisions[mid].segments) if mid in decisions else [],
            "decisions": _decisions_json(current[mid]) if current is not None and mid in current else None,
            "ruleset_version": ruleset_version,
            "classified_at": now,
        }
        for mid, f in features.items()
    ]
    for chunk in _chunks(rows):
        stmt: Any
        if conn.dialect.name == "postgresql":
            stmt = postgresql.insert(MemberFeatureRow)
        else:
            stmt = sqlite.insert(MemberFeatureRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["member_id"],
            set_={
                "features": stmt.excluded.features,
                "segments": stmt.excluded.segments,
                "decisions": stmt.excluded.decisions,
                "ruleset_version": stmt.excluded.ruleset_version,
                "classified_at": stmt.excluded.classified_at,
            },
        )
        await conn.execute(stmt, list(chunk))


def _feature_params(
    features: Mapping[int, MemberFeatures | dict[str, Any]],
    decisions: Mapping[int, SegmentDecision],
    *,
    now: datetime,
    ruleset_version: str,
    current: Mapping[int, Mapping[str, CurrentRow]] | None,
    memo: StateMemo | None = None,
) -> list[tuple[Any, ...]]:
    """The SQLite upsert's plain values for each member (what ``save_features`` writes).

    With a ``memo``, decision rows equal to those it handed out are written as the text
    they were read as (which is what they would serialise to) instead of being serialised again.
    """
    stamp = sqlite_time(now)
    out: list[tuple[Any, ...]] = []
    for mid, f in features.items():
        decision = decisions.get(mid)
        rows = current.get(mid) if current is not None else None
        text = None
        if rows is not None:
            text = memo.decisions_text(mid, rows) if memo is not None else None
            if text is None:
                text = json_text(_decisions_json(rows))
        out.append(
            (
                mid,
                json_text(f if isinstance(f, dict) else f.to_json()),
                json_text(list(decision.segments) if decision is not None else []),
                text,
                ruleset_version,
                stamp,
            )
        )
    return out


@dataclass(slots=True)
class WriteReport:
    moved: int = 0
    refreshed: int = 0
    #: Members with at least one dimension whose value changed (or was set for the first time).
    moved_members: set[int] = field(default_factory=set)
    #: Every written member's current rows after the write, for the decisions kept with features.
    current: dict[int, dict[str, CurrentRow]] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    """What a write of decisions changes, worked out before touching the database."""

    report: WriteReport
    inserts: list[dict[str, Any]]
    #: The evidence digest of each insert, in the same order (computed once, kept with the row).
    digests: list[str]
    retire: list[int]
    refresh: list[dict[str, Any]]


#: Evidence digests of decisions, by the decision's content (``_digest``).
_DIGESTS: dict[DimensionDecision, str] = {}
#: Distinct decisions remembered; the memo is emptied when it fills (a pure function: never stale).
_DIGEST_MEMO_SIZE = 8192


def _digest(d: DimensionDecision) -> str:
    """The evidence digest of a decision, built and hashed once per distinct decision.

    Most of a round's decisions are the same as another member's or as last round's (over
    half are "nothing found": one shared object per dimension), and a decision is a
    frozen value, so the digest of its export is remembered by the decision itself (its
    fields, compared as a dataclass compares them). The export is built only for the rows
    that are written. A decision carrying a worker's ready-made export is digested afresh:
    that export is not part of its equality.
    Equal fields give equal exports here: weights and confidences are non-negative floats,
    rounded (no -0.0, no int beside an equal float).
    """
    if d.exported is not None:
        return evidence_digest(d.as_export())
    digest = _DIGESTS.get(d)
    if digest is None:
        digest = evidence_digest(d.as_export())
        if len(_DIGESTS) >= _DIGEST_MEMO_SIZE:
            _DIGESTS.clear()
        _DIGESTS[d] = digest
    return digest


def _plan(
    decisions: Mapping[int, SegmentDecision],
    current: Mapping[int, Mapping[str, CurrentRow]],
    *,
    now: datetime,
) -> _Plan:
    plan = _Plan(WriteReport(), [], [], [], [])
    report, inserts, retire, refresh = plan.report, plan.inserts, plan.retire, plan.refresh
    for mid, decision in decisions.items():
        rows = current.get(mid, {})
        after = report.current[mid] = dict(rows)
        for dim, d in decision.dimensions.items():
            old = rows.get(dim)
            if d.pinned_by and old is not None and old.pinned_by == d.pinned_by and old.value == d.value:
                continue  # a pin is written once, by the override itself
            digest = _digest(d)
            if old is not None and old.value == d.value:
                if abs(old.confidence - d.confidence) > 1e-9 or old.digest != digest:
                    after[dim] = CurrentRow(old.id, old.value, d.confidence, digest, old.pinned_by)
                    refresh.append(
                        {
                            "rid": old.id,
                            "confidence": d.confidence,
                            "evidence": d.as_export(),
                            "ruleset_version": decision.ruleset_version,
                            "updated_at": now,
                        }
                    )
                continue
            if old is not None:
                retire.append(old.id)
            inserts.append(
                {
                    "member_id": mid,
                    "dimension": dim,
                    "value": d.value,
                    "confidence": d.confidence,
                    "evidence": d.as_export(),
                    "ruleset_version": decision.ruleset_version,
                    "decided_at": now,
                    "updated_at": now,
                    "pinned_by": d.pinned_by,
                    "current": True,
                }
            )
            plan.digests.append(digest)
    report.moved = len(inserts)
    report.moved_members = {row["member_id"] for row in inserts}
    report.refreshed = len(refresh)
    return plan


async def write_decisions(
    conn: AsyncConnection,
    decisions: Mapping[int, SegmentDecision],
    current: Mapping[int, Mapping[str, CurrentRow]],
    *,
    now: datetime,
) -> WriteReport:
    plan = _plan(decisions, current, now=now)
    report, inserts, retire, refresh = plan.report, plan.inserts, plan.retire, plan.refresh
    if conn.dialect.name == "sqlite":
        if retire:
            await conn.exec_driver_sql(sq.SQLITE_RETIRE, [(rid,) for rid in retire])
        await _insert_assignments_sqlite(conn, plan)
        if refresh:
            await conn.exec_driver_sql(sq.SQLITE_REFRESH, sq.refresh_params(refresh))
        return report
    for chunk in _chunks(retire):
        await conn.execute(
            update(SegmentAssignment).where(SegmentAssignment.id.in_(list(chunk))).values(current=False)
        )
    for start in range(0, len(inserts), 200):
        chunk = inserts[start : start + 200]
        # Matched back by (member, dimension), unique within one write: no reliance on the
        # order RETURNING gives rows back.
        returned = await conn.execute(
            insert(SegmentAssignment)
            .values(chunk)
            .returning(SegmentAssignment.id, SegmentAssignment.member_id, SegmentAssignment.dimension)
        )
        ids = {(mid, dim): rid for rid, mid, dim in returned}
        for offset, row in enumerate(chunk):
            _note_inserted(
                report, row, ids[(row["member_id"], row["dimension"])], plan.digests[start + offset]
            )
    if refresh:
        stmt = (
            update(SegmentAssignment)
            .where(SegmentAssignment.id == bindparam("rid"))
            .values(
                confidence=bindparam("confidence"),
                evidence=bindparam("evidence"),
                ruleset_version=bindparam("ruleset_version"),
                updated_at=bindparam("updated_at"),
            )
        )
        for chunk in _chunks(refresh):
            await conn.execute(stmt.execution_options(synchronize_session=False), list(chunk))
    return report


def _note_inserted(report: WriteReport, row: Mapping[str, Any], row_id: int, digest: str) -> None:
    report.current[row["member_id"]][row["dimension"]] = CurrentRow(
        row_id, row["value"], row["confidence"], digest, row["pinned_by"]
    )


def _number_inserts(plan: _Plan, last: int) -> None:
    """The new ids are the last ``len(inserts)`` rowids, in order.

    SQLAlchemy runs an executemany with RETURNING one row per statement on SQLite, and a
    multi-row VALUES construct costs more to build than to run: the live pipeline's small
    batches spent 60% of their time there. The ids are consecutive and in order: each row
    takes max(rowid) + 1, and from its first write this transaction holds SQLite's write
    lock, so nobody inserts in between; ``last_insert_rowid()`` names the last of them.
    """
    first = last - len(plan.inserts) + 1
    for offset, row in enumerate(plan.inserts):
        _note_inserted(plan.report, row, first + offset, plan.digests[offset])


async def _insert_assignments_sqlite(conn: AsyncConnection, plan: _Plan) -> None:
    """One executemany of plain values; the new ids from ``last_insert_rowid()``."""
    if not plan.inserts:
        return
    done = await conn.exec_driver_sql(sq.SQLITE_INSERT_ASSIGNMENT, sq.insert_params(plan.inserts))
    _number_inserts(plan, await last_rowid(conn, done))


@dataclass(frozen=True, slots=True)
class CursorStep:
    """Move the segmentation cursor from ``old`` to ``new`` (compare-and-set) with the writes."""

    old: int
    new: int


async def write_update_sqlite(
    run: Runner[Any],
    decisions: Mapping[int, SegmentDecision],
    current: Mapping[int, Mapping[str, CurrentRow]],
    features: Mapping[int, MemberFeatures],
    *,
    now: datetime,
    ruleset_version: str,
    cursor: CursorStep | None,
    memo: StateMemo | None = None,
) -> tuple[WriteReport, bool]:
    """``write_decisions`` + ``save_features`` + the cursor's compare-and-set in one thread trip.

    The same statements as the separate calls, run one after the other by one function on
    aiosqlite's thread (``bot.store.sqlite_trip``). Returns the report and whether the
    cursor moved (False: no row was at ``cursor.old``; the caller decides what that means).
    With a ``memo``, each member's written features and decision rows are kept in it with
    the text written for them (``state_memo.StateMemo``).
    """
    plan = _plan(decisions, current, now=now)
    # Everything that does not depend on the new row ids is prepared here, in the event loop.
    retire = [(rid,) for rid in plan.retire]
    inserts = sq.insert_params(plan.inserts)
    refresh = sq.refresh_params(plan.refresh)
    stamp = sqlite_time(now)
    written: list[tuple[list[tuple[Any, ...]], Mapping[int, Mapping[str, CurrentRow]]]] = []

    def on_thread(db: sqlite3.Connection) -> bool:
        if retire:
            db.executemany(sq.SQLITE_RETIRE, retire)
        if inserts:
            db.executemany(sq.SQLITE_INSERT_ASSIGNMENT, inserts)
            _number_inserts(plan, db.execute("SELECT last_insert_rowid()").fetchone()[0])
        if refresh:
            db.executemany(sq.SQLITE_REFRESH, refresh)
        known = {**current, **plan.report.current}
        rows = _feature_params(
            features, decisions, now=now, ruleset_version=ruleset_version, current=known, memo=memo
        )
        if rows:
            db.executemany(sq.SQLITE_UPSERT_FEATURES, rows)
            written.append((rows, known))
        if cursor is None:
            return True
        moved = db.execute(sq.SQLITE_ADVANCE_CURSOR, (cursor.new, stamp, CURSOR_KEY, cursor.old))
        return moved.rowcount == 1

    advanced = await run(on_thread)
    if memo is not None:
        for rows, known in written:
            for mid, features_text, _, decisions_text, *_ in rows:
                held = known.get(mid)
                rows_ = None if held is None else dict(held)
                memo.keep(mid, features_text, decisions_text, features[mid], rows_)
    return plan.report, advanced
