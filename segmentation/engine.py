"""The segmentation engine: reads activities through the store, keeps features, writes decisions.

Two ways in. ``update()`` reads only the activities added since the last run (a cursor
over activity ids), folds them into the stored feature summaries of the members they
touch and reclassifies those members: this is what the live pipeline calls after each
event, and it costs about a millisecond. ``rebuild()`` (``classify --all``) throws the
summaries away and reads everything again — on SQLite in worker processes, one
partition of members each (``segmentation.parallel``). Both fold rows with the same
``Folder``, end in the same pure ``classify()`` and the same change-only writes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock, SystemClock
from bot.core.errors import BadArgument, UnknownMember
from bot.store import Store
from bot.store.models import Activity, Member, SegmentAssignment
from bot.store.sqlite_trip import thread_runner
from segmentation import repository as repo
from segmentation import writes
from segmentation.classify import classify
from segmentation.config import SegmentationConfig
from segmentation.domains import OrgKnowledge
from segmentation.features import MemberFeatures, Profile
from segmentation.model import DIMENSIONS, VALUES, SegmentDecision, valid_value
from segmentation.parallel import PartitionJob, run_partition
from segmentation.reading import PARTITION_QUERY, ActivityPass
from segmentation.state_memo import StateMemo

log = logging.getLogger(__name__)

#: Below this many activities, starting worker processes costs more than it saves.
_POOL_THRESHOLD = 20_000
#: An archive whose last activity is older than this is judged as of its own end.
_ARCHIVE_GAP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ClassifyReport:
    members: int
    activities: int
    moved: int
    refreshed: int
    as_of: datetime
    ruleset_version: str
    seconds: float
    #: The members reclassified by an incremental update (empty for a rebuild).
    touched: frozenset[int] = frozenset()
    #: Of those, the members with a dimension whose value changed: what the planner looks at.
    moved_members: frozenset[int] = frozenset()

    def line(self) -> str:
        return (
            f"classified {self.members} members from {self.activities} new activities as of "
            f"{self.as_of:%Y-%m-%d}; {self.moved} values changed, {self.refreshed} refreshed; "
            f"ruleset {self.ruleset_version}; {self.seconds:.1f}s"
        )


class SegmentationEngine:
    """Owns the segmentation settings and organisation knowledge; reads and writes through the store."""

    def __init__(
        self,
        store: Store,
        *,
        config: SegmentationConfig,
        knowledge: OrgKnowledge | None = None,
        clock: Clock | None = None,
        workers: int = 2,
        parallel_threshold: int = _POOL_THRESHOLD,
    ) -> None:
        self.store = store
        self.config = config
        self.knowledge = knowledge or OrgKnowledge.load_default(config.org_overrides())
        self.clock = clock or SystemClock()
        self.workers = workers
        self.parallel_threshold = parallel_threshold
        self._bots: set[int] = set()
        self._hints: dict[int, tuple[str | None, str]] = {}
        self._domains: dict[str, int] | None = None
        self._people: set[int] = set()
        self._prepared = False
        self._cursor: int | None = None
        self._pending_cursor: int | None = None  # from update_in, until its transaction commits
        #: Member state this engine wrote, reused by the next pass where the row still holds
        #: exactly the text written (``state_memo.StateMemo``: the text check is the invalidation).
        self._memo = StateMemo()

    async def _prepare(self, conn: AsyncConnection) -> None:
        """Everything a full pass needs, read once: bots, channel hints, members per domain."""
        self._bots = await repo.bot_member_ids(conn)
        self._hints = await repo.place_hints(conn, self.config.channel_hint)
        self._domains = {
            d: n for d, n in (await repo.domain_members(conn)).items() if n > repo.CACHE_DOMAIN_COUNTS_ABOVE
        }
        self._prepared = True

    async def _learn(self, conn: AsyncConnection, rows: list[Any]) -> None:
        """Incremental passes look up only the members and places they have not seen before."""
        if not self._prepared:
            self._hints = await repo.place_hints(conn, self.config.channel_hint)
            self._prepared = True
        # The page carries each author's and replied-to author's bot flag (reading.PAGE_QUERY).
        for r in rows:
            (self._bots if r[16] else self._people).add(r[1])
            if r[12] is not None:
                (self._bots if r[17] else self._people).add(r[12])
        places = {r[9] for r in rows if r[9] is not None} - set(self._hints)
        if places:
            self._hints.update(await repo.place_hints(conn, self.config.channel_hint, only=places))

    async def as_of(
        self, conn: AsyncConnection, explicit: datetime | None = None, *, seen: datetime | None = None
    ) -> datetime:
        """Now — or, for an archive that has gone quiet, the day after its last activity.

        Judging an imported archive that ended months ago "as of today" would call
        everyone dormant; judging it as of its own end says what it was like.
        """
        if explicit is not None:
            return explicit
        now = self.clock.now()
        if seen is not None and seen >= now - _ARCHIVE_GAP:
            return now  # a live community: what was just read is recent, no need to ask
        latest = (await conn.execute(select(func.max(Activity.occurred_at)))).scalar()
        if latest is not None and latest < now - _ARCHIVE_GAP:
            return latest + timedelta(days=1)
        return now

    def _classify_many(
        self,
        features: dict[int, MemberFeatures],
        profiles: dict[int, Profile],
        current: dict[int, dict[str, repo.CurrentRow]],
        as_of: datetime,
    ) -> dict[int, SegmentDecision]:
        out: dict[int, SegmentDecision] = {}
        config, knowledge = self.config, self.knowledge
        for mid, f in features.items():
            profile = profiles.get(mid)
            if profile is None or profile.is_bot:
                continue
            # The current rows carry the value and pin that ``classify`` reads: no copy per member.
            out[mid] = classify(
                f, profile, config=config, knowledge=knowledge, as_of=as_of, previous=current.get(mid)
            )
        return out

    async def rebuild(self, *, as_of: datetime | None = None) -> ClassifyReport:
        """``classify --all``: recompute every member's features and decisions from all activities.

        On a SQLite file with many activities the reading, folding and classifying is split
        over worker processes by member (see ``segmentation.parallel``); elsewhere it runs here.
        """
        started = time.perf_counter()
        self._memo.clear()  # every row is rewritten: nothing kept would match again
        async with self.store.connection() as conn:
            await self._prepare(conn)
            count = (await conn.execute(select(func.count()).select_from(Activity))).scalar_one()
            moment = await self.as_of(conn, as_of)
            known = await self._current_rows(conn)
            path = self._sqlite_file()
            if path is not None and count >= self.parallel_threshold and self.workers > 1:
                counts = await repo.domain_members(conn)
                summaries, decisions, activities, last_id = await self._run_partitions(
                    path, moment, known, counts
                )
                members = len(summaries)
                now = self.clock.now()
                report = await writes.write_decisions(conn, decisions, known, now=now)
                await writes.save_features(
                    conn,
                    summaries,
                    decisions,
                    now=now,
                    ruleset_version=self.config.ruleset_version,
                    current={**known, **report.current},
                )
            else:
                features: dict[int, MemberFeatures] = {}
                fold = ActivityPass(conn, features, bots=self._bots, hints=self._hints)
                await fold.run(0)
                activities, last_id = fold.activities, fold.last_id
                people = (await conn.execute(select(Member.id).where(Member.is_bot.is_(False)))).scalars()
                for mid in people:
                    features.setdefault(mid, MemberFeatures())
                report = await self._decide_and_write(
                    conn, features, moment, save_all=True, current=dict(known)
                )
                members = len(features)
            await repo.write_cursor(conn, last_id, now=self.clock.now())
        self._cursor = last_id
        return ClassifyReport(
            members=members,
            activities=activities,
            moved=report.moved,
            refreshed=report.refreshed,
            as_of=moment,
            ruleset_version=self.config.ruleset_version,
            seconds=time.perf_counter() - started,
        )

    async def _current_rows(self, conn: AsyncConnection) -> dict[int, dict[str, repo.CurrentRow]]:
        """Everyone's current decision rows: from the cache kept with features, else from the rows."""
        cached = await repo.load_decisions(conn)
        known = {mid: rows for mid, rows in cached.items() if rows is not None}
        uncached = [mid for mid, rows in cached.items() if rows is None]
        if uncached:
            known.update(await repo.current_assignments(conn, uncached))
        # Members pinned before their first classification have rows but no cache entry yet.
        pinned = await conn.execute(
            select(SegmentAssignment.member_id)
            .where(SegmentAssignment.current.is_(True), SegmentAssignment.pinned_by.is_not(None))
            .distinct()
        )
        orphans = [mid for (mid,) in pinned if mid not in known]
        if orphans:
            known.update(await repo.current_assignments(conn, orphans))
        return known

    def _sqlite_file(self) -> str | None:
        url = self.store.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return url.database

    async def _run_partitions(
        self,
        path: str,
        as_of: datetime,
        known: dict[int, dict[str, repo.CurrentRow]],
        counts: dict[str, int],
    ) -> tuple[dict[int, MemberFeatures | dict[str, Any]], dict[int, SegmentDecision], int, int]:
        parts = self.workers
        sql = str(PARTITION_QUERY.compile(dialect=sqlite_dialect()))
        previous = {mid: repo.previous_of(rows) for mid, rows in known.items()}
        jobs = [
            PartitionJob(
                db_path=path,
                sql=sql,
                part=i,
                parts=parts,
                bots=frozenset(self._bots),
                hints=self._hints,
                config_text=self.config.text,
                org_overrides=self.config.org_overrides(),
                domain_counts=counts,
                previous={m: p for m, p in previous.items() if m % parts == i},
                as_of=as_of,
            )
            for i in range(parts)
        ]
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = await asyncio.gather(*(loop.run_in_executor(pool, run_partition, job) for job in jobs))
        raw: dict[int, dict[str, Any]] = {}
        decisions: dict[int, SegmentDecision] = {}
        for result in results:
            raw.update(result.features)
            decisions.update((mid, SegmentDecision.from_wire(w)) for mid, w in result.decisions.items())
        features: dict[int, MemberFeatures] = {}
        for result in results:
            for credit in result.credits:
                if credit.member_id in self._bots:
                    continue
                target = features.get(credit.member_id)
                if target is None:
                    target = features[credit.member_id] = MemberFeatures.from_json(raw.get(credit.member_id))
                target.add_thanks_received(solved=credit.solved, uid=credit.uid, text=credit.text)
        # Members nobody thanked across partitions are saved as the workers summarised them.
        everyone: dict[int, MemberFeatures | dict[str, Any]] = {**raw, **features}
        return (
            everyone,
            decisions,
            sum(r.activities for r in results),
            max((r.last_id for r in results), default=0),
        )

    async def update(self, *, as_of: datetime | None = None, everyone: bool = False) -> ClassifyReport:
        """Fold in the activities added since the last run and reclassify the members they touch.

        With ``everyone``, every member is reclassified from the stored summaries as well
        (engagement moves with time even for members who said nothing new). The cursor
        is kept in memory between runs and moved with a compare-and-set; if another
        process moved it meanwhile, this run rolls back and starts again from the database.

        The cyclic garbage collector is paused while it runs. An update allocates tens of
        thousands of short-lived objects (rows, summaries, decisions) that reference counting
        frees when it ends; collections in the middle only promoted them to the oldest
        generation, whose growth then set off full collections of the whole heap (60-150 ms
        pauses every few dozen batches on the live pipeline). Afterwards the collector runs
        as usual, with nothing of the update's left for it to promote. A sweep over everyone
        (``everyone=True``) runs with the collector on: it is long, and other tasks run
        while it waits on the database.
        """
        paused = gc.isenabled() and not everyone
        if paused:
            gc.disable()
        try:
            for _ in range(3):
                try:
                    return await self._update_once(as_of=as_of, everyone=everyone)
                except repo.CursorMoved:
                    self._cursor = None
            return await self._update_once(as_of=as_of, everyone=everyone)
        finally:
            if paused:
                gc.enable()

    async def _update_once(self, *, as_of: datetime | None, everyone: bool) -> ClassifyReport:
        async with self.store.connection() as conn:
            report, position = await self._fold_and_decide(conn, as_of=as_of, everyone=everyone)
        self._cursor = position
        return report

    async def update_in(self, conn: AsyncConnection, *, as_of: datetime | None = None) -> ClassifyReport:
        """One incremental update inside the caller's transaction (the live pipeline's).

        The pipeline writes segmentation and the decisions it causes in one transaction, so
        a failure after segmentation rolls both back and a retry folds the same activities
        again (a separate commit would have moved the cursor past them, and the retry would
        have planned nothing for the members they moved). The new cursor position is kept
        aside until the caller says ``committed()``; after a failure it calls
        ``forget_cursor()``. ``repo.CursorMoved`` (another process moved the cursor) is
        raised for the caller to retry.
        """
        report, position = await self._fold_and_decide(conn, as_of=as_of, everyone=False)
        self._pending_cursor = position
        return report

    def committed(self) -> None:
        """The transaction of the last ``update_in`` committed: its cursor position is the truth."""
        if self._pending_cursor is not None:
            self._cursor = self._pending_cursor
            self._pending_cursor = None

    def forget_cursor(self) -> None:
        """The transaction failed or the cursor moved elsewhere: read it from the database next time."""
        self._cursor = None
        self._pending_cursor = None

    async def _fold_and_decide(
        self, conn: AsyncConnection, *, as_of: datetime | None, everyone: bool
    ) -> tuple[ClassifyReport, int]:
        started = time.perf_counter()
        after = self._cursor if self._cursor is not None else await repo.read_cursor(conn)
        features: dict[int, MemberFeatures] = {}
        fold = ActivityPass(
            conn, features, bots=self._bots, hints=self._hints, learn=self._learn, memo=self._memo
        )
        await fold.run(after)
        current = fold.current
        if everyone:
            for mid, (f, rows) in (await repo.load_state(conn)).items():
                if mid not in features:
                    features[mid], current[mid] = f, rows
            people = (await conn.execute(select(Member.id).where(Member.is_bot.is_(False)))).scalars()
            for mid in people:
                if mid not in features:
                    features[mid], current[mid] = MemberFeatures(), {}
        moment = await self.as_of(conn, as_of, seen=fold.latest)
        report = await self._decide_and_write(
            conn,
            features,
            moment,
            save_all=False,
            touched=fold.touched,
            current=current,
            identities=fold.identities,
            cursor=writes.CursorStep(after, fold.last_id) if fold.last_id > after else None,
        )
        summary = ClassifyReport(
            members=len(features),
            activities=fold.activities,
            moved=report.moved,
            refreshed=report.refreshed,
            as_of=moment,
            ruleset_version=self.config.ruleset_version,
            seconds=time.perf_counter() - started,
            touched=frozenset(features),
            moved_members=frozenset(report.moved_members),
        )
        return summary, max(after, fold.last_id)

    async def _decide_and_write(
        self,
        conn: AsyncConnection,
        features: dict[int, MemberFeatures],
        as_of: datetime,
        *,
        save_all: bool,
        touched: set[int] | None = None,
        current: dict[int, dict[str, repo.CurrentRow] | None] | None = None,
        identities: repo.Found | None = None,
        cursor: writes.CursorStep | None = None,
    ) -> writes.WriteReport:
        """Classify, write the decisions and the features, and move the cursor when asked."""
        ids = None if save_all else list(features)
        if self._domains is None:
            self._domains = {}
        profiles = await repo.profiles(conn, ids, domain_counts=self._domains, known=identities)
        known: dict[int, dict[str, repo.CurrentRow]] = {}
        missing: list[int] | None = None
        if current is None:
            known = await repo.current_assignments(conn, ids)
        else:
            missing = [m for m in features if current.get(m) is None]
            known = {m: rows for m, rows in current.items() if rows is not None}
            if missing:  # members whose decisions were never cached with their features
                known.update(await repo.current_assignments(conn, missing))
        decisions = self._classify_many(features, profiles, known, as_of)
        now = self.clock.now()
        to_save = (
            features if save_all or touched is None else {m: features[m] for m in touched if m in features}
        )
        # Segments are stored with the features; keep them in step for every reclassified member.
        to_save = {**to_save, **{m: features[m] for m in decisions}}
        run = await thread_runner(conn)
        if run is not None:  # SQLite: decisions, features and cursor in one trip to its thread
            report, advanced = await writes.write_update_sqlite(
                run,
                decisions,
                known,
                to_save,
                now=now,
                ruleset_version=self.config.ruleset_version,
                cursor=cursor,
                memo=self._memo,
            )
            if cursor is not None and not advanced:  # the first run, or someone else moved it
                await repo.advance_cursor(conn, cursor.old, cursor.new, now=now)
            return report
        report = await writes.write_decisions(conn, decisions, known, now=now)
        await writes.save_features(
            conn,
            to_save,
            decisions,
            now=now,
            ruleset_version=self.config.ruleset_version,
            current={**known, **report.current},
        )
        if cursor is not None:
            await repo.advance_cursor(conn, cursor.old, cursor.new, now=now)
        return report

    async def set_override(self, member_id: int, dimension: str, value: str, *, by: str) -> SegmentDecision:
        """Pin a manager's value; it survives every reclassification until cleared."""
        if dimension not in DIMENSIONS:
            raise BadArgument(f"unknown dimension {dimension!r}; dimensions: {', '.join(DIMENSIONS)}")
        if not valid_value(dimension, value):
            raise BadArgument(
                f"{value!r} is not a value of {dimension}; values: {', '.join(VALUES[dimension])}"
            )
        return await self._pin(member_id, dimension, value, by=by)

    async def clear_override(self, member_id: int, dimension: str, *, by: str) -> SegmentDecision:
        return await self._pin(member_id, dimension, None, by=by)

    async def _pin(self, member_id: int, dimension: str, value: str | None, *, by: str) -> SegmentDecision:
        now = self.clock.now()
        async with self.store.connection() as conn:
            exists = (await conn.execute(select(Member.id).where(Member.id == member_id))).scalar()
            if exists is None:
                raise UnknownMember(f"no member #{member_id}")
            await conn.execute(
                SegmentAssignment.__table__.update()  # type: ignore[attr-defined]
                .where(
                    SegmentAssignment.member_id == member_id,
                    SegmentAssignment.dimension == dimension,
                    SegmentAssignment.current.is_(True),
                )
                .values(current=False)
            )
            if value is not None:
                await conn.execute(
                    SegmentAssignment.__table__.insert().values(  # type: ignore[attr-defined]
                        member_id=member_id,
                        dimension=dimension,
                        value=value,
                        confidence=1.0,
                        evidence={"value": value, "confidence": 1.0, "evidence": [], "pinned_by": by},
                        ruleset_version=self.config.ruleset_version,
                        decided_at=now,
                        updated_at=now,
                        pinned_by=by,
                        current=True,
                    )
                )
            features = await repo.load_features(conn, [member_id])
            features.setdefault(member_id, MemberFeatures())
            await self._decide_and_write(conn, features, await self.as_of(conn), save_all=False)
            current = await repo.current_assignments(conn, [member_id])
            profiles = await repo.profiles(conn, [member_id])
            profile = profiles.get(member_id) or Profile(member_id, ())
            return classify(
                features[member_id],
                profile,
                config=self.config,
                knowledge=self.knowledge,
                as_of=await self.as_of(conn),
                previous=repo.previous_of(current.get(member_id)),
            )
