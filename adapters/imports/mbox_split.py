"""Reading mbox files as a stream of raw messages: decompression, sniffing, From_ splitting.

The stdlib ``mailbox.mbox`` decodes From_ lines as ASCII (8-bit bytes there raise) and
splits on any body line starting with ``From ``, so this module splits the byte stream
itself. A separator is a line shaped like a real From_ line: ``From `` + sender +
an asctime date (``Wed Dec  1 08:26:40 2010``), so "From time to time" in a body does
not start a message. Memory stays bounded by the block size plus one message, and a
message larger than ``MAX_MESSAGE_BYTES`` keeps only its head (the text part is almost
always first; the rest is attachments).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

_gzip: ModuleType = gzip
#: What a damaged or truncated compressed file raises, whichever library reads it.
DAMAGED: tuple[type[BaseException], ...] = (EOFError, zlib.error, lzma.LZMAError)
try:  # ISA-L inflates about twice as fast as zlib: a third of a large import's reading time
    from isal import igzip, igzip_lib

    _gzip = igzip
    # isal's stubs declare IsalError as an instance; it is the class its readers raise.
    DAMAGED = (*DAMAGED, cast(type[BaseException], igzip_lib.IsalError))
except ImportError:  # pragma: no cover - the stdlib is the fallback where no wheel exists
    pass
#: DAMAGED plus I/O errors: a file that cannot be read at all.
UNREADABLE: tuple[type[BaseException], ...] = (OSError, *DAMAGED)

BLOCK = 1 << 20
MAX_MESSAGE_BYTES = 16 << 20
_MAX_FROM_LINE = 4096
_SNIFF = 16384

_DAY = rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MON = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# "From sender <asctime>" (sender may hold spaces: Pipermail's "user at host"), or the rarer
# RFC-style date some tools write there.
FROM_LINE = re.compile(
    rb"From \S[^\n]*?[ \t]" + _DAY + rb"[ \t,]+(?:" + _MON + rb"[ \t]+\d{1,2}|\d{1,2}[ \t]+" + _MON
    + rb"[ \t]+\d{4})[ \t]+\d{1,2}:\d\d"
)
_HEADER_LINE = re.compile(rb"[A-Za-z0-9-]+[ \t]*:")
_MAIL_FIELD = re.compile(rb"(?im)^(?:from|message-id|received|date|return-path):")


#: One message as stored: its From_ line (empty for single-message files) and its bytes.
#: A plain tuple: millions of them are made and sent to parser processes.
RawRecord = tuple[bytes, bytes]


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class CountingReader:
    """The decompressed stream of a file, plus how many bytes of the file itself were read."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        magic = self._file.read(6)
        self._file.seek(0)
        self.stream: _Stream
        if magic[:2] == b"\x1f\x8b":
            self.stream = _gzip.GzipFile(fileobj=self._file, mode="rb")
        elif magic[:3] == b"BZh":
            self.stream = bz2.BZ2File(self._file, mode="rb")
        elif magic == b"\xfd7zXZ\x00":
            self.stream = lzma.LZMAFile(self._file, mode="rb")  # noqa: SIM115 -- closed in close()
        else:
            self.stream = self._file

    @property
    def consumed(self) -> int:
        return self._file.tell()

    def read(self, size: int) -> bytes:
        return self.stream.read(size)

    def close(self) -> None:
        if self.stream is not self._file:
            self.stream.close()
        self._file.close()


def sniff(head: bytes) -> str | None:
    """``"mbox"``, ``"message"`` (a single RFC 822 file) or ``None`` for the first bytes of a file."""
    text = head.lstrip(b"\xef\xbb\xbf\r\n\t ")
    if text.startswith(b"From "):
        line = text[: text.find(b"\n")] if b"\n" in text else text
        return "mbox" if FROM_LINE.match(line + b"\n") or b"@" in line else None
    if _HEADER_LINE.match(text) and _MAIL_FIELD.search(text[:_SNIFF]):
        return "message"
    return None


def _finish(pieces: list[bytes], data: bytes, start: int, end: int, limit: int) -> bytes:
    """The message made of earlier ``pieces`` and ``data[start:end]``, cut at ``limit`` bytes.

    The blank line before the next From_ line belongs to the separator, not the message.
    Most messages lie within one block: one slice, no joining, no second copy.
    """
    if not pieces:
        if end - start >= 2 and data.endswith(b"\n\n", start, end):
            end -= 1
        return data[start : min(end, start + limit)]
    raw = b"".join([*pieces, data[start:end]])
    if raw.endswith(b"\n\n"):
        raw = raw[:-1]
    return raw[:limit]


_CANDIDATE = re.compile(rb"\nFrom ")  # the regex engine's memchr scan beats bytes.find here


def _next_candidate(data: bytes, start: int, stop: int) -> int:
    m = _CANDIDATE.search(data, start, stop)
    return m.start() + 1 if m else -1


def split_records(
    reader: CountingReader, *, kind: str, block: int = BLOCK, max_message: int = MAX_MESSAGE_BYTES
) -> Iterator[RawRecord]:
    """Raw records of an mbox (or the one record of a message file), streaming in blocks.

    A message longer than ``max_message`` keeps its first ``max_message`` bytes.
    """
    if kind == "message":
        data = reader.read(max_message)
        while reader.read(block):  # drain the rest so progress reaches the end
            pass
        yield (b"", data)
        return
    envelope: bytes | None = None
    pieces: list[bytes] = []  # parts of the current message from earlier blocks
    size = 0  # bytes in pieces
    carry = b""  # an incomplete last line, completed by the next block
    at_line_start = True
    while True:
        chunk = reader.read(block)
        data = carry + chunk if carry else chunk
        if not chunk:
            if not data:
                break
            if not data.endswith(b"\n"):
                data += b"\n"
            stop, carry = len(data), b""
        else:
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) <= _MAX_FROM_LINE:
                    carry = data
                    continue
                # One enormous line: it cannot be a From_ line, so it is plain message content.
                stop, carry = len(data), b""
            else:
                stop, carry = cut + 1, data[cut + 1 :]
        pos = 0  # start of the part of data not yet given to a message
        k = 0 if at_line_start and data.startswith(b"From ") else _next_candidate(data, 0, stop)
        while k >= 0:
            end = data.find(b"\n", k, stop)
            if end < 0:
                end = stop
            # The file's first line is a separator whatever its date looks like (sniffing vouched for it).
            at_file_start = envelope is None and not pieces and not data[:k].strip()
            if end - k <= _MAX_FROM_LINE and (at_file_start or FROM_LINE.match(data, k, end)):
                if envelope is not None or pieces or data[pos:k].strip():
                    yield (envelope or b"", _finish(pieces, data, pos, k, max_message))
                envelope = data[k:end]
                pieces = []
                size = 0
                pos = end + 1
            k = _next_candidate(data, end, stop)
        if pos < stop and size < max_message:
            pieces.append(data[pos : min(stop, pos + max_message - size)])
            size += stop - pos
        at_line_start = data[stop - 1 : stop] == b"\n"
        if not chunk and not carry:
            break
    if envelope is not None:
        yield (envelope, _finish(pieces, b"", 0, 0, max_message))
