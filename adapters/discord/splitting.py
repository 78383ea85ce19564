"""Discord's 2,000-character limit: long texts become several messages, each with its own nonce.

Pure. A text is cut at the last paragraph break, else line break, else space before the
limit, so words and (mostly) markdown survive; only a single word longer than the limit is
cut hard. Each part's nonce is derived from the outbox row's idempotency key, so a retry
after a half-sent message repeats the same nonces and Discord drops the parts it already has.
"""

from __future__ import annotations

#: Discord refuses nonces longer than this.
NONCE_MAX = 25


def split_text(text: str, *, limit: int = 2000) -> list[str]:
    """Parts of at most ``limit`` characters; an empty text is one empty part."""
    if limit < 1:
        raise ValueError("limit must be positive")
    rest = text.strip()
    parts: list[str] = []
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep, 0, limit + 1)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return parts


def nonce_for(key: str, index: int) -> str:
    """The row's key for the first part; the key with the part number in its last two places after."""
    if index == 0:
        return key[:NONCE_MAX]
    suffix = f"-{index}"
    return key[: NONCE_MAX - len(suffix)] + suffix
