"""Contracts between adapters and the rest of the bot.

Archive importers implement ``ArchiveSource``: a blocking, streaming reader that turns
one file (or one export) into batches of kernel events. The roof (``bot.importing``)
drives it off the event loop, writes each batch in one transaction together with the
resume position, and draws the progress bar; the reader never touches the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.events import Event


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """Events read from a source, plus where to resume if the import stops after storing them."""

    position: int  # records consumed from the start of the source after this batch
    events: tuple[Event, ...]
    records: int  # records this batch consumed (messages, lines, rows)
    progress: int  # units of ``ArchiveSource.size`` consumed so far (usually bytes)
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> count


class ArchiveSource(Protocol):
    """One importable file or export, read as a stream of batches."""

    @property
    def key(self) -> str:
        """Stable name for the import cursor, e.g. the absolute path."""

    @property
    def fingerprint(self) -> str:
        """Changes when the content changes, so a replaced file is read again from the start."""

    @property
    def size(self) -> int:
        """Total progress units (bytes) for the bar's ETA; 0 when unknown."""

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        """Yield batches, skipping the first ``start`` records cheaply. Runs in a worker thread."""
