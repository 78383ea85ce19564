"""Slack Block Kit for a rendered mrkdwn text: sections within Slack's limits, then buttons.

Split from ``templates`` (which renders the text) because the blocks follow Slack's rules,
not the template's: how long a section may be, how many blocks a message may have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.core.outbound import Button
from messages import escaping


def _chunks(text: str, limit: int) -> Iterable[str]:
    """Paragraphs packed into pieces of at most ``limit`` characters (a huge one is cut)."""
    current = ""
    for para in text.split("\n\n"):
        piece = para if len(para) <= limit else escaping.shorten(para, limit)
        if current and len(current) + 2 + len(piece) > limit:
            yield current
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        yield current


_STYLES = {"primary": "primary", "danger": "danger"}


def slack_blocks(text: str, buttons: Sequence[Button] = ()) -> tuple[Mapping[str, Any], ...]:
    """Block Kit for a rendered mrkdwn text: section blocks within Slack's limits, then one
    actions block whose buttons carry the action in ``action_id`` and the token in ``value``."""
    room = escaping.SLACK_MAX_BLOCKS - (1 if buttons else 0)
    sections: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _chunks(text, escaping.SLACK_BLOCK_TEXT_LIMIT)
    ][:room]
    blocks: list[Mapping[str, Any]] = list(sections)
    if buttons:
        elements: list[dict[str, Any]] = []
        for button in buttons[:25]:
            label = escaping.shorten(escaping.single_line(button.label), escaping.SLACK_BUTTON_LABEL_LIMIT)
            element: dict[str, Any] = {
                "type": "button",
                "text": {"type": "plain_text", "text": label or str(button.action), "emoji": True},
                "action_id": button.action[:255],
                "value": button.value[:2000],
            }
            if button.style in _STYLES:
                element["style"] = _STYLES[button.style]
            elements.append(element)
        blocks.append({"type": "actions", "elements": elements})
    # Built of plain dicts, lists and str only (slices and joins are plain str, never a
    # subclass): the blocks are stored in the outbox as JSON, and a JSON round trip to make
    # sure cost more than the rest of a Slack render.
    return tuple(blocks)
