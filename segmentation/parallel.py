"""The parallel rebuild for SQLite: one process per partition of members reads, folds and classifies.

``classify --all`` over a million activities is CPU work (signals, folding, rules) that
one core cannot do in a minute. SQLite lets several readers share the file, so each
worker opens it read-only, selects the activities of its members (``member_id %
partitions``), computes their signals, folds them with the same ``Folder`` the
incremental pass uses, and classifies its members with the same ``classify``. The
parent writes the results. Thank-yous that cross partitions come back as credits for
the parent to add to the features it stores; the rules do not read them (a test keeps
it so), which is what lets each partition decide on its own. PostgreSQL takes the
single-process path instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from segmentation.classify import Previous, classify
from segmentation.config import load_config_text
from segmentation.domains import OrgKnowledge
from segmentation.features import IdentityFacts, MemberFeatures, Profile
from segmentation.fold import Credit, Folder, payload_of, signals_of
from segmentation.model import Wire

_FETCH = 5000
_PEOPLE_SQL = "SELECT id FROM member WHERE is_bot = 0 AND id % ? = ?"
_PROFILE_SQL = (
    "SELECT member.id, member.is_bot, identity.platform, identity.email, identity.display_name, "
    "identity.title, identity.email_domain FROM member JOIN identity ON identity.member_id = member.id "
    "WHERE member.id % ? = ?"
)


@dataclass(frozen=True, slots=True)
class PartitionJob:
    """Everything a worker needs besides the database file, small enough to send once."""

    db_path: str
    sql: str
    part: int
    parts: int
    bots: frozenset[int]
    hints: Mapping[int, tuple[str | None, str]]
    config_text: str
    org_overrides: Mapping[str, Mapping[str, str]]
    domain_counts: Mapping[str, int]
    previous: Mapping[int, Mapping[str, Previous]]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """Plain data only: pickling 25,000 feature and decision objects cost seconds per worker."""

    features: dict[int, dict[str, Any]]  # MemberFeatures.to_json() per member
    decisions: dict[int, Wire]  # SegmentDecision.to_wire() per member
    credits: list[Credit]
    activities: int
    last_id: int
    latest: datetime | None


def _utc(text: bytes) -> datetime:
    return datetime.fromisoformat(text.decode()).replace(tzinfo=UTC)


def run_partition(job: PartitionJob) -> PartitionResult:
    """Worker entry point: fold and classify the members ``member_id % parts == part``."""
    sqlite3.register_converter("DATETIME", _utc)
    conn = sqlite3.connect(f"file:{job.db_path}?mode=ro", uri=True, detect_types=sqlite3.PARSE_DECLTYPES)
    try:
        folder = Folder(
            features={}, bots=job.bots, hints=job.hints, owns=lambda mid: mid % job.parts == job.part
        )
        cursor = conn.execute(job.sql, (job.parts, job.part))
        while True:
            rows = cursor.fetchmany(_FETCH)
            if not rows:
                break
            folder.fold(rows, signals_of(payload_of(rows)))
        features = folder.features
        for (mid,) in conn.execute(_PEOPLE_SQL, (job.parts, job.part)):
            if mid not in features:
                features[mid] = MemberFeatures()
        profiles = _profiles(conn, job)
    finally:
        conn.close()
    config = load_config_text(job.config_text)
    knowledge = OrgKnowledge.load_default({d: dict(o) for d, o in job.org_overrides.items()})
    decisions: dict[int, Wire] = {}
    for mid, f in features.items():
        profile = profiles.get(mid)
        if profile is None or profile.is_bot:
            continue
        decisions[mid] = classify(
            f, profile, config=config, knowledge=knowledge, as_of=job.as_of, previous=job.previous.get(mid)
        ).to_wire()
    return PartitionResult(
        {mid: f.to_json() for mid, f in features.items()},
        decisions,
        folder.credits,
        folder.activities,
        folder.last_id,
        folder.latest,
    )


def _profiles(conn: sqlite3.Connection, job: PartitionJob) -> dict[int, Profile]:
    found: dict[int, tuple[bool, list[IdentityFacts], set[str]]] = {}
    for mid, is_bot, platform, email, name, title, domain in conn.execute(
        _PROFILE_SQL, (job.parts, job.part)
    ):
        entry = found.setdefault(mid, (bool(is_bot), [], set()))
        entry[1].append(IdentityFacts(platform=platform, email=email, display_name=name or "", title=title))
        if domain:
            entry[2].add(domain)
    return {
        mid: Profile(mid, tuple(ids), is_bot, {d: job.domain_counts.get(d, 1) for d in domains})
        for mid, (is_bot, ids, domains) in found.items()
    }
