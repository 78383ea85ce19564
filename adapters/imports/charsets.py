"""Turning mail bytes into text whatever charset a message claims, without ever raising.

Archives are full of charset labels Python does not know (``windows-874``,
``unknown-8bit``, ``x-user-defined``, typos) and of bodies that lie about their charset.
The order is: the declared codec (through a small table of the aliases mailers use),
then UTF-8, then the declared codec with replacement characters, then Windows-1252 with
replacement characters, which decodes any byte string.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

# Labels mailers write that Python spells differently, or for which a superset decodes
# what the sender's software really produced (as web browsers do).
_ALIASES = {
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "big5": "big5hkscs",
    "x-mac-roman": "mac-roman",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}


@lru_cache(maxsize=256)
def codec_for(charset: str | None) -> str | None:
    """The Python text codec for a charset label, or ``None`` when there is none (or it is not text)."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    if label.startswith("windows-") and label[8:].isdigit():
        label = "cp" + label[8:]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    # base64, zlib, rot13 and friends are codecs too; a charset must decode bytes to text.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of ``data`` in the declared ``charset``, falling back step by step; never raises."""
    if not data:
        return ""
    codec = codec_for(charset)
    exotic = codec is not None and codec != "utf-8"
    attempts: tuple[tuple[str, str], ...] = (
        ((codec, "strict"), ("utf-8", "strict"), (codec, "replace")) if exotic and codec
        else (("utf-8", "strict"),)
    )
    for name, errors in attempts:
        try:
            return data.decode(name, errors)
        except Exception:  # noqa: S112 -- UnicodeDecodeError, and odd errors from exotic codecs: try the next
            continue
    return data.decode("cp1252", errors="replace")
