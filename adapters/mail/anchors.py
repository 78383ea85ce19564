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


# --- the subject tag: the same information for clients that drop References -------------------

#: Which buttons a subject tag stands for; one tag per mail, so all its buttons share one value.
TAG_ACTIONS: dict[str, tuple[str, ...]] = {
    "inv": ("accept", "decline"),
    "chk": ("solved", "not-solved"),
    "cfm": ("confirm",),
}
_TAG_OF = {action: tag for tag, actions in TAG_ACTIONS.items() for action in actions}
_TAG_VALUE = re.compile(r"[A-Za-z0-9._~-]{4,64}")
_TAG = re.compile(r"\[(inv|chk|cfm):([A-Za-z0-9._~-]{4,64})\]")


def subject_tag(buttons: Iterable[tuple[str, str]]) -> str | None:
    """``[inv:TOKEN]`` for a mail whose buttons are one kind and share one short token, else None."""
    pairs = list(buttons)
    tags = {_TAG_OF.get(action) for action, _ in pairs}
    values = {value for _, value in pairs}
    if len(tags) != 1 or len(values) != 1:
        return None
    (tag,), (value,) = tags, values
    if tag is None or not _TAG_VALUE.fullmatch(value):
        return None
    return f"[{tag}:{value}]"


def read_subject_tag(subject: str) -> list[tuple[str, str]]:
    """(action, value) pairs a reply's subject offers through a tag."""
    match = _TAG.search(subject)
    if match is None:
        return []
    return [(action, match.group(2)) for action in TAG_ACTIONS[match.group(1)]]
