"""DiscordChatExporter (Tyrrrz) exports, JSON or CSV, as resumable streaming archive sources.

One source per file. JSON files can run to gigabytes, so the ``messages`` array is read
one element at a time (``json_stream``) and, for big files, in a separate process: parsing
and translating take one core while the importer writes on the other. Records are
messages (JSON) or rows (CSV); the resume position counts them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from adapters.base import ArchiveSource, ImportBatch
from adapters.imports.discord_translate import (
    PLATFORM,
    Channel,
    Directory,
    Skip,
    is_thread,
    message_uid,
    place_from_file_name,
    place_from_header,
    translate_csv_row,
    translate_message,
)
from adapters.imports.json_stream import JsonWindow, MalformedJson
from adapters.imports.parse_process import batches_in_child
from bot.core.errors import ImportFailure
from bot.core.events import Event, PlaceRef

log = logging.getLogger(__name__)

#: Events per batch: fewer, bigger transactions write far less (random-key index pages are rewritten
#: once per commit); a batch of this size is a few MB of objects.
BATCH_EVENTS = 10_000
#: Files at least this big are parsed in a child process; smaller ones are not worth its start-up.
PARALLEL_BYTES = 8 << 20
_CSV_FIELD_LIMIT = 8 << 20


class _FileSource:
    def __init__(self, path: Path, *, batch_events: int, parallel: bool | None) -> None:
        self.path = path
        self._batch_events = batch_events
        st = path.stat()
        self._size = st.st_size
        self._stamp = f"{path.name}\t{st.st_size}\t{st.st_mtime_ns}"
        self._parallel = st.st_size >= PARALLEL_BYTES if parallel is None else parallel

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def fingerprint(self) -> str:
        return hashlib.blake2b(self._stamp.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    @property
    def size(self) -> int:
        return self._size


class DiscordJsonSource(_FileSource):
    """A JSON export; records are the elements of its ``messages`` array."""

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        if self._parallel:
            return batches_in_child(read_json, str(self.path), start, self._batch_events)
        return read_json(str(self.path), start, self._batch_events)


class DiscordCsvSource(_FileSource):
    """A CSV export; records are its data rows."""

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        if self._parallel:
            return batches_in_child(read_csv, str(self.path), start, self._batch_events)
        return read_csv(str(self.path), start, self._batch_events)


def _batcher(batch_events: int) -> _Batches:
    return _Batches(batch_events)


class _Batches:
    """Accumulates events and cuts a batch at record boundaries."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.events: list[Event] = []
        self.records = 0
        self.skipped: Counter[str] = Counter()

    def full(self) -> bool:
        return len(self.events) >= self.limit

    def cut(self, position: int, progress: int) -> ImportBatch:
        batch = ImportBatch(position, tuple(self.events), self.records, progress, dict(self.skipped))
        self.events, self.records = [], 0
        self.skipped = Counter()
        return batch

    def pending(self) -> bool:
        return bool(self.events or self.records or self.skipped)


def read_json(path_str: str, start: int, batch_events: int) -> Iterator[ImportBatch]:
    """Stream one JSON export; a module-level function so a child process can run it."""
    path = Path(path_str)
    out = _batcher(batch_events)
    position = 0
    with path.open("rb") as raw:
        window = JsonWindow(raw)
        try:
            header, found = window.members_until("messages")
        except MalformedJson:
            header, found = {}, False
        if not found:
            out.skipped[f"not a DiscordChatExporter JSON export ({path.name})"] += 1
            yield out.cut(0, window.bytes_read)
            return
        fallback = place_from_file_name(path.stem)
        place = place_from_header(header, fallback)
        if place is None:
            # Neither the header nor the file name names the channel: the file name stands in.
            log.warning("discord export %s: no channel id; using the file name", path)
            place = PlaceRef(platform=PLATFORM, channel_id=path.stem, name=path.stem)
        channel_id = place.channel_id
        channel = Channel(place=place, thread=message_uid(channel_id) if is_thread(header) else None)
        directory = Directory()
        try:
            for index, msg in enumerate(window.array_items()):
                position = index + 1
                if index < start:
                    continue
                out.records += 1
                try:
                    out.events.extend(translate_message(msg, channel=channel, directory=directory))
                except Skip as skip:
                    out.skipped[skip.reason] += 1
                if out.full():
                    yield out.cut(position, window.bytes_read)
        except MalformedJson as exc:
            log.warning("discord export %s: %s", path, exc)
            out.skipped[f"malformed JSON in {path.name} after message {position}"] += 1
    if out.pending():
        yield out.cut(max(position, start), window.bytes_read)


