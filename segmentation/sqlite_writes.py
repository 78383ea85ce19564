"""The plain SQL of segmentation's SQLite writes and the parameter rows for it.

Kept apart from ``writes`` (which plans the writes and runs them) because both of its
SQLite paths, statement by statement and in one trip to the connection's thread, send
the same text with the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.store.activity_rows import sqlite_time
from bot.store.db import json_text

SQLITE_UPSERT_FEATURES = (
    "INSERT INTO member_features (member_id, features, segments, decisions, ruleset_version, classified_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET features = excluded.features, "
    "segments = excluded.segments, decisions = excluded.decisions, "
    "ruleset_version = excluded.ruleset_version, classified_at = excluded.classified_at"
)

SQLITE_INSERT_ASSIGNMENT = (
    "INSERT INTO segment_assignment (member_id, dimension, value, confidence, evidence, ruleset_version, "
    "decided_at, updated_at, pinned_by, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
)


class Stamps(dict[datetime, str]):
    """``sqlite_time`` of each distinct moment, worked out once: a write's rows share one ``now``."""

    def __missing__(self, moment: datetime) -> str:
        text = self[moment] = sqlite_time(moment)
        return text


def insert_params(inserts: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    stamps = Stamps()
    return [
        (
            r["member_id"],
            r["dimension"],
            r["value"],
            r["confidence"],
            json_text(r["evidence"]),
            r["ruleset_version"],
            stamps[r["decided_at"]],
            stamps[r["updated_at"]],
            r["pinned_by"],
        )
        for r in inserts
    ]


def refresh_params(refresh: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    stamps = Stamps()
    return [
        (
            r["confidence"],
            json_text(r["evidence"]),
            r["ruleset_version"],
            stamps[r["updated_at"]],
            r["rid"],
        )
        for r in refresh
    ]


SQLITE_RETIRE = "UPDATE segment_assignment SET current = 0 WHERE id = ?"
SQLITE_REFRESH = (
    "UPDATE segment_assignment SET confidence = ?, evidence = ?, ruleset_version = ?, updated_at = ? "
    "WHERE id = ?"
)
SQLITE_ADVANCE_CURSOR = (
    "UPDATE import_cursor SET position = ?, updated_at = ? WHERE import_cursor.source = ? "
    "AND import_cursor.position = ?"
)
