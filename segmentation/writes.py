"""Writing segmentation results: decisions (with history), feature summaries, current rows.

Split from ``repository`` (the reads) because the SQLite fast paths live here: plain
``executemany`` statements where SQLAlchemy would spend more per row than the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.activity_rows import sqlite_time
from bot.store.models import MemberFeatureRow, SegmentAssignment
from bot.store.sqlite_hops import last_rowid
from segmentation.features import MemberFeatures
from segmentation.model import SegmentDecision
from segmentation.repository import CurrentRow, _chunks, evidence_digest


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
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        # Plain values in one executemany: SQLAlchemy's per-row JSON and date processing cost
        # more than the statement itself on the live pipeline's small batches.
        await conn.exec_driver_sql(
            _SQLITE_UPSERT_FEATURES,
            [
                (
                    r["member_id"],
                    _dumps_evidence(r["features"]),
                    _dumps_evidence(r["segments"]),
                    None if r["decisions"] is None else _dumps_evidence(r["decisions"]),
                    r["ruleset_version"],
                    sqlite_time(r["classified_at"]),
                )
                for r in rows
            ],
        )
        return
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


@dataclass(slots=True)
class WriteReport:
    moved: int = 0
    refreshed: int = 0
    #: Members with at least one dimension whose value changed (or was set for the first time).
    moved_members: set[int] = field(default_factory=set)
    #: Every written member's current rows after the write, for the decisions kept with features.
    current: dict[int, dict[str, CurrentRow]] = field(default_factory=dict)


async def write_decisions(
    conn: AsyncConnection,
    decisions: Mapping[int, SegmentDecision],
    current: Mapping[int, Mapping[str, CurrentRow]],
    *,
    now: datetime,
) -> WriteReport:
    report = WriteReport()
    inserts: list[dict[str, Any]] = []
    retire: list[int] = []
    refresh: list[dict[str, Any]] = []
    for mid, decision in decisions.items():
        rows = current.get(mid, {})
        after = report.current[mid] = dict(rows)
        for dim, d in decision.dimensions.items():
            old = rows.get(dim)
            if d.pinned_by and old is not None and old.pinned_by == d.pinned_by and old.value == d.value:
                continue  # a pin is written once, by the override itself
            evidence = d.as_export()
            digest = evidence_digest(evidence)
            if old is not None and old.value == d.value:
                if abs(old.confidence - d.confidence) > 1e-9 or old.digest != digest:
                    after[dim] = CurrentRow(old.id, old.value, d.confidence, digest, old.pinned_by)
                    refresh.append(
                        {
                            "rid": old.id,
                            "confidence": d.confidence,
                            "evidence": evidence,
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
                    "evidence": evidence,
                    "ruleset_version": decision.ruleset_version,
                    "decided_at": now,
                    "updated_at": now,
                    "pinned_by": d.pinned_by,
                    "current": True,
                }
            )
    for chunk in _chunks(retire):
        await conn.execute(
            update(SegmentAssignment).where(SegmentAssignment.id.in_(list(chunk))).values(current=False)
        )
    if conn.dialect.name == "sqlite":
        await _insert_assignments_sqlite(conn, inserts, report)
    else:
        for chunk in _chunks(inserts, 200):
            # Matched back by (member, dimension), unique within one write: no reliance on the
            # order RETURNING gives rows back.
            returned = await conn.execute(
                insert(SegmentAssignment)
                .values(list(chunk))
                .returning(SegmentAssignment.id, SegmentAssignment.member_id, SegmentAssignment.dimension)
            )
            ids = {(mid, dim): rid for rid, mid, dim in returned}
            for row in chunk:
                _note_inserted(report, row, ids[(row["member_id"], row["dimension"])])
    if refresh and conn.dialect.name == "sqlite":
        await conn.exec_driver_sql(
            "UPDATE segment_assignment SET confidence = ?, evidence = ?, ruleset_version = ?, updated_at = ? "
            "WHERE id = ?",
            [
                (
                    r["confidence"],
                    _dumps_evidence(r["evidence"]),
                    r["ruleset_version"],
                    sqlite_time(r["updated_at"]),
                    r["rid"],
                )
                for r in refresh
            ],
        )
    elif refresh:
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
    report.moved = len(inserts)
    report.moved_members = {row["member_id"] for row in inserts}
    report.refreshed = len(refresh)
    return report


def _note_inserted(report: WriteReport, row: Mapping[str, Any], row_id: int) -> None:
    report.current[row["member_id"]][row["dimension"]] = CurrentRow(
        row_id, row["value"], row["confidence"], evidence_digest(row["evidence"]), row["pinned_by"]
    )


_SQLITE_UPSERT_FEATURES = (
    "INSERT INTO member_features (member_id, features, segments, decisions, ruleset_version, classified_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET features = excluded.features, "
    "segments = excluded.segments, decisions = excluded.decisions, "
    "ruleset_version = excluded.ruleset_version, classified_at = excluded.classified_at"
)

_SQLITE_INSERT_ASSIGNMENT = (
    "INSERT INTO segment_assignment (member_id, dimension, value, confidence, evidence, ruleset_version, "
    "decided_at, updated_at, pinned_by, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
)


async def _insert_assignments_sqlite(
    conn: AsyncConnection, inserts: Sequence[Mapping[str, Any]], report: WriteReport
) -> None:
    """One executemany of plain values; the new ids are the last ``len(inserts)`` rowids.

    SQLAlchemy runs an executemany with RETURNING one row per statement on SQLite, and a
    multi-row VALUES construct costs more to build than to run: the live pipeline's small
    batches spent 60% of their time here. The ids are consecutive and in order: each row
    takes max(rowid) + 1, and from its first write this transaction holds SQLite's write
    lock, so nobody inserts in between; ``last_insert_rowid()`` names the last of them.
    """
    if not inserts:
        return
    params = [
        (
            r["member_id"],
            r["dimension"],
            r["value"],
            r["confidence"],
            _dumps_evidence(r["evidence"]),
            r["ruleset_version"],
            sqlite_time(r["decided_at"]),
            sqlite_time(r["updated_at"]),
            r["pinned_by"],
        )
        for r in inserts
    ]
    done = await conn.exec_driver_sql(_SQLITE_INSERT_ASSIGNMENT, params)
    last = await last_rowid(conn, done)
    first = last - len(inserts) + 1
    for offset, row in enumerate(inserts):
        _note_inserted(report, row, first + offset)


def _dumps_evidence(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False)
