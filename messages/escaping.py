"""Making member-supplied text safe to show on each platform: no pings, no markup, no break-out.

Everything a member wrote (display names, question excerpts, organisation names) passes
through here before it lands in a message the bot sends. The order matters and must stay:
first ``clean`` (drop controls, bidi overrides and invisible characters, so that
``@\u200beveryone`` becomes ``@everyone``), then neutralise mentions, then escape markup, so
that no step can reassemble what an earlier one took apart. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

#: Discord refuses messages longer than this.
DISCORD_MESSAGE_LIMIT = 2000
#: Slack truncates a message's ``text`` past this.
SLACK_TEXT_LIMIT = 40_000
#: Slack refuses a section block whose text is longer than this.
SLACK_BLOCK_TEXT_LIMIT = 3000
#: Slack refuses a button label longer than this.
SLACK_BUTTON_LABEL_LIMIT = 75
#: Slack refuses more blocks than this in one message.
SLACK_MAX_BLOCKS = 50
#: Subjects longer than this are folded badly or cut by mail clients.
SUBJECT_LIMIT = 200
#: A display name longer than this is noise, or an attempt to push our text off-screen.
NAME_LIMIT = 80
ELLIPSIS = "…"

# Bidi embeddings, overrides, isolates and marks: they reorder the text around them, so a
# display name could make our own sentence read differently ("RLO" attacks).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_ZWJ = "\u200d"
_ZWNJ = "\u200c"
_LINE_BREAKS = frozenset("\n\u2028\u2029\x85\x0b\x0c")
#: At most this many combining marks stay on one base character ("Zalgo" text stacks dozens).
_MAX_MARKS = 3


def _is_pictographic(ch: str) -> bool:
    cp = ord(ch)
    return unicodedata.category(ch) == "So" or 0x1F000 <= cp <= 0x1FAFF or 0xFE00 <= cp <= 0xFE0F


def _joins(ch: str, prev: str, nxt: str) -> bool:
    """Whether an invisible format character between ``prev`` and ``nxt`` does real work."""
    if not prev:
        return False
    if ch == _ZWJ:
        return bool(nxt) and _is_pictographic(prev) and _is_pictographic(nxt)
    if ch == _ZWNJ:
        return prev.isalpha() and nxt.isalpha()
    # Tag characters spell subdivision flags after a black flag (England, Scotland, Wales).
    return 0xE0020 <= ord(ch) <= 0xE007F and (ord(prev) == 0x1F3F4 or 0xE0020 <= ord(prev) <= 0xE007F)


#: Text that ``clean`` leaves as it is: printable ASCII (with line feeds when multiline).
#: Most names, titles and sentences are; one C-speed match spares the walk below.
_PLAIN = re.compile(r"[ -~]*\Z")
_PLAIN_LINES = re.compile(r"[ -~\n]*\Z")


def clean(text: str, *, multiline: bool = False) -> str:
    """Drop what nobody should see: controls, NUL, bidi overrides, invisible format characters.

    Lone surrogates (not encodable as UTF-8) become U+FFFD. A zero-width joiner survives only
    between two pictographs (family and profession emoji), a non-joiner only between two
    letters (Persian, Indic scripts); tag characters only inside an emoji flag sequence. Line
    breaks stay when ``multiline``, else they become spaces. Never raises.
    """
    if (_PLAIN_LINES if multiline else _PLAIN).match(text):
        return text
    return _walk(text, multiline)


def _walk(text: str, multiline: bool) -> str:
    """``clean`` character by character (any text; ``clean`` skips it for plain ASCII)."""
    out: list[str] = []
    marks = 0
    n = len(text)
    for i, ch in enumerate(text):
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            out.append("\ufffd")
            marks = 0
            continue
        if ch == "\r":
            if i + 1 < n and text[i + 1] == "\n":
                continue
            ch = "\n"
        if ch in _LINE_BREAKS or ch == "\t":
            out.append("\n" if multiline and ch != "\t" else " ")
            marks = 0
            continue
        if ch in _BIDI:
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc":
            continue
        if cat in ("Mn", "Me", "Mc"):
            marks += 1
            if marks <= _MAX_MARKS:
                out.append(ch)
            continue
        marks = 0
        if cat == "Cf":
            prev = out[-1] if out else ""
            nxt = text[i + 1] if i + 1 < n else ""
            if _joins(ch, prev, nxt):
                out.append(ch)
            continue
        if cat in ("Co", "Cn") and cp >= 0xF0000:
            continue
        out.append(ch)
    return "".join(out)


def _safe_cut(text: str, pos: int) -> bool:
    """Whether cutting ``text`` before index ``pos`` keeps every grapheme cluster whole."""
    if pos <= 0 or pos >= len(text):
        return True
    ch, prev = text[pos], text[pos - 1]
    cp = ord(ch)
    if unicodedata.category(ch) in ("Mn", "Me", "Mc") or ch == _ZWJ or prev == _ZWJ:
        return False
    if 0xFE00 <= cp <= 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return False
    if prev == "\r" and ch == "\n":
        return False
    if 0x1F1E6 <= cp <= 0x1F1FF and 0x1F1E6 <= ord(prev) <= 0x1F1FF:
        # Regional indicators pair up from the start of their run: never split a flag.
        run = 0
        j = pos - 1
        while j >= 0 and 0x1F1E6 <= ord(text[j]) <= 0x1F1FF:
            run += 1
            j -= 1
        return run % 2 == 0
    return not (0xDC00 <= cp <= 0xDFFF and 0xD800 <= ord(prev) <= 0xDBFF)


def shorten(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near,
    never inside a grapheme cluster, with ``ellipsis`` appended when anything was cut."""
    if len(text) <= limit:
        return text
    room = max(limit - len(ellipsis), 0)
    cut = room
    while cut > 0 and not _safe_cut(text, cut):
        cut -= 1
    # Prefer the last space in the final fifth (ten characters at least, half at most), so
    # "a very long na…" reads "a very long…".
    floor = cut - max(cut // 5, min(10, cut // 2), 1)
    space = text.rfind(" ", max(floor, 0), cut + 1)
    if space > 0:
        cut = space
    head = text[:cut].rstrip()
    # A cut right after an escaping backslash would escape our ellipsis instead.
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1]
    return (head + ellipsis)[: max(limit, 0)]


