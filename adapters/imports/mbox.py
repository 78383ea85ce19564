"""``cohortbot import mbox``: mbox/mboxrd files and folders as resumable, parallel archive sources.

The reader thread (driven by ``bot.importing``) decompresses and splits; parsing, the
expensive part, runs in a few child processes (``parser_pool``) fed chunks of raw messages
with a bounded number in flight, so memory stays flat whatever the archive size and the
writer in the main process overlaps with the parsers. Small files are parsed inline: the
processes cost more to start than such files take to read.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from adapters.base import ImportBatch
from adapters.imports.mail_parse import MessageRow, ParseResult, RowDecoder, Skip, parse_row
from adapters.imports.mbox_split import DAMAGED, UNREADABLE, CountingReader, RawRecord, sniff, split_records
from adapters.imports.parser_pool import ParserPool, PoolBroken
from bot.core.errors import ImportFailure
from bot.core.events import Event

log = logging.getLogger(__name__)

#: Files smaller than this are parsed in the reader thread; a pool would cost more than it saves.
INLINE_BELOW = 4 << 20
CHUNK = 256  # messages per task sent to a parser process
BATCH = 2048  # messages per ImportBatch (one transaction in the store)
_FINGERPRINT_HEAD = 64 * 1024


def parse_records(records: Sequence[tuple[bytes, bytes]], list_hint: str | None) -> list[MessageRow | Skip]:
    """The unit of work of a parser process: a chunk of (From_ line, raw message) pairs, as rows."""
    return [parse_row(raw, list_hint=list_hint, envelope=envelope) for envelope, raw in records]


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class MboxSource:
    """One mbox file (plain, .gz, .bz2 or .xz) or one single-message file, as an ``ArchiveSource``."""

    path: Path
    kind: str = "mbox"  # "mbox" or "message"
    list_hint: str | None = None
    workers: int | None = None  # parser processes; None: automatic (inline for small files)
    batch_size: int = BATCH

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    @property
    def fingerprint(self) -> str:
        try:
            st = self.path.stat()
            with self.path.open("rb") as fh:
                head = fh.read(_FINGERPRINT_HEAD)
        except OSError as exc:
            raise ImportFailure(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        digest = hashlib.blake2b(head, digest_size=12).hexdigest()
        return f"{st.st_size}:{st.st_mtime_ns}:{digest}"

    def _worker_count(self) -> int:
        if self.workers is not None:
            return self.workers
        return 0 if self.size < INLINE_BELOW else _default_workers()

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        try:
            reader = CountingReader(self.path)
        except OSError as exc:
            raise ImportFailure(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        try:
            records = split_records(reader, kind=self.kind)
            skipped_ahead = sum(1 for _ in islice(records, start))  # resume: split only, never parse
            chunks = _chunks(records, reader)
            workers = self._worker_count()
            parsed = (
                _parse_in_pool(chunks, self.list_hint, workers) if workers > 0
                else _parse_inline(chunks, self.list_hint)
            )
            yield from _group(parsed, position=skipped_ahead, size=self.batch_size)
        except OSError as exc:  # truncated .gz, I/O error: say which file
            raise ImportFailure(f"{self.path}: read failed: {exc}") from exc
        except DAMAGED as exc:
            raise ImportFailure(f"{self.path}: compressed file is damaged or truncated ({exc})") from exc
        finally:
            reader.close()


_Chunk = tuple[list[tuple[bytes, bytes]], int]  # (records, bytes of the file read so far)


def _chunks(records: Iterator[RawRecord], reader: CountingReader) -> Iterator[_Chunk]:
    while True:
        chunk = list(islice(records, CHUNK))
        if not chunk:
            return
        yield chunk, reader.consumed


def _decoded(rows: list[MessageRow | Skip], decode: RowDecoder) -> list[ParseResult]:
    return [row if isinstance(row, Skip) else decode(row) for row in rows]


def _parse_inline(chunks: Iterable[_Chunk], list_hint: str | None) -> Iterator[tuple[list[ParseResult], int]]:
    decode = RowDecoder()
    for records, progress in chunks:
        yield _decoded(parse_records(records, list_hint), decode), progress


def _parse_in_pool(
    chunks: Iterable[_Chunk], list_hint: str | None, workers: int
) -> Iterator[tuple[list[ParseResult], int]]:
    """Results in source order, with at most a few chunks in flight so memory stays bounded.

    If a parser process dies (killed for memory, say), the chunks in flight and the rest
    of the file are parsed in this thread instead: slower, never lost.
    """
    decode = RowDecoder()
    in_flight: deque[_Chunk] = deque()
    limit = workers * 2 + 1
    source = iter(chunks)
    try:
        pool = ParserPool(workers)
    except OSError as exc:
        log.warning("cannot start parser processes (%s); parsing in the reader thread", exc)
        yield from _parse_inline(source, list_hint)
        return
    try:
        # The children take a moment to start: parse the first chunk here meanwhile, so the
        # writer gets its first batch at once instead of idling.
        first = next(source, None)
        if first is not None:
            yield _decoded(parse_records(first[0], list_hint), decode), first[1]
        for chunk in source:
            pool.submit(chunk[0], list_hint)
            in_flight.append(chunk)
            while len(in_flight) >= limit:
                rows = pool.result()
                yield _decoded(rows, decode), in_flight.popleft()[1]
        while in_flight:
            rows = pool.result()
            yield _decoded(rows, decode), in_flight.popleft()[1]
    except PoolBroken as exc:
        log.warning("%s; parsing the rest in the reader thread", exc)
        pending = list(in_flight)
        in_flight.clear()
        for records, done_at in pending:
            yield _decoded(parse_records(records, list_hint), decode), done_at
        yield from _parse_inline(source, list_hint)
    finally:
        pool.close()


def _group(
    parsed: Iterator[tuple[list[ParseResult], int]], *, position: int, size: int
) -> Iterator[ImportBatch]:
    """Batches of ``size`` records (the last one shorter), whatever the chunking.

    The first batches are smaller (one chunk, then doubling) so the writer starts while
    the parsers are still warming up, instead of waiting for a whole batch.
    """
    events: list[Event] = []
    skipped: Counter[str] = Counter()
    records = 0
    progress = 0
    limit = min(size, CHUNK)
    for results, progress in parsed:
        for result in results:
            if isinstance(result, Skip):
                skipped[result.reason] += 1
            else:
                events.append(result)
            records += 1
            if records == limit:
                position += records
                yield ImportBatch(position, tuple(events), records, progress, dict(skipped))
                events, skipped, records = [], Counter(), 0
                limit = min(size, limit * 2)
    if records:
        position += records
        yield ImportBatch(position, tuple(events), records, progress, dict(skipped))


# --- discovery -----------------------------------------------------------------------------


def _sniff_file(path: Path) -> str | None:
    reader = CountingReader(path)
    try:
        return sniff(reader.read(16384))
    finally:
        reader.close()


def discover_mbox(
    paths: Iterable[Path | str], *, list_hint: str | None = None, workers: int | None = None
) -> list[MboxSource]:
    """Sources for CLI paths: mbox files (plain or compressed), single-message files, folders of them.

    Folders are searched recursively; files that are not mail (READMEs, JSON, licences,
    hidden files) are passed over. A path given explicitly that is missing, unreadable or
    not mail is an ``ImportFailure`` with the reason, as is finding nothing at all.
    """
    given_paths = list(paths)
    found: dict[Path, MboxSource] = {}
    for given in given_paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise ImportFailure(f"{path}: no such file or folder")
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                rel = candidate.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or not candidate.is_file():
                    continue
                try:
                    kind = _sniff_file(candidate)
                except UNREADABLE as exc:
                    log.info("skipping %s: %s", candidate, exc)
                    continue
                if kind is None:
                    log.debug("skipping %s: not mail", candidate)
                    continue
                resolved = candidate.resolve()
                found.setdefault(resolved, MboxSource(resolved, kind, list_hint, workers))
            continue
        try:
            kind = _sniff_file(path)
        except UNREADABLE as exc:
            raise ImportFailure(f"{path}: cannot read: {exc}") from exc
        if kind is None:
            raise ImportFailure(f"{path}: not an mbox file or a mail message")
        resolved = path.resolve()
        found.setdefault(resolved, MboxSource(resolved, kind, list_hint, workers))
    if not found:
        raise ImportFailure("no mbox files or mail messages found in " + ", ".join(map(str, given_paths)))
    return list(found.values())
