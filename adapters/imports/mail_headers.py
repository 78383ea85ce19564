"""Fast, forgiving reading of RFC 822 headers: the header block, encoded words, addresses, ids and dates.

The mbox importer reads tens of thousands of messages a second, and the stdlib ``email``
parser spends most of its time on headers we never look at (``Received`` chains run to
dozens of lines). These functions pull out only what we use with a few C-level regex
passes, and none of them raises on garbage: they return ``None`` or an empty value, and
the caller decides whether the message is still usable.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz
from functools import lru_cache

from adapters.imports.charsets import decode_bytes

_FIRST_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")
# A line that is neither a header field nor a folded continuation: where a header block
# without its blank separator line really ends. Possessive quantifiers keep it linear.
_NOT_FIELD = re.compile(rb"\n(?:[^!-9;-~ \t]|[!-9;-~]++(?:[ \t]++[^: \t]|[^: \t]))")

#: The headers every message needs. Others (Received chains, long Cc lists) are never
#: scanned unless a rare path asks for one with :func:`header_value`.
WANTED = frozenset(
    {
        b"from", b"date", b"message-id", b"subject", b"in-reply-to", b"references", b"list-id",
        b"list-post", b"x-mailing-list", b"auto-submitted", b"content-type", b"content-transfer-encoding",
        b"content-disposition",
    }
)


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body of a message whose line ends are ``\\n``.

    A message without the blank separator line (a real-world defect) ends its header block
    at the first line that is not a header field, and the rest is body.
    """
    if raw.startswith(b"\n"):
        return b"", raw[1:]
    if not _FIRST_FIELD.match(raw):
        return b"", raw
    end = raw.find(b"\n\n")
    limit = len(raw) if end < 0 else end + 1
    # Checking every line is the expensive part, and a block whose last line is a field or
    # a continuation is a header block in practice; only the rest get the full check.
    last = raw.rfind(b"\n", 0, limit - 1) + 1
    trusted = end >= 0 and (
        last == 0 or raw[last : last + 1] in b" \t" or _FIRST_FIELD.match(raw, last, limit) is not None
    )
    bad = None if trusted else _NOT_FIELD.search(raw, 0, limit)
    if bad is None:
        return raw[:limit], (b"" if end < 0 else raw[end + 2 :])
    stop = bad.start() + 1
    return raw[:stop], raw[stop:]


def _any_case(name: bytes) -> bytes:
    return b"".join(
        b"[" + bytes([c]).lower() + bytes([c]).upper() + b"]" if chr(c).isalpha() else re.escape(bytes([c]))
        for c in name
    )


def _fields_pattern(names: frozenset[bytes]) -> re.Pattern[bytes]:
    # Names spelled out case by case (not re.IGNORECASE) and grouped by first letter, so
    # the engine jumps from newline to newline and rejects an unwanted line (a Received
    # continuation, a DKIM signature) with one or two character tests.
    groups: dict[bytes, list[bytes]] = {}
    for name in sorted(names, key=len, reverse=True):
        groups.setdefault(name[:1], []).append(name[1:])
    alternatives = b"|".join(
        _any_case(first) + b"(?:" + b"|".join(_any_case(rest) for rest in rests) + b")"
        for first, rests in groups.items()
    )
    # One class test first turns away continuation lines and unwanted names at once.
    starts = sorted({c for n in names for c in n[:1] + n[:1].upper()})
    initials = b"".join(re.escape(bytes([c])) for c in starts)
    return re.compile(
        rb"\n(?=[" + initials + rb"])(" + alternatives + rb")[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)"
    )


_PATTERNS: dict[frozenset[bytes], re.Pattern[bytes]] = {}


def header_fields(head: bytes, wanted: frozenset[bytes] = WANTED) -> dict[bytes, bytes]:
    """Raw values of the wanted fields (first occurrence wins), keyed by lower-cased name."""
    pattern = _PATTERNS.get(wanted)
    if pattern is None:
        pattern = _PATTERNS[wanted] = _fields_pattern(wanted)
    found: dict[bytes, bytes] = {}
    for name, value in pattern.findall(b"\n" + head):
        key = name.lower()
        if key not in found:
            found[key] = value
    return found


_SINGLE: dict[bytes, re.Pattern[bytes]] = {}


