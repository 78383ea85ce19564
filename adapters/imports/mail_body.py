"""Finding the readable text of a message: the first text/plain part, decoded, and a count of the rest.

The fast path scans MIME boundaries in the raw bytes and decodes only the one part it
keeps; attachments are counted, never decoded. When the structure is too broken to
decide (a boundary that never occurs, a nested part that reuses its parent's boundary,
no boundary at all), the stdlib parser with the ``compat32`` policy takes over, which
copes with nearly anything and never raises on malformed input.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from functools import lru_cache

from adapters.imports.charsets import decode_bytes
from adapters.imports.html_text import html_to_text
from adapters.imports.mail_headers import header_fields, split_head

_PART_HEADERS = frozenset({b"content-type", b"content-transfer-encoding", b"content-disposition"})
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
# Parts that sign or describe the message rather than attach something to it.
_NOT_ATTACHMENTS = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
_MAX_DEPTH = 12
_MAX_PARTS = 500


@dataclass(frozen=True, slots=True)
class Body:
    """The text we keep and how many parts we did not read."""

    text: str = ""
    attachments: int = 0
    from_html: bool = False


class _Undecided(Exception):
    """The boundary scan cannot tell the structure; the full parser must."""


@dataclass(slots=True)
class _Found:
    plain: tuple[bytes, str, str] | None = None  # (payload, transfer encoding, charset)
    html: tuple[bytes, str, str] | None = None
    attachments: int = 0
    parts: int = 0


@lru_cache(maxsize=2048)
def content_type(value: str) -> tuple[str, dict[str, str]]:
    """(type/subtype lower-cased, parameters) of a Content-Type value; ``text/plain`` when absent.

    Cached: archives repeat a handful of values; callers must not change the dict.
    """
    main, _, rest = value.partition(";")
    ctype = main.strip().lower() or "text/plain"
    if "/" not in ctype:
        ctype = "text/plain"
    params: dict[str, str] = {}
    if rest:
        for key, val in _PARAM.findall(";" + rest):
            if len(val) >= 2 and val[0] == '"':
                val = val[1:-1].replace('\\"', '"')
            params.setdefault(key.lower(), val)
    return ctype, params


def transfer_decode(payload: bytes, encoding: str) -> bytes:
    """Undo base64 / quoted-printable; anything else (7bit, 8bit, binary, garbage) is left as is."""
    enc = encoding.strip().lower()
    try:
        if enc == "quoted-printable":
            return binascii.a2b_qp(payload)
        if enc == "base64":
            return _base64(payload)
    except (binascii.Error, ValueError):
        return payload
    return payload


def _base64(payload: bytes) -> bytes:
    try:
        return binascii.a2b_base64(payload)
    except binascii.Error:
        # Drop whatever is not base64 and fix the padding: a damaged tail should not cost the text.
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", payload)
        clean = clean[: len(clean) - len(clean) % 4]
        return binascii.a2b_base64(clean) if clean else b""


def _is_attachment(disposition: str, ctype_params: dict[str, str]) -> bool:
    disp = disposition.split(";", 1)[0].strip().lower()
    return disp == "attachment" or ("name" in ctype_params and disp != "inline")


def _text(found: _Found) -> Body:
    if found.plain is not None:
        payload, cte, charset = found.plain
        return Body(decode_bytes(transfer_decode(payload, cte), charset or None), found.attachments)
    if found.html is not None:
        payload, cte, charset = found.html
        html = decode_bytes(transfer_decode(payload, cte), charset or None)
        return Body(html_to_text(html), found.attachments, from_html=True)
    return Body("", found.attachments)


def extract_body(fields: dict[bytes, bytes], body: bytes, raw: bytes) -> Body:
    """The text of the message whose top-level fields and body are given; ``raw`` feeds the fallback."""
    found = _Found()
    try:
        _walk(
            _ascii(fields.get(b"content-type")),
            _ascii(fields.get(b"content-transfer-encoding")),
            _ascii(fields.get(b"content-disposition")),
            body,
            found,
            depth=0,
            in_alternative=False,
        )
    except _Undecided:
        return _full_parse(raw)
    return _text(found)


def _ascii(value: bytes | None) -> str:
    if not value:
        return ""
    return value.decode("ascii", "replace").replace("\n", " ")


def _walk(
    ctype_value: str,
    cte: str,
    disposition: str,
    body: bytes,
    found: _Found,
    *,
    depth: int,
    in_alternative: bool,
) -> None:
    found.parts += 1
    if depth > _MAX_DEPTH or found.parts > _MAX_PARTS:
        raise _Undecided
    ctype, params = content_type(ctype_value)
    if ctype.startswith("multipart/"):
        boundary = params.get("boundary")
        if not boundary:
            raise _Undecided
        alternative = ctype == "multipart/alternative"
        for part in _split_parts(body, boundary.encode("ascii", "replace")):
            head, part_body = split_head(part)
            f = header_fields(head, _PART_HEADERS)
            _walk(
                _ascii(f.get(b"content-type")),
                _ascii(f.get(b"content-transfer-encoding")),
                _ascii(f.get(b"content-disposition")),
                part_body,
                found,
                depth=depth + 1,
                in_alternative=alternative,
            )
        return
    attached = _is_attachment(disposition, params)
    if ctype == "text/plain" and not attached:
        # Only the first inline text part is the body; later ones (list footers, notes) are neither.
        if found.plain is None:
            found.plain = (body, cte, params.get("charset", ""))
        return
    if ctype == "text/html" and not attached:
        if found.html is None:
            found.html = (body, cte, params.get("charset", ""))
        return
    if in_alternative and ctype.startswith("text/"):
        return  # another rendering of the same words
    if ctype not in _NOT_ATTACHMENTS:
        found.attachments += 1


def _split_parts(body: bytes, boundary: bytes) -> list[bytes]:
    """Parts between ``--boundary`` lines; preamble and epilogue dropped. No delimiter found: undecided."""
    delim = b"\n--" + boundary
    text = b"\n" + body
    starts: list[int] = []
    ends: list[int] = []
    pos = text.find(delim)
    closed = False
    while pos >= 0:
        after = pos + len(delim)
        tail = text[after : after + 2]
        if tail == b"--":
            ends.append(pos)
            closed = True
            break
        line_end = text.find(b"\n", after)
        # The delimiter line may carry trailing whitespace only; anything else is a longer boundary.
        if line_end < 0 or text[after:line_end].strip() == b"":
            ends.append(pos)
            starts.append(len(text) if line_end < 0 else line_end + 1)
        pos = text.find(delim, after)
    if not starts:
        raise _Undecided
    if not closed:
        ends.append(len(text))
    return [text[s:e] for s, e in zip(starts, ends[1:], strict=False)]


def _full_parse(raw: bytes) -> Body:
    """The stdlib parser's view, for structures the boundary scan could not settle."""
    try:
        msg = message_from_bytes(raw, policy=compat32)
        return _from_message(msg)
    except Exception:  # the stdlib parser is lenient, but a hostile message must not stop an import
        return Body()


def _from_message(msg: Message) -> Body:
    plain: Message | None = None
    html: Message | None = None
    attachments = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = str(part.get("Content-Disposition", ""))
        attached = _is_attachment(disposition, {"name": ""} if part.get_param("name") else {})
        if ctype == "text/plain" and not attached:
            plain = plain or part
        elif ctype == "text/html" and not attached:
            html = html or part
        elif ctype not in _NOT_ATTACHMENTS:
            attachments += 1
    chosen = plain or html
    if chosen is None:
        return Body("", attachments)
    payload = chosen.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = chosen.get_content_charset() or None
    text = decode_bytes(data, charset)
    if chosen is html and plain is None:
        return Body(html_to_text(text), attachments, from_html=True)
    return Body(text, attachments)
