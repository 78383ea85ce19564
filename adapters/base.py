"""Contracts between adapters and the rest of the bot.

Live adapters implement ``LiveAdapter``: listen (events to a sink), send (outbound messages),
reconcile after a crash. The message shapes are in ``bot.core.outbound``.

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
from bot.core.outbound import Capabilities, EventSink, OutboundMessage, SendReceipt


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


class LiveAdapter(Protocol):
    """A platform the running bot listens to and sends through (Discord, Slack, mail, fake).

    ``start`` connects and delivers every inbound event to ``sink`` (awaiting it, so an
    event is acknowledged to the platform only once the bot has durably accepted it) and
    returns once the adapter is listening; the adapter runs its own tasks until ``stop``.
    ``send`` delivers one message or raises ``RateLimited``, ``TemporarySendError`` or
    ``PermanentSendError``. ``reconcile`` is asked after a crash left a row "sending": it
    returns the receipt if the platform already has the message (found by its idempotency
    key), or None when it is safe to send again.
    """

    @property
    def platform(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def start(self, sink: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: OutboundMessage) -> SendReceipt: ...

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None: ...
