"""Rough plain text from an HTML-only mail body, with blockquotes marked as ``>`` quotes.

Only messages without a text/plain part come here (rare on technical lists), so this
favours staying correct on junk HTML over speed: the stdlib ``HTMLParser`` never raises
on bad markup, and quoted replies keep their quote marks so the text splitter can tell
the author's words from what they quoted.
"""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr", "ul", "ol"}
)
_SKIP = frozenset({"script", "style", "head", "title"})
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_RUNS = re.compile(r"[ \t\r\f\v]+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote = 0
        self.skip = 0
        self.pre = 0

    def _flush(self) -> None:
        line = "".join(self.current)
        if not self.pre:
            line = _RUNS.sub(" ", line).strip()
        self.current = []
        self.lines.append(("> " * self.quote) + line if line else "")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self._flush()
            self.quote += 1
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre":
                self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self._flush()
            self.quote = max(0, self.quote - 1)
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.split("\n")
            for piece in parts[:-1]:
                self.current.append(piece)
                self._flush()
            self.current.append(parts[-1])
        else:
            self.current.append(data.replace("\n", " "))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; never raises (returns what it got so far)."""
    parser = _Text()
    # HTMLParser is lenient, but hostile markup must not stop an import.
    with contextlib.suppress(Exception):
        parser.feed(html)
        parser.close()
    parser._flush()
    return _BLANKS.sub("\n\n", "\n".join(parser.lines)).strip()