def single_line(text: str) -> str:
    """``clean`` on one line with runs of whitespace collapsed: names, subjects, labels."""
    return " ".join(clean(text).split())


def display_name(text: str, *, limit: int = NAME_LIMIT) -> str:
    """A member's name as we may repeat it: one line, no invisibles, at most ``limit`` characters."""
    return shorten(single_line(text), limit)


# -- Discord -------------------------------------------------------------------------------

# Mass mentions are plain words on Discord; a zero-width space no longer stops them, so the
# "@" itself is swapped for a look-alike that Discord does not parse (FULLWIDTH COMMERCIAL AT).
_DISCORD_MASS = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
# Every character Discord's markdown parser can treat as syntax; a backslash before any ASCII
# punctuation renders the character itself, including "<" before a mention token, which
# shows "<@123>" as text instead of pinging (the client's own way to show a raw mention).
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|<>\[\]()#])")
# Lists ("- ", "+ ", "1. ") and subtext ("-# ") only start a line.
_DISCORD_LINE_START = re.compile(r"^(\s*)(?:([-+])|(\d+)\.)", re.MULTILINE)


def discord(text: str, *, multiline: bool = False) -> str:
    """Member text as literal Discord markdown: no mention, no link mask, no formatting.

    The adapter must still send with ``allowed_mentions`` set to nothing (defence in depth);
    this makes the text safe even where that is forgotten.
    """
    out = clean(text, multiline=multiline)
    out = _DISCORD_MASS.sub("＠", out)
    out = _DISCORD_SPECIAL.sub(r"\\\1", out)
    return _DISCORD_LINE_START.sub(_escape_line_start, out)


def _escape_line_start(m: re.Match[str]) -> str:
    if m.group(2):
        return m.group(1) + "\\" + m.group(2)
    return m.group(1) + m.group(3) + "\\."


# -- Slack ---------------------------------------------------------------------------------

# Slack parses mentions only inside <...> (escaped below) and, with link_names, the plain words.
_SLACK_MASS = re.compile(r"@(?=channel|here|everyone)", re.IGNORECASE)


def slack(text: str, *, multiline: bool = False) -> str:
    """Member text as literal Slack mrkdwn: ``&``, ``<``, ``>`` escaped as Slack asks, which
    turns every ``<!channel>``, ``<@U…>``, ``<!subteam^…>`` and ``<url|label>`` into text.

    Slack has no escape for ``*``, ``_``, ``~`` and backticks, so templates never wrap a member's
    value in formatting markers; a member can make their own name bold, not ping anyone.
    """
    out = clean(text, multiline=multiline)
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SLACK_MASS.sub("＠", out)


# -- E-mail --------------------------------------------------------------------------------


def html(text: str, *, multiline: bool = False) -> Markup:
    """Member text for the HTML part: cleaned, then HTML-escaped (line breaks as ``<br>``)."""
    escaped = escape(clean(text, multiline=multiline))
    if multiline:
        return Markup("<br>\n").join(escaped.split("\n"))
    return escaped


def mail_text(text: str, *, multiline: bool = False) -> str:
    """Member text for the plain-text part: nothing to escape, only what must not be there."""
    return clean(text, multiline=multiline)


def header(text: str, *, limit: int = SUBJECT_LIMIT) -> str:
    """A value for a mail header: one line (CR and LF can never inject a header), at most ``limit``."""
    return shorten(single_line(text), limit)


# -- Links ---------------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s<>\"'`|\\\x00-\x1f\x7f]+\Z")


def checked_url(url: str) -> str:
    """``url`` if it is a plain http(s) URL that cannot break out of any platform's link syntax.

    Raises ValueError otherwise: our own links are built by ``bot.links``; anything else
    reaching a template as a URL is a bug to surface, not text to pass on.
    """
    if not _URL.match(url):
        raise ValueError(f"not a safe http(s) URL: {url[:80]!r}")
    return url
