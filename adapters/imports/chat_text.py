"""Chat markdown (Slack mrkdwn, Discord markdown) split into own words, quotes and code.

Segmentation judges people by what they wrote, so quoted lines leave the text here,
while code blocks stay: code, logs and patches a member pastes are their own technical
signal. Import and live translation share this so both store the same words.
"""

from __future__ import annotations

import re

from bot.core.events import MessageText

_SURROGATE = re.compile("[\ud800-\udfff]")
_SLACK_ENTITY = re.compile("&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_FENCE = "```"


def clean(value: str) -> str:
    """Text every database and encoder accepts: no NUL, no lone surrogates.

    JSON may carry ``\\u0000`` and unpaired ``\\ud800`` escapes; PostgreSQL rejects both
    and UTF-8 encoders raise on the second, so they are replaced here at the edge.
    """
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _SURROGATE.sub("\ufffd", value)
    return value


def decode_slack_entities(text: str) -> str:
    """Slack escapes exactly ``& < >``; one pass, so ``&amp;lt;`` stays the literal ``&lt;``."""
    if "&" not in text:
        return text
    return _SLACK_ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _is_diff(lines: list[str]) -> bool:
    return any(line.startswith(("@@ ", "diff --git", "+++ ", "--- ")) for line in lines)


def _count_patch(lines: list[str]) -> int:
    if not _is_diff(lines):
        return 0
    return sum(1 for line in lines if line.startswith(("+", "-", "@@")))


def _opens_block_quote(stripped: str, *, slack: bool) -> bool:
    if slack:
        return stripped.startswith((">>>", "&gt;&gt;&gt;"))
    return stripped == ">>>" or stripped.startswith(">>> ")


def split_markdown(
    raw: str,
    *,
    slack: bool,
    attachments: int = 0,
) -> MessageText:
    """Split a chat message into own words (code included) and a count of quoted lines.

    Quotes are lines starting with ``>`` (Slack, also its escaped ``&gt;``) or ``> ``
    (Discord), and everything after a ``>>>`` block marker. Lines inside a code fence are
    never quotes: a shell prompt or a log line there is the author's own paste.
    """
    text = clean(raw)
    quote_marks: tuple[str, ...] = (">", "&gt;") if slack else ("> ", ">>> ")
    if _FENCE not in text and not (
        text.lstrip().startswith(quote_marks) or "\n>" in text or "\n&gt;" in text or text.strip() == ">"
    ):
        own = text.strip()
        return MessageText(
            own=decode_slack_entities(own) if slack else own, attachments=attachments
        )
    own_lines: list[str] = []
    quoted = 0
    patch = 0
    in_code = False
    block: list[str] = []
    in_block_quote = False
    for line in text.split("\n"):
        fences = line.count(_FENCE)
        if in_code:
            own_lines.append(line)
            if fences % 2:
                in_code = False
                patch += _count_patch(block)
                block = []
            else:
                block.append(line)
            continue
        stripped = line.lstrip()
        if in_block_quote:
            quoted += 1
            continue
        if _opens_block_quote(stripped, slack=slack):
            in_block_quote = True
            quoted += 1
            continue
        if stripped.startswith(quote_marks) or stripped == ">":
            quoted += 1
            continue
        own_lines.append(line)
        if fences % 2:
            in_code = True
            block = []
    if in_code:  # an unterminated fence still counts what it held
        patch += _count_patch(block)
    own = "\n".join(own_lines).strip()
    if slack:
        own = decode_slack_entities(own)
    return MessageText(own=own, quoted_lines=quoted, patch_lines=patch, attachments=attachments)
