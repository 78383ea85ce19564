"""mbox import: splitting, discovery, fixtures from real archives, idempotency, resume, the parser pool."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest
from interrupting import InterruptAfter
from sqlalchemy import func, select

from adapters.imports.mbox import MboxSource, discover_mbox
from adapters.imports.mbox_split import FROM_LINE, CountingReader, split_records
from adapters.imports.parser_pool import ParserPool, PoolBroken
from bot.core.errors import ImportFailure
from bot.core.events import Event, MessagePosted
from bot.importing import ImportSummary, import_sources
from bot.store import Store
from bot.store.models import Activity, Identity, ImportCursor, Member, Place


def message(i: int, *, sender: str | None = None, body: str = "", extra: str = "") -> bytes:
    who = sender or f"person{i % 5}@example.org"
    text = body or (
        f"Message number {i}.\n\nFrom time to time a line starts with From.\n>From an mboxrd line\n"
    )
    return (
        f"From {who} Mon Apr 29 08:{i % 60:02d}:02 2019\n"
        f"From: Person {i % 5} <{who}>\n"
        f"Date: Mon, 29 Apr 2019 08:{i % 60:02d}:02 +1000\n"
        f"Message-ID: <msg{i}@example.org>\n"
        f"Subject: Topic {i // 3}\n"
        f"List-Id: Tests <tests.lists.example.org>\n"
        f"{extra}"
        f"\n{text}\n"
    ).encode()


def write_mbox(path: Path, count: int, *, opener: object = open) -> Path:
    data = b"".join(message(i) for i in range(count))
    with opener(path, "wb") as fh:  # type: ignore[operator]
        fh.write(data)
    return path


def records(path: Path, **kwargs: int) -> list[tuple[bytes, bytes]]:
    reader = CountingReader(path)
    try:
        return list(split_records(reader, kind="mbox", **kwargs))
    finally:
        reader.close()


def all_events(source: MboxSource, start: int = 0) -> list[Event]:
    return [ev for batch in source.batches(start=start) for ev in batch.events]


async def counts(store: Store) -> dict[str, int]:
    async with store.connection() as conn:
        return {
            name: (await conn.execute(select(func.count()).select_from(model))).scalar_one()
            for name, model in (("activities", Activity), ("members", Member), ("identities", Identity),
                                ("places", Place))
        }


async def activity_rows(store: Store) -> set[tuple[object, ...]]:
    async with store.connection() as conn:
        rows = await conn.execute(
            select(Activity.event_uid, Identity.external_id, Place.channel_id, Activity.occurred_at,
                   Activity.own_text, Activity.reply_to_uid, Activity.thread_uid)
            .join(Identity, Identity.member_id == Activity.member_id)
            .join(Place, Place.id == Activity.place_id)
        )
        return {tuple(r) for r in rows}


# --- splitting ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("line", "separator"),
    [
        (b"From jane@example.org Mon Apr 29 08:47:02 2019", True),
        (b"From goran at domain.com  Wed Dec  1 08:26:40 2010", True),
        (b"From christian at \xe2\x80\x9cexample.org\xe2\x80\x9d  Thu Jan 15 13:22:25 2015", True),
        (b"From MAILER-DAEMON Sun Aug  7 11:40:37 2022 extra info", True),
        (b"From 1234@xxx Thu Jan 01 00:00:00 +0000 2020", True),
        (b"From time to time", False),
        (b"From the Monday meeting: nothing", False),
        (b"From: jane@example.org", False),
    ],
)
def test_from_line_shape(line: bytes, separator: bool) -> None:
    assert (FROM_LINE.match(line) is not None) is separator


def test_block_boundaries_do_not_change_the_split(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", 12)
    expected = records(path)
    assert len(expected) == 12
    assert expected[0][0] == b"From person0@example.org Mon Apr 29 08:00:02 2019"
    assert b"From time to time" in expected[0][1]
    for block in (1, 7, 64, 4096):
        assert records(path, block=block) == expected


def test_giant_message_keeps_its_head_and_the_next_message(tmp_path: Path) -> None:
    path = tmp_path / "big.mbox"
    path.write_bytes(message(1, body="x" * 10_000 + "\n") + message(2) + message(3, body="y" * 50_000))
    got = records(path, max_message=2000, block=512)
    assert len(got) == 3
    assert len(got[0][1]) == 2000 and len(got[2][1]) == 2000
    assert got[1][1].startswith(b"From: Person 2")


def test_single_line_without_newlines_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "line.mbox"
    path.write_bytes(message(1, body="z" * 200_000) + message(2))
    got = records(path, block=1000)
    assert [r[0][:20] for r in got] == [b"From person1@example", b"From person2@example"]


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open], ids=["gz", "bz2", "xz"])
def test_compressed_archives(tmp_path: Path, opener: object) -> None:
    plain = write_mbox(tmp_path / "plain.mbox", 9)
    packed = write_mbox(tmp_path / "packed.mbox.x", 9, opener=opener)
    assert records(packed) == records(plain)
    source = MboxSource(packed, workers=0)
    batches = list(source.batches())
    assert batches[-1].progress == packed.stat().st_size == source.size


def test_cpython_mailbox_with_unquoted_from_is_one_message(shared_data: Path) -> None:
    [source] = discover_mbox([shared_data / "bad-input" / "cpython-email" / "mailbox_01.mbox"])
    [batch] = list(source.batches())
    assert batch.records == 1 and len(batch.events) == 1
    ev = batch.events[0]
    assert isinstance(ev, MessagePosted)
    assert "From time to time" in ev.text.own


# --- discovery ----------------------------------------------------------------------------------

def test_discover_folders_and_files(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    write_mbox(tmp_path / "lists" / "a.mbox", 2)
    write_mbox(tmp_path / "lists" / "2019-April.txt.gz", 2, opener=gzip.open)
    (tmp_path / "lists" / "deep").mkdir()
    (tmp_path / "lists" / "deep" / "one.eml").write_bytes(message(7).split(b"\n", 1)[1])
    (tmp_path / "lists" / "README.md").write_text("# Archives\nFrom here: nothing\n")
    (tmp_path / "lists" / "data.json").write_text('{"from": "x@y"}')
    (tmp_path / "lists" / ".hidden").mkdir()
    write_mbox(tmp_path / "lists" / ".hidden" / "skip.mbox", 1)
    sources = discover_mbox([tmp_path / "lists", tmp_path / "lists" / "a.mbox"])
    found = {(s.path.name, s.kind) for s in sources}
    assert found == {("a.mbox", "mbox"), ("2019-April.txt.gz", "mbox"), ("one.eml", "message")}
    assert len(sources) == 3  # the file named twice is one source


@pytest.mark.parametrize("case", ["missing", "not mail", "empty folder"])
def test_discover_refuses_what_it_cannot_import(tmp_path: Path, case: str) -> None:
    target = tmp_path / "x"
    if case == "not mail":
        target.write_text("hello, world\n")
    elif case == "empty folder":
        target.mkdir()
    with pytest.raises(ImportFailure, match="x"):
        discover_mbox([target])


# --- batches and the pool -------------------------------------------------------------------------

def test_batches_positions_and_resume_skip(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", 10)
    source = MboxSource(path, workers=0, batch_size=3)
    batches = list(source.batches())
    assert [b.position for b in batches] == [3, 6, 9, 10]
    assert [b.records for b in batches] == [3, 3, 3, 1]
    progress = [b.progress for b in batches]
    assert progress == sorted(progress) and progress[-1] == path.stat().st_size
    full = all_events(source)
    tail = list(source.batches(start=6))
    assert tail[0].position == 9 and [ev for b in tail for ev in b.events] == full[6:]
    assert list(source.batches(start=10)) == []


def test_pool_gives_the_same_events_as_inline(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", 700)
    inline = all_events(MboxSource(path, workers=0))
    pooled = all_events(MboxSource(path, workers=2))
    assert len(inline) == 700 and pooled == inline


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "a.mbox", 3)
    before = MboxSource(path).fingerprint
    assert MboxSource(path).fingerprint == before
    write_mbox(path, 4)
    assert MboxSource(path).fingerprint != before


# --- real archives -------------------------------------------------------------------------------

PERCEVAL_COUNTS = [
    # (file, records read, messages, distinct activities) - perceval's own tests expect the first.
    ("mbox_single.mbox", 1, 1, 1),
    ("mbox_complex.mbox", 2, 2, 2),
    ("mbox_multipart.mbox", 2, 2, 2),
    ("mbox_unixfrom_encoding.mbox", 1, 1, 1),
    ("mbox_iso8859_encoding.mbox", 1, 1, 1),
    ("mbox_unknown_encoding.mbox", 1, 1, 1),
    ("pipermail_2015_november.mbox", 4, 4, 4),
    ("hyperkitty_2016_april.mbox", 3, 3, 3),
    # Six records: four share one Message-ID (one activity; two of them have no Date and take
    # the From_ line's), one has an empty Message-Id (a content uid: a seventh copy we cannot
    # prove is the same post), one has a Date with junk before it that still parses. Perceval
    # keeps 2; we keep what is recoverable: 3 distinct activities, 3 duplicates.
    ("mbox_no_fields.mbox", 6, 6, 3),
]


@pytest.mark.parametrize(("name", "n_records", "n_messages", "n_distinct"), PERCEVAL_COUNTS)
async def test_perceval_fixture_counts(
    shared_data: Path, store: Store, name: str, n_records: int, n_messages: int, n_distinct: int
) -> None:
    sources = discover_mbox([shared_data / "bad-input" / "perceval-mbox" / name])
    summary = await import_sources(store, sources)
    assert summary.records == n_records
    assert summary.imported + summary.duplicates == n_messages
    assert summary.imported == n_distinct == (await counts(store))["activities"]


async def test_every_shared_mail_file_imports(shared_data: Path, store: Store) -> None:
    folders = [shared_data / "bad-input", shared_data / "perceval-fixtures"]
    sources = discover_mbox(folders)
    assert len(sources) > 120  # bounces, torture cases, fixtures; READMEs, JSON and licences left out
    assert not any(s.path.suffix in {".json", ".md", ".html", ".zip"} for s in sources)
    summary = await import_sources(store, sources)
    assert summary.records == sum(1 if s.kind == "message" else 0 for s in sources) + sum(
        len(records(s.path)) for s in sources if s.kind == "mbox"
    )
    assert summary.imported + summary.duplicates + summary.skipped_total == summary.records
    # Only honest skips: bounces without a From, torture cases without any usable date.
    assert set(summary.skipped) <= {"no From address", "no usable Date"}
    assert summary.skipped_total <= 6
    assert (await counts(store))["activities"] == summary.imported


# --- idempotency and resume ---------------------------------------------------------------------

async def test_second_import_adds_nothing(tmp_path: Path, store: Store) -> None:
    path = write_mbox(tmp_path / "a.mbox", 25)
    first = await import_sources(store, discover_mbox([path]))
    assert first.imported == 25
    before = await counts(store)
    assert before == {"activities": 25, "members": 5, "identities": 5, "places": 1}
    again = await import_sources(store, discover_mbox([path]))
    assert (again.imported, again.unchanged) == (0, 1)
    rescan = await import_sources(store, discover_mbox([path]), rescan=True)
    assert (rescan.imported, rescan.duplicates) == (0, 25)
    assert await counts(store) == before


async def test_interrupted_import_resumes_to_the_clean_result(tmp_path: Path, store: Store) -> None:
    path = write_mbox(tmp_path / "a.mbox", 20)
    source = MboxSource(path.resolve(), workers=0, batch_size=3)
    with pytest.raises(KeyboardInterrupt):
        await import_sources(store, [InterruptAfter(source, 2, error=KeyboardInterrupt("killed"))])
    async with store.connection() as conn:
        cursor = (await conn.execute(select(ImportCursor.position, ImportCursor.finished))).one()
    assert tuple(cursor) == (6, False)
    assert (await counts(store))["activities"] == 6

    resumed: ImportSummary = await import_sources(store, [source])
    assert (resumed.resumed, resumed.records, resumed.imported) == (1, 14, 14)

    expected = {
        (ev.uid, ev.actor.external_id, ev.place.channel_id, ev.occurred_at, ev.text.own,
         ev.reply_to, ev.thread)
        for ev in all_events(source)
        if isinstance(ev, MessagePosted)
    }
    assert await activity_rows(store) == expected
    assert (await counts(store))["identities"] == 5


@pytest.mark.slow
async def test_linux_raid_archive_end_to_end(shared_data: Path, store: Store) -> None:
    """SLOW (a few seconds): the whole 19,534-message linux-raid archive through the real import path."""
    archive = shared_data / "mail-linux-raid" / "linux-raid.mbox.gz"
    if not archive.exists():
        pytest.skip("linux-raid archive absent")
    summary = await import_sources(store, discover_mbox([archive]))
    assert summary.records == 19_534 and summary.skipped_total == 0
    # 48 messages repeat another's Message-ID: one activity per distinct Message-ID.
    assert (summary.imported, summary.duplicates) == (19_486, 48)
    got = await counts(store)
    assert got["activities"] == 19_486
    assert 1_300 <= got["members"] == got["identities"] <= 1_360
    assert got["places"] == 1
    async with store.connection() as conn:
        distinct = (await conn.execute(select(func.count(func.distinct(Activity.native_id))))).scalar_one()
    assert distinct == 19_486
    again = await import_sources(store, discover_mbox([archive]))
    assert (again.imported, again.unchanged) == (0, 1)


def test_parser_pool_keeps_order_and_reports_a_dead_worker(tmp_path: Path) -> None:
    chunks = [records(write_mbox(tmp_path / f"{n}.mbox", n)) for n in (3, 1, 4, 1, 5)]
    with ParserPool(2) as pool:
        for chunk in chunks:
            pool.submit(chunk, None)
        sizes = [len(pool.result()) for _ in chunks]
        assert sizes == [3, 1, 4, 1, 5] and pool.pending == 0
        pool.submit(chunks[0], None)  # chunk 5: worker 1
        victim = pool._workers[0].proc  # chunk 6 goes to worker 0, which dies first
        victim.kill()
        victim.wait()
        pool.submit(chunks[1], None)
        assert len(pool.result()) == 3
        with pytest.raises(PoolBroken):
            pool.result()


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_archive_is_an_import_failure(tmp_path: Path, damage: str) -> None:
    packed = write_mbox(tmp_path / "a.mbox.gz", 400, opener=gzip.open).read_bytes()
    data = bytearray(packed[: len(packed) // 2])
    if damage == "corrupted":
        data = bytearray(packed)
        data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    bad = tmp_path / "bad.mbox.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ImportFailure, match=r"bad\.mbox\.gz"):
        for source in discover_mbox([bad]):
            list(source.batches())
