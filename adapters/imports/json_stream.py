"""Streaming reader for one big JSON object whose bulk is one array (``{"...": ..., "messages": [...]}``).

DiscordChatExporter writes a whole channel as one JSON document that can run to gigabytes.
This reader keeps a window of the file as text and lets the C JSON scanner
(``json.JSONDecoder.raw_decode``) decode one value at a time from it, so memory holds one
window and one record, whatever the file size. Invalid UTF-8 becomes U+FFFD instead of
stopping the read; a malformed or truncated record ends the stream with ``MalformedJson``,
the records before it stay usable.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

_WS = re.compile(r"[ \t\n\r]*")
_DELIMITERS = frozenset(" \t\n\r,]}:")
_DECODER = json.JSONDecoder()
#: Characters read at a time; a record larger than this grows the window.
CHUNK = 1 << 20
#: A single value larger than this (in characters) is treated as malformed rather than read on.
MAX_VALUE = 256 << 20


class MalformedJson(ValueError):
    """The document stops being JSON (or ends early) at ``offset`` characters into the file."""

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(f"{message} (at character {offset})")
        self.offset = offset


class JsonWindow:
    """A sliding text window over a binary JSON file."""

    def __init__(self, raw: IO[bytes], *, chunk: int = CHUNK) -> None:
        self._raw = raw
        self._chunk = chunk
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped from the front of the window so far
        self.eof = False
        self.bytes_read = 0
        self._started = False

    def _fill(self, want: int | None = None) -> bool:
        if self.eof:
            return False
        data = self._raw.read(max(self._chunk, want or 0))
        self.bytes_read += len(data)
        text = self._decoder.decode(data, final=not data)
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if not data:
            self.eof = True
        if self.pos:
            self.base += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += text
        return bool(data) or bool(text)

    def _skip_ws(self) -> str:
        """The next non-blank character (not consumed), or "" at the end of the file."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _expect(self, chars: str) -> str:
        ch = self._skip_ws()
        if not ch or ch not in chars:
            raise MalformedJson(f"expected one of {chars!r}, found {ch!r}", offset=self.base + self.pos)
        self.pos += 1
        return ch

    def value(self) -> Any:
        """Decode the next JSON value, reading more of the file while it is cut off by the window."""
        self._skip_ws()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or len(self.buf) - self.pos > MAX_VALUE:
                    raise MalformedJson(exc.msg, offset=self.base + exc.pos) from None
                # Read at least as much again as is pending, so a huge value costs few re-scans.
                self._fill(want=len(self.buf) - self.pos)
                continue
            except RecursionError:
                raise MalformedJson("nested too deeply", offset=self.base + self.pos) from None
            if not isinstance(obj, dict | list | str) and self._cut_short(end):
                self._fill()  # a number at the window's edge ("1" of "1.5e10") may go on
                continue
            self.pos = end
            return obj

    def _cut_short(self, end: int) -> bool:
        """A scalar that ends at, or a few characters before, the window's end without a delimiter."""
        if self.eof:
            return False
        left = len(self.buf) - end
        return left == 0 or (left < 8 and self.buf[end] not in _DELIMITERS)

    def members_until(self, key: str) -> tuple[dict[str, Any], bool]:
        """Members of the top-level object before ``key``, and whether ``key`` was reached.

        When it was, the window stands at that key's value, ready for ``array_items``.
        """
        self._expect("{")
        members: dict[str, Any] = {}
        first = True
        while True:
            if self._skip_ws() == "}":
                self.pos += 1
                return members, False
            if not first:
                self._expect(",")
            first = False
            name = self.value()
            if not isinstance(name, str):
                raise MalformedJson("object key is not a string", offset=self.base + self.pos)
            self._expect(":")
            if name == key:
                return members, True
            members[name] = self.value()

    def array_items(self) -> Iterator[Any]:
        """Each element of the array starting here, one decoded value at a time."""
        self._expect("[")
        if self._skip_ws() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            if self._expect(",]") == "]":
                return

    def rest_items(self) -> Iterator[tuple[str, Any]]:
        """Members after the array, to the end of the object (``messageCount`` and the like)."""
        while True:
            ch = self._expect(",}")
            if ch == "}":
                return
            key = self.value()
            self._expect(":")
            yield str(key), self.value()