def header_value(head: bytes, name: bytes) -> bytes | None:
    """The raw value of one field (lower-case ``name``), first occurrence; for the rarely needed ones."""
    pattern = _SINGLE.get(name)
    if pattern is None:
        pattern = _SINGLE[name] = re.compile(
            rb"\n" + _any_case(name) + rb"[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)"
        )
    m = pattern.search(b"\n" + head)
    return m.group(1) if m else None


def header_text(value: bytes | None) -> str:
    """A header value as text: unfolded, 8-bit bytes decoded best-effort, encoded words decoded."""
    if not value:
        return ""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        text = decode_bytes(value, None)
    if "\n" in text:
        text = text.replace("\r", "").replace("\n", "")
    if "=?" in text:
        text = decode_words(text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip()


_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")


def _word_bytes(encoding: str, payload: str) -> bytes:
    data = payload.encode("ascii", "replace")
    try:
        if encoding in "Qq":
            return binascii.a2b_qp(data, header=True)
        data = data.rstrip(b"=")
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return data


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding.

    Joining matters: mailers split a multi-byte character across two encoded words.
    Unknown charsets and broken payloads degrade to replacement characters, never errors.
    """
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    after_word = False
    for m in _WORD.finditer(text):
        gap = text[pos : m.start()]
        charset = m.group(1).split("*", 1)[0].lower()
        adjacent = after_word and (not gap or gap.isspace())
        if pending and not (adjacent and charset == pending_charset):
            out.append(decode_bytes(b"".join(pending), pending_charset))
            pending = []
        if not adjacent:
            out.append(gap)
        pending.append(_word_bytes(m.group(2), m.group(3)))
        pending_charset = charset
        pos = m.end()
        after_word = True
    if pending:
        out.append(decode_bytes(b"".join(pending), pending_charset))
    out.append(text[pos:])
    return "".join(out)


# --- addresses ------------------------------------------------------------------------------

_ANGLE = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\(([^()]*)\)")
_OBFUSCATED = re.compile(r"^\s*([^\s@<>()\"]+) at ([^\s@<>()\"]+\.[^\s@<>()\"]+)")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=8192)
def parse_mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of the first mailbox in a header, tolerant of what archives do.

    Handles ``Name <addr>``, ``"Last, First" <addr>``, ``addr (Name)``, a bare address and
    Pipermail's ``user at host (Name)``. A display name that is itself an address is a
    classic spoof (``alice@example.com <bob@example.com>``): the address in angle brackets
    wins and the name is dropped. The address is returned as written; callers lower-case.
    """
    value = value.strip()
    if not value:
        return "", ""
    if "@" not in value:
        value = _OBFUSCATED.sub(r"\1@\2", value, count=1)
    m = _ANGLE.search(value)
    if m:
        address = m.group(1).strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        name = value[: m.start()].strip()
        if not name:
            rest = _COMMENT.search(value, m.end())
            name = rest.group(1) if rest else ""
    else:
        comment = _COMMENT.search(value)
        name = comment.group(1) if comment else ""
        bare = _COMMENT.sub(" ", value).strip()
        address = bare.split(",", 1)[0].strip().split()[0] if bare else ""
    name = _clean_name(name)
    if "@" in name and " " not in name.strip():
        name = ""
    return name, "".join(address.split()).strip("\"'")


def parse_mailboxes(value: str) -> list[tuple[str, str]]:
    """Every mailbox in an address-list header (only used on rare paths such as DMARC rewrites)."""
    from email.utils import getaddresses

    try:
        pairs = getaddresses([value])
    except Exception:  # getaddresses has raised on hostile input in some Python versions
        return [parse_mailbox(value)]
    return [(_clean_name(n), a.strip()) for n, a in pairs if a and "@" in a]


def _clean_name(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return _SPACES.sub(" ", name).strip(" \"'")


def message_ids(value: str) -> list[str]:
    """Message-IDs in a header, normalised (no angle brackets, no whitespace)."""
    ids: list[str] = _ANGLE.findall(value)
    joined = "".join(ids)
    if " " in joined or "\t" in joined:
        ids = ["".join(i.split()) for i in ids]
    return [i for i in ids if i] if "" in ids else ids


def message_id(value: str) -> str | None:
    """The one Message-ID of a Message-ID or In-Reply-To header, or ``None`` when it is empty."""
    ids = message_ids(value)
    if ids:
        return ids[0]
    bare = "".join(value.split()).strip("<>")
    return bare or None


# --- dates ----------------------------------------------------------------------------------

MIN_YEAR = 1970
MAX_YEAR = 2100
_MAX_OFFSET_MINUTES = 14 * 60

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
)}
_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
    "mst": -420, "mdt": -360, "pst": -480, "pdt": -420, "cet": 60, "cest": 120, "bst": 60,
}
# "Mon, 29 Apr 2019 08:47:02 +1000" and its common sloppy relatives, found anywhere in the value.
_RFC_DATE = re.compile(
    r"(\d{1,2})[\s-]+([A-Za-z]{3})[a-z]*\.?[\s-]+(\d{2,4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?"
    r"\s*([+-]\d{4}|[+-]\d{2}:\d{2}|[A-Za-z]{1,5})?"
)
# asctime, as in mbox From_ lines: "Wed Dec  1 08:26:40 2010" (sometimes with a zone before the year).
_ASCTIME = re.compile(
    r"([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([A-Z]{3,5}|[+-]\d{4})\s+)?(\d{4})"
)


