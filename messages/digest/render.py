"""Text renderings of a digest: Markdown file, JSON, Discord messages, Slack Block Kit, plain text.

Each front end's limits are kept here: Discord refuses messages past 2,000 characters, so
the digest becomes several messages split between lines; Slack refuses more than 50
blocks or a section over 3,000 characters, so sections are cut to fit and the message
says when something was left out. Charts only travel where images can: the Markdown file
carries them as data-URI SVG images, chat points to the HTML/e-mail version.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from messages import escaping
from messages.digest.charts import activity_svg, matrix_svg
from messages.digest.model import Digest
from messages.digest.sections import DISCORD, MARKDOWN, PLAIN, SLACK, sections

DISCORD_LIMIT = escaping.DISCORD_MESSAGE_LIMIT
SLACK_SECTION_LIMIT = escaping.SLACK_BLOCK_TEXT_LIMIT
SLACK_MAX_BLOCKS = escaping.SLACK_MAX_BLOCKS
SLACK_HEADER_LIMIT = 150


def title(digest: Digest) -> str:
    return f"Community digest, week {digest.week}"


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def render_markdown(digest: Digest) -> str:
    lines = [f"# {title(digest)}", ""]
    for s in sections(digest, MARKDOWN):
        lines += [f"## {s.title}", "", *s.lines, ""]
    lines += [
        "## Charts",
        "",
        f"![Segments by financial impact and strategic importance]({_data_uri(matrix_svg(digest.matrix))})",
        "",
        f"![Activity per segment, last {len(digest.activity.weeks)} weeks]"
        f"({_data_uri(activity_svg(digest.activity))})",
        "",
    ]
    return "\n".join(lines)


def render_json(digest: Digest) -> str:
    return json.dumps(digest.to_json(), indent=2, ensure_ascii=False) + "\n"


def render_plain(digest: Digest) -> str:
    """The e-mail's text/plain part."""
    head = title(digest)
    lines = [head, "=" * len(head), ""]
    for s in sections(digest, PLAIN):
        lines += [s.title, "-" * len(s.title), *s.lines, ""]
    lines.append("The charts are in the HTML version of this mail.")
    return "\n".join(lines) + "\n"


def render_discord(digest: Digest, *, limit: int = DISCORD_LIMIT) -> list[str]:
    """The digest as Discord messages, each within ``limit`` characters, split between lines."""
    lines = [f"**{title(digest)}**"]
    for s in sections(digest, DISCORD):
        lines += ["", f"__**{s.title}**__", *s.lines]
    lines += ["", "Charts: in the HTML digest (`cohortbot digest --format html`) and the e-mail."]
    return pack(lines, limit)


def pack(lines: list[str], limit: int) -> list[str]:
    """Lines into as few messages of at most ``limit`` characters as keep every line whole."""
    messages: list[str] = []
    current = ""
    for raw in lines:
        line = escaping.shorten(raw, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            messages.append(current.strip("\n"))
        current = line
    if current.strip():
        messages.append(current.strip("\n"))
    return messages


@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str  # the notification/fallback text
    blocks: tuple[dict[str, Any], ...]


def render_slack(digest: Digest) -> SlackMessage:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title(digest)[:SLACK_HEADER_LIMIT]}}
    ]
    for s in sections(digest, SLACK):
        blocks.append({"type": "divider"})
        for chunk in pack([f"*{s.title}*", *s.lines], SLACK_SECTION_LIMIT):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    footer = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Charts: in the HTML digest and the e-mail."}],
    }
    if len(blocks) + 1 > SLACK_MAX_BLOCKS:
        blocks = blocks[: SLACK_MAX_BLOCKS - 1]
        cut = "Cut to fit Slack; the full digest is in the e-mail."
        footer["elements"] = [{"type": "mrkdwn", "text": cut}]
    blocks.append(footer)
    t = digest.totals
    text = f"{title(digest)}: {t.members} members, {t.active} active, {t.new} new"
    return SlackMessage(text=text, blocks=tuple(blocks))
