"""The parallel rebuild for SQLite: one process per partition of members reads and folds its share.

``classify --all`` over a million activities is CPU work (signals, then folding) that
one core cannot do in a minute. SQLite lets several readers share the file, so each
worker opens it read-only, selects the activities of its members (``member_id %
partitions``), computes their signals and folds them with the same ``Folder`` the
incremental pass uses. Thank-yous that cross partitions come back as credits for the
parent to apply. PostgreSQL takes the single-process path instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from segmentation.features import MemberFeatures
from segmentation.fold import Credit, Folder, payload_of, signals_of

_FETCH = 5000


@dataclass(frozen=True, slots=True)
class PartitionResult:
    features: dict[int, MemberFeatures]
    credits: list[Credit]
    activities: int
    last_id: int
    latest: datetime | None


def _utc(text: bytes) -> datetime:
    return datetime.fromisoformat(text.decode()).replace(tzinfo=UTC)


def fold_partition(
    db_path: str,
    sql: str,
    *,
    part: int,
    parts: int,
    bots: frozenset[int],
    hints: Mapping[int, tuple[str | None, str]],
) -> PartitionResult:
    """Worker entry point: fold every activity of the members ``member_id % parts == part``."""
    sqlite3.register_converter("DATETIME", _utc)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, detect_types=sqlite3.PARSE_DECLTYPES)
    try:
        folder = Folder(features={}, bots=bots, hints=hints, owns=lambda mid: mid % parts == part)
        cursor = conn.execute(sql, (parts, part))
        while True:
            rows = cursor.fetchmany(_FETCH)
            if not rows:
                break
            folder.fold(rows, signals_of(payload_of(rows)))
        return PartitionResult(
            folder.features, folder.credits, folder.activities, folder.last_id, folder.latest
        )
    finally:
        conn.close()