def _sniff_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_csv(path_str: str, start: int, batch_events: int) -> Iterator[ImportBatch]:
    """Stream one CSV export (either delimiter, quoted multi-line fields)."""
    path = Path(path_str)
    place = place_from_file_name(path.stem)
    if place is None:
        log.warning("discord export %s: file name has no [channel id]; using the file name", path)
        place = PlaceRef(platform=PLATFORM, channel_id=path.stem, name=path.stem)
    out = _batcher(batch_events)
    directory = Directory()
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    position = 0
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        delimiter = _sniff_delimiter(text.readline())
        text.seek(0)
        reader = csv.DictReader(_no_nul(text), delimiter=delimiter)
        fields = set(reader.fieldnames or ())
        if not {"Author", "Date", "Content"} <= fields:
            out.skipped[f"not a DiscordChatExporter CSV export ({path.name})"] += 1
            yield out.cut(0, raw.tell())
            return
        index = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                row = None
            index += 1
            position = index
            if index <= start:
                continue
            out.records += 1
            if row is None:
                out.skipped["malformed CSV row"] += 1
                continue
            try:
                out.events.extend(translate_csv_row(row, place=place, directory=directory))
            except Skip as skip:
                out.skipped[skip.reason] += 1
            if out.full():
                yield out.cut(position, raw.tell())
        if out.pending():
            yield out.cut(max(position, start), raw.tell())


def _no_nul(lines: Iterable[str]) -> Iterator[str]:
    # The csv module keeps NUL; the store would drop it anyway, and content uids must not see it.
    for line in lines:
        yield line.replace("\x00", "") if "\x00" in line else line


_SUFFIXES: dict[str, type[DiscordJsonSource] | type[DiscordCsvSource]] = {
    ".json": DiscordJsonSource,
    ".csv": DiscordCsvSource,
}


def _files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        # The exporter's downloaded media sit in "<export>_Files" folders; nothing to import there.
        dirnames[:] = sorted(d for d in dirnames if not d.endswith("_Files") and not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if Path(f).suffix.lower() in _SUFFIXES)
    return found


def discover_discord_export(
    paths: Iterable[str | os.PathLike[str]],
    *,
    batch_events: int = BATCH_EVENTS,
    parallel: bool | None = None,
) -> list[ArchiveSource]:
    """Export files, and the .json/.csv files in export folders, as sources in a stable order.

    ``parallel`` forces the child-process parser on or off; by default big files use it.
    """
    sources: list[ArchiveSource] = []
    for given in paths:
        p = Path(given).expanduser()
        try:
            p = p.resolve(strict=True)
        except OSError as exc:
            raise ImportFailure(f"{given}: no such file or folder") from exc
        if p.is_dir():
            files = _files_under(p)
            if not files:
                raise ImportFailure(f"{given}: no DiscordChatExporter .json or .csv files in this folder")
        elif p.suffix.lower() in _SUFFIXES:
            files = [p]
        else:
            raise ImportFailure(f"{given}: not a DiscordChatExporter export (expected .json or .csv)")
        for f in files:
            try:
                sources.append(_SUFFIXES[f.suffix.lower()](f, batch_events=batch_events, parallel=parallel))
            except OSError as exc:
                raise ImportFailure(f"{f}: cannot read: {exc}") from exc
    return sources
