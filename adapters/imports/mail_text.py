"""Splitting a mail body into the author's own words, quotes, inline patches and the signature.

Segmentation judges people by what they wrote, so this runs once per message at import
and must be cheap: a quoted block or a patch body is consumed by one regex match, and
the Python loop visits only the author's own lines and the few lines that start
something (a diff, a signature, an attribution). A patch runs to the first line no diff
could contain, so a context line that a mailer stripped to nothing does not end it.

What goes where:
- quoted: lines starting with ``>``, and everything below an Outlook-style
  ``-----Original Message-----`` or ``From:``/``Sent:`` block; the attribution line
  (``On ... wrote:``) just above a quote is dropped from the own words.
- patch: from ``diff --git`` / ``--- a/`` + ``+++ `` / ``Index:`` through the last hunk line,
  diffstat lines, the ``---`` line after a Signed-off-by block, and the trailer lines
  (Signed-off-by, Reviewed-by, ...) above a ``---`` or a diff; a lone "Acked-by:" in a
  reply stays the reviewer's own words. A git version after ``-- `` (``2.39.2``) counts
  as patch, not signature.
- signature: the lines after a ``-- `` delimiter, up to a quote that follows it.
- a Mailman footer (a line of underscores near the end, then the list blurb) is dropped.
"""

from __future__ import annotations

import re

from bot.core.events import MessageText

MAX_TEXT = 1_000_000  # characters examined; the store keeps far less of the own words

_ATTRIBUTION = re.compile(
    r"(?:\b(?:wrote|writes|said|schrieb|écrit|escribió|escreveu|scrisse|napisał(?:\(a\))?|skrev|"
    r"kirjoitti|schreef|написал(?:\(а\))?|пишет)\s*:\s*$)"
    r"|(?:^Quoting .*:\s*$)|(?:^\* .+ \[\d{4}-\d\d-\d\d.*\]:\s*$)|(?:^On .+ at .+, .+:\s*$)",
    re.IGNORECASE,
)
_ATTRIBUTION_START = ("On ", "Le ", "Am ", "El ", "Em ", "Il ", "Op ", "W dniu ", "Den ")
_TRAILER = re.compile(
    r"^(?:Signed-off-by|Acked-by|Reviewed-by|Tested-by|Reported-by|Suggested-by|Co-developed-by|"
    r"Reported-and-tested-by|Fixes|Link|Closes|Cc):\s",
    re.IGNORECASE,
)
_DIFFSTAT = re.compile(r"^ (?:\S+(?: => \S+)? *\| +(?:\d+|Bin\b)|\d+ files? changed|(?:create|delete) mode )")
# The body of an inline patch: file headers, hunks (a context line stripped to nothing by a
# mailer included), up to the first line no diff could contain or the "-- " signature line.
# Where an inline patch ends: the first line no diff could contain (a context line that a
# mailer stripped to nothing included) or the "-- " signature line. Searching for that line
# lets the regex engine jump from newline to newline instead of reading every character.
_PATCH_END = re.compile(
    r"\n(?![ +@\\\n]|-(?!- ?$)|diff |index |new file mode|deleted file mode|similarity index|"
    r"dissimilarity index|rename (?:from|to) |copy (?:from|to) |old mode|new mode|Binary files|"
    r"GIT binary patch|====|Only in )",
    re.MULTILINE,
)
_QUOTE_START = re.compile(r"[ \t]{0,3}>")
_QUOTE_END = re.compile(r"\n(?![ \t]{0,3}>)")  # the first line after a quoted block
_VERSION = re.compile(r"^\d+(?:\.\d+)+[\w.+-]*$|^git-send-email")
_ORIGINAL = re.compile(r"^-{3,}\s*(?:Original Message|Forwarded message|Ursprüngliche Nachricht)", re.I)
_FOOTER = "__________"
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")

# A line that may start something other than own words. A superset: each hit is checked
# precisely below. Searching for "\n" + alternatives lets the regex engine skip ahead to
# newlines instead of trying every position, and starting every alternative with a literal
# or a character class lets it reject an ordinary line after one test per alternative.
_CANDIDATE = re.compile(
    r"\n(?:>|[ \t](?:[ \t]{0,2}>|\S++(?: => \S++)? *+\| +(?:\d|Bin)|\d+ files? changed"
    r"|(?:create|delete) mode )"
    r"|-(?:--|-[ \t]*(?:\n|\Z))|diff |Index: |__________"
    r"|[A-Z](?:[a-z]*-(?:[a-z]+-)*by:|c:|C:|ixes:|ink:|loses:|rom:))"
)


def _starts_patch(text: str, line: str, nxt: int) -> bool:
    if line.startswith(("diff --git ", "diff -u", "diff -r", "diff -N")):
        return True
    if line.startswith("--- "):
        return text.startswith("+++ ", nxt)
    return line.startswith("Index: ") and text.startswith("====", nxt)


def _drop_attribution(own: list[str]) -> None:
    """Remove an ``On ... wrote:`` line (possibly wrapped over two lines) just above a quote."""
    while own and not own[-1].strip():
        own.pop()
    if not own:
        return
    head, _, last = own[-1].rstrip().rpartition("\n")
    if not _is_attribution(last):
        return
    if not last.lstrip().startswith(_ATTRIBUTION_START) and head:
        before, _, prev = head.rpartition("\n")
        if prev.lstrip().startswith(_ATTRIBUTION_START):
            head = before
    own[-1] = head + "\n" if head else ""


