"""Reply anchors: how a plain e-mail reply ("yes", "decline") finds its way back to a button.

A mail with buttons (an invitation, a "did it solve it?" check, a manager's confirmation)
lists one synthetic message id per button in its ``References`` header,
``<cba.{action}.{base32 value}@{domain}>``. Every mail client copies the parent's
References into a reply (RFC 5322 section 3.6.4), so the reply names the actions it can
mean and their tokens without the bot keeping any state; the reply's first word picks one.
The Message-ID itself stays ``<{idempotency key}@{domain}>`` for reconciliation.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

_ACTION = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def anchor_id(action: str, value: str, *, domain: str) -> str:
    """The bracketed message id that carries one button's action and value."""
    if not _ACTION.match(action):
        raise ValueError(f"action {action!r} cannot travel in a message id")
    encoded = base64.b32encode(value.encode("utf-8")).decode("ascii").rstrip("=").lower()
    return f"<cba.{action}.{encoded}@{domain}>"


def read_anchors(message_ids: Iterable[str], *, domain: str) -> list[tuple[str, str]]:
    """(action, value) pairs from the ids a reply references; ids of other domains are ignored."""
    found: list[tuple[str, str]] = []
    suffix = "@" + domain.lower()
    for raw in message_ids:
        mid = raw.strip().strip("<>")
        if not mid.lower().endswith(suffix) or not mid.lower().startswith("cba."):
            continue
        local = mid[: -len(suffix)]
        _, action, encoded = [*local.split(".", 2), "", ""][:3]
        if not _ACTION.match(action) or not encoded:
            continue
        padded = encoded.upper() + "=" * (-len(encoded) % 8)
        try:
            value = base64.b32decode(padded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if (action, value) not in found:
            found.append((action, value))
    return found
