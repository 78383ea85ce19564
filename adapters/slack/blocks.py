"""The body of an outgoing Slack message: Block Kit with our buttons, and no mass mentions.

Escaping ``& < >`` in member-supplied text is the template layer's job
(``messages/escaping.py``); this module is the last check before the wire. A bot of ours
never has a reason to notify a whole channel, so ``<!channel>``, ``<!here>``,
``<!everyone>`` and user-group mentions are neutralised wherever they appear in the final
text or blocks, whoever put them there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.slack.commands import ACTION_PREFIX, action_id
from bot.core.outbound import Button

log = logging.getLogger(__name__)

_MASS_MENTION = re.compile(r"<!(channel|here|everyone|subteam\^[^>|]*)((?:\|[^>]*)?)>", re.IGNORECASE)
#: Keys whose values are identifiers, not text a person reads.
_IDENTIFIERS = frozenset({"type", "action_id", "block_id", "value", "url", "style", "image_url"})
SECTION_LIMIT = 3000  # characters in one section's text
LABEL_LIMIT = 75  # characters in a button label


def neutralise(text: str) -> str:
    """``<!here>`` becomes the literal text ``&lt;!here&gt;`` (shown as <!here>, notifying nobody)."""
    if "<!" not in text:
        return text
    out, count = _MASS_MENTION.subn(lambda m: f"&lt;!{m.group(1)}{m.group(2)}&gt;", text)
    if count:
        log.warning("neutralised %d mass mention(s) in an outgoing Slack message", count)
    return out


def neutralise_blocks(value: Any) -> Any:
    """A copy of a Block Kit structure with every human-readable string neutralised."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, Mapping):
        return {
            k: (v if k in _IDENTIFIERS and isinstance(v, str) else neutralise_blocks(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [neutralise_blocks(v) for v in value]
    return value


def button(choice: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": choice.label[:LABEL_LIMIT], "emoji": True},
        "action_id": action_id(choice.action),
        "value": choice.value,
    }
    if choice.style in ("primary", "danger"):
        element["style"] = choice.style
    return element


def sections(text: str) -> list[dict[str, Any]]:
    """mrkdwn text as section blocks, split at line ends to stay under Slack's 3,000 characters."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > SECTION_LIMIT:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]


def claim_buttons(block: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a block whose action buttons carry our ``cohort:`` action ids.

    Templates name a button by its bare action (``accept``); the prefix is how a click is
    recognised as ours when it comes back. Link buttons (with a ``url``) are left alone:
    they open a page and are not answered by the bot.
    """
    out = dict(block)
    if isinstance(out.get("elements"), list):
        out["elements"] = [_claim(e) for e in out["elements"]]
    if isinstance(out.get("accessory"), Mapping):
        out["accessory"] = _claim(out["accessory"])
    return out


def _claim(element: Any) -> Any:
    if not isinstance(element, Mapping) or element.get("type") != "button" or element.get("url"):
        return element
    ident = str(element.get("action_id") or "")
    if ident.startswith(ACTION_PREFIX) or not ident:
        return element
    return {**element, "action_id": action_id(ident)}


def _has_our_buttons(blocks: Sequence[Mapping[str, Any]]) -> bool:
    for block in blocks:
        elements = block.get("elements")
        candidates = [*(elements if isinstance(elements, list) else []), block.get("accessory")]
        for element in candidates:
            if isinstance(element, Mapping) and str(element.get("action_id", "")).startswith(ACTION_PREFIX):
                return True
    return False


def message_blocks(
    text: str, *, blocks: Sequence[Mapping[str, Any]], buttons: Sequence[Button]
) -> list[dict[str, Any]]:
    """The ``blocks`` argument of chat.postMessage; ``[]`` for a plain-text message.

    Rendered blocks (from the templates) are used as they are, their buttons claimed as
    ours; ``buttons`` are appended as one actions block unless the blocks already hold
    some. With buttons but no blocks, the text becomes section blocks above the buttons.
    """
    out: list[dict[str, Any]] = [claim_buttons(b) for b in blocks]
    if buttons and not _has_our_buttons(out):
        if not out:
            out = sections(text)
        elements = [button(b) for b in buttons]
        out.append({"type": "actions", "block_id": "cohort-actions", "elements": elements})
    result = neutralise_blocks(out)
    assert isinstance(result, list)  # a list in, a list out
    return result