def _outlook_header(text: str, nxt: int) -> bool:
    """``From:`` followed closely by ``Sent:``/``Date:``: an unquoted copy of the mail being answered."""
    window = text[nxt : nxt + 400].split("\n", 3)[:3]
    return any(w.startswith(("Sent:", "Date:", "Gesendet:", "Envoyé :")) for w in window)


def _lines(text: str, start: int, end: int) -> int:
    """Lines in ``text[start:end]``, not counting the blank lines at its end (no copy made)."""
    while end > start and text[end - 1] == "\n":
        end -= 1
    return text.count("\n", start, end) + 1 if end > start else 0


def _is_attribution(line: str) -> bool:
    line = line.rstrip()
    return line.endswith(":") and _ATTRIBUTION.search(line) is not None


def _nonblank_lines(text: str) -> int:
    return sum(1 for line in text.split("\n") if line.strip())


def split_text(text: str, *, attachments: int = 0) -> MessageText:
    """The :class:`MessageText` of a decoded body (``\\n`` line ends expected, ``\\r`` tolerated)."""
    return MessageText(*split_parts(text, attachments=attachments))


def split_parts(text: str, *, attachments: int = 0) -> tuple[str, str, int, int, int]:
    """:func:`split_text` as a plain tuple (own, signature, quoted, patch, attachments)."""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n" + text  # every line, the first included, now follows a newline
    own: list[str] = []
    sig: list[str] = []
    quoted = 0
    patch = 0
    trailers: list[int] = []  # indexes in ``own`` of Signed-off-by & co, not yet known to be a patch's
    signed: list[str] = []  # the sign-offs of a patch this message carries (kept with the signature)
    size = len(text)
    pos = 1  # start of the text not yet assigned
    while pos < size:
        m = _CANDIDATE.search(text, pos - 1)
        if m is None:
            own.append(text[pos:])
            break
        start = m.start() + 1
        if start > pos:
            own.append(text[pos:start])
        end = text.find("\n", start)
        if end < 0:
            end = size
        line = text[start:end]
        nxt = pos = end + 1
        c = line[:1]
        if c == ">" or ((c == " " or c == "\t") and _QUOTE_START.match(text, start)):
            stop = _QUOTE_END.search(text, start)
            pos = stop.start() + 1 if stop else size
            _drop_attribution(own)
            quoted += _lines(text, start, pos)
            continue
        if c == " " or c == "\t":
            if _DIFFSTAT.match(line):
                patch += 1
                continue
        elif c == "-" or c == "d" or c == "I" or c == "_":
            if _starts_patch(text, line, nxt):
                stop = _PATCH_END.search(text, nxt - 1)
                pos = stop.start() + 1 if stop else size
                patch += 1 + _claim(own, trailers, signed) + _lines(text, nxt, pos)
                continue
            if line.rstrip() == "--" or line == "-- ":
                pos = _signature(text, nxt, sig)
                continue
            if trailers and line.rstrip() == "---":
                patch += 1 + _claim(own, trailers, signed)
                continue
            if _ORIGINAL.match(line):
                quoted += 1 + _nonblank_lines(text[nxt:])
                break
            if line.startswith(_FOOTER) and not line.strip("_ ") and text.count("\n", nxt) <= 8:
                break
        if _TRAILER.match(line):
            # A reviewer's "Acked-by:" in a reply is their own word; in a patch it is the patch's.
            trailers.append(len(own))
        if line.startswith("From: ") and _outlook_header(text, nxt):
            quoted += 1 + _nonblank_lines(text[nxt:])
            break
        own.append(text[start:nxt])
    signature = "\n".join(sig).strip()
    if signature and _VERSION.match(signature):  # git format-patch's "-- \n2.39.2"
        patch += signature.count("\n") + 1
        signature = ""
    if signed:
        signature = "\n".join([signature, *dict.fromkeys(signed)]).strip()
    words = "".join(own).strip()
    if "\n\n\n" in words:  # where quotes or patches were cut out
        words = _BLANK_RUNS.sub("\n\n", words)
    return words, signature, quoted, patch, attachments


def _claim(own: list[str], trailers: list[int], signed: list[str]) -> int:
    """Move the pending trailer lines out of the own words (a patch follows them); how many.

    The sign-offs themselves are kept in ``signed``: they end up with the signature,
    because ``Signed-off-by: Jane <jane@vendor.com>`` says who the author works for even
    when the mail came from a free-mail address.
    """
    for index in trailers:
        signed.append(own[index].strip())
        own[index] = ""
    count = len(trailers)
    trailers.clear()
    return count


def _signature(text: str, start: int, sig: list[str]) -> int:
    """Collect signature lines from ``start``; stop where a quote or an attribution follows it."""
    pos = start
    size = len(text)
    while pos < size:
        end = text.find("\n", pos)
        if end < 0:
            end = size
        line = text[pos:end]
        if line.startswith(">") or _ORIGINAL.match(line) or _is_attribution(line):
            return pos
        sig.append(line)
        pos = end + 1
    return size
