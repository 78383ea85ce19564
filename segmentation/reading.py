"""Reading activities for segmentation: the page and partition queries and the in-process pass."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from bot.store.models import Activity, Member
from bot.store.sqlite_trip import thread_runner
from segmentation import repository as repo
from segmentation.features import MemberFeatures
from segmentation.fold import Folder, payload_of, signals_of
from segmentation.state_memo import StateMemo

PAGE = 5000


def _activity_rows() -> Any:
    """Activities, each with the message it replies to, in ``segmentation.fold.COLUMNS`` order."""
    target = aliased(Activity)
    return (
        select(
            Activity.id,
            Activity.member_id,
            Activity.kind,
            Activity.occurred_at,
            Activity.own_text,
            Activity.signature,
            Activity.subject,
            Activity.patch_lines,
            Activity.tz_offset_minutes,
            Activity.place_id,
            Activity.event_uid,
            target.id,
            target.member_id,
            target.own_text,
            target.patch_lines,
            target.subject,
        )
        .select_from(Activity)
        .outerjoin(target, target.event_uid == Activity.reply_to_uid)
    )


def _with_bot_flags(query: Any) -> Any:
    """Two more columns after ``COLUMNS``: whether the author and the replied-to author are bots.

    An incremental pass must know that of members it has not met yet; reading it with the page
    saves the update a round trip of its own.
    """
    author, target_author = aliased(Member), aliased(Member)
    target = query.get_final_froms()[0]  # the Activity join built by _activity_rows
    columns = list(query.selected_columns)
    return (
        select(*columns, author.is_bot, target_author.is_bot)
        .select_from(target)
        .join(author, author.id == columns[1])
        .outerjoin(target_author, target_author.id == columns[12])
    )


# Built once: building a select with an alias costs more Python time than SQLite takes to run it.
PAGE_QUERY = (
    _with_bot_flags(_activity_rows())
    .where(Activity.id > bindparam("after"))
    .order_by(Activity.id)
    .limit(PAGE)
)
_PAGE_SQLITE = PAGE_QUERY.compile(dialect=sqlite_dialect())
#: The page query as SQLite text, for the incremental pass's one-trip read (``_page_on_thread``).
_PAGE_SQL = str(_PAGE_SQLITE)


def _page_params(after: int) -> tuple[Any, ...]:
    values = {**_PAGE_SQLITE.params, "after": after}
    return tuple(values[name] for name in _PAGE_SQLITE.positiontup or ())


def _utc(value: Any) -> datetime:
    """A plain sqlite3 row's timestamp as the store's UTCDateTime hands it out (as the rebuild's
    workers read it too): SQLite keeps naive UTC text."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


#: One partition of members (``member_id % parts = part``), for the rebuild's worker processes.
PARTITION_QUERY = (
    _activity_rows().where(Activity.member_id % bindparam("parts") == bindparam("part")).order_by(Activity.id)
)


class ActivityPass:
    """One read over new activities in the event loop, folding them into feature summaries.

    In an incremental pass (``learn`` given: it looks up members and places not seen
    before) the stored state — features and current decisions — of every member a page
    touches is loaded with one query before the page is folded; in a rebuild everyone
    starts from nothing.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        features: dict[int, MemberFeatures],
        *,
        bots: set[int],
        hints: Mapping[int, tuple[str | None, str]],
        learn: Callable[[AsyncConnection, list[Any]], Awaitable[None]] | None = None,
        memo: StateMemo | None = None,
    ) -> None:
        self.conn = conn
        self.learn = learn
        #: State this process wrote, reused where the stored text is still exactly that.
        self.memo = memo
        self.folder = Folder(features=features, bots=bots, hints=hints)
        #: Current decision rows of loaded members, as cached with their features (None: not cached).
        self.current: dict[int, dict[str, repo.CurrentRow] | None] = {}
        #: Identity facts of the loaded members, read with their state, for their profiles.
        self.identities: repo.Found = {}

    @property
    def touched(self) -> set[int]:
        return self.folder.touched

    @property
    def activities(self) -> int:
        return self.folder.activities

    @property
    def last_id(self) -> int:
        return self.folder.last_id

    @property
    def latest(self) -> datetime | None:
        return self.folder.latest

    def _missing(self, rows: list[Any], page_bots: set[int] | None = None) -> list[int]:
        """Members the page names whose stored state is not loaded yet (bots are never loaded)."""
        features, bots = self.folder.features, self.folder.bots
        wanted = {r[1] for r in rows} | {r[12] for r in rows if r[12] is not None}
        return [
            m for m in wanted if m not in features and m not in bots and not (page_bots and m in page_bots)
        ]

    def _take(self, missing: list[int], state: repo.State, identities: repo.Found) -> None:
        self.identities.update(identities)
        features = self.folder.features
        for mid in missing:
            f, rows_ = state.get(mid, (MemberFeatures(), {}))
            features[mid], self.current[mid] = f, rows_

    async def _preload(self, rows: list[Any]) -> None:
        missing = self._missing(rows)
        if missing:
            self._take(missing, *await repo.load_state_and_identities(self.conn, missing))

    def _page_on_thread(self, db: sqlite3.Connection, after: int) -> tuple[list[Any], list[int], list[Any]]:
        """An incremental page and the stored state of the members it brings, in one trip (SQLite).

        Run on the connection's thread while the pass awaits it. Which members are missing is
        worked out as ``_preload`` does after ``learn``: the bot flags on the page count already.
        """
        rows: list[Any] = [
            (r[0], r[1], r[2], _utc(r[3]), *r[4:]) for r in db.execute(_PAGE_SQL, _page_params(after))
        ]
        page_bots = {r[1] for r in rows if r[16]} | {r[12] for r in rows if r[12] is not None and r[17]}
        missing = self._missing(rows, page_bots)
        return rows, missing, repo.sqlite_state_rows(db, missing) if missing else []

    async def run(self, after: int) -> None:
        last = after
        more = True
        run = await thread_runner(self.conn) if self.learn is not None else None
        while more:
            prefetched: tuple[list[int], list[Any]] | None = None
            if run is not None:
                rows, missing, state_rows = await run(partial(self._page_on_thread, after=last))
                prefetched = missing, state_rows
            else:
                rows = list(await self.conn.execute(PAGE_QUERY, {"after": last}))
            more = len(rows) == PAGE  # a short page is the last one: no extra query to find out
            if not rows:
                break
            if self.learn is not None:  # an incremental pass: bring in what is stored
                await self.learn(self.conn, rows)
                if prefetched is None:
                    await self._preload(rows)
                elif prefetched[0]:
                    self._take(prefetched[0], *repo.state_from_rows(prefetched[1], raw=True, memo=self.memo))
            last = rows[-1][0]
            self.folder.fold(rows, signals_of(payload_of(rows)))
        self.folder.last_id = max(self.folder.last_id, last)