@lru_cache(maxsize=256)
def _offset_minutes(zone: str | None) -> int | None:
    if not zone:
        return None
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        if not digits.isdigit():
            return None
        minutes = int(digits[:2]) * 60 + int(digits[2:4])
        if minutes > _MAX_OFFSET_MINUTES or int(digits[2:4]) > 59:
            return None
        return -minutes if zone[0] == "-" else minutes
    return _ZONES.get(zone.lower())


@lru_cache(maxsize=64)
def _tz(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def _build(
    year: int, month: int, day: int, hour: int, minute: int, second: int, offset: int | None
) -> datetime | None:
    if year < 100:
        year += 2000 if year < 50 else 1900
    if not (MIN_YEAR <= year <= MAX_YEAR) or hour > 23 or minute > 59 or second > 60:
        return None
    try:
        local = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=_tz(offset or 0))
    except ValueError:
        return None
    return local.astimezone(UTC)


def parse_date(value: str) -> tuple[datetime, int | None] | None:
    """(UTC instant, the writer's offset in minutes or ``None``) of a Date header, or ``None``.

    ``-0000`` means "local time unknown" (RFC 5322), so it gives no offset. An impossible
    date (hour 27, month 13, year 3000) is ``None``: the caller falls back to another
    source rather than store a wrong time.
    """
    if not value:
        return None
    m = _RFC_DATE.search(value)
    if m:
        day, mon, year, hour, minute, second, zone = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is not None:
            offset = _offset_minutes(zone)
            at = _build(int(year), month, int(day), int(hour), int(minute), int(second or 0), offset)
            if at is None:
                return None
            return at, (None if zone in ("-0000", "-00:00") else offset)
    return _parse_date_slow(value)


def _parse_date_slow(value: str) -> tuple[datetime, int | None] | None:
    try:
        t = parsedate_tz(value)
    except Exception:  # parsedate_tz has raised IndexError/ValueError on garbage
        return None
    if t is None:
        return None
    offset = None if t[9] is None else t[9] // 60
    if offset is not None and abs(offset) > _MAX_OFFSET_MINUTES:
        offset = None
    at = _build(t[0], t[1], t[2], t[3], t[4], t[5], offset)
    return None if at is None else (at, offset)


def parse_asctime(value: str) -> datetime | None:
    """The date of an mbox From_ line (``Wed Dec  1 08:26:40 2010``), taken as UTC when it names no zone."""
    m = _ASCTIME.search(value)
    if not m:
        return None
    month = _MONTHS.get(m.group(1).lower())
    if month is None:
        return None
    offset = _offset_minutes(m.group(6))
    return _build(
        int(m.group(7)), month, int(m.group(2)), int(m.group(3)), int(m.group(4)),
        int(m.group(5) or 0), offset,
    )


def received_date(value: str) -> datetime | None:
    """The timestamp after the last ``;`` of a Received header."""
    _, sep, stamp = value.rpartition(";")
    parsed = parse_date(stamp) if sep else None
    return parsed[0] if parsed else None
