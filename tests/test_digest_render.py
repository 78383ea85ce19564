"""Every rendering of the digest: within its platform's limits, member text escaped, nothing fetched."""

from __future__ import annotations

import json
import re

from digest_support import HOSTILE, sample_digest

from messages.digest import (
    Digest,
    render_discord,
    render_email,
    render_html,
    render_json,
    render_markdown,
    render_plain,
    render_slack,
)
from messages.digest.render import pack

TITLES = ("Overview", "Segments", "Movements", "Newcomers", "Unanswered after 48 hours", "Programmes",
          "Leaderboards", "Top helpers")
UNESCAPED_MENTION = re.compile(r"(?<!\\)<@")


def test_discord_messages_fit_and_nobody_is_pinged() -> None:
    parts = render_discord(sample_digest())
    assert len(parts) >= 2 and all(0 < len(p) <= 2000 for p in parts)
    whole = "\n".join(parts)
    assert all(t in whole for t in TITLES)
    assert "@everyone" not in whole and not UNESCAPED_MENTION.search(whole)
    assert "\\*\\*bold\\*\\*" in whole  # member markdown shown literally
    assert "⚠ Warning: 12 question(s) from end users" in whole


def test_slack_blocks_within_limits_and_mentions_neutralised() -> None:
    message = render_slack(sample_digest())
    blocks = message.blocks
    assert 0 < len(blocks) <= 50 and blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) <= 150
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections and all(len(t) <= 3000 for t in sections)
    whole = json.dumps(blocks)
    assert "<!channel>" not in whole and "&lt;!channel&gt;" in whole and "@everyone" not in whole
    assert message.text.startswith("Community digest, week 2026-W44")
    # A digest far too long for one message is cut to 50 blocks and says so.
    huge = render_slack(sample_digest(questions=400))
    assert len(huge.blocks) == 50 and "Cut to fit" in json.dumps(huge.blocks[-1])
    assert all(len(b["text"]["text"]) <= 3000 for b in huge.blocks if b["type"] == "section")


def test_markdown_has_every_section_tables_and_both_charts() -> None:
    text = render_markdown(sample_digest())
    assert text.startswith("# Community digest, week 2026-W44")
    assert all(f"## {t}" in text for t in TITLES)
    assert "| segment | members | active | new |" in text
    assert "| developers | 30 (−3) | 0 (+1) | 0 (±0) |" in text
    assert text.count("](data:image/svg+xml;base64,") == 2
    assert "<script>" not in text


def test_json_round_trips() -> None:
    digest = sample_digest()
    data = json.loads(render_json(digest))
    assert data["week"] == "2026-W44" and data["questions"][0]["warning"] is True
    assert Digest.from_json(data) == digest


def test_html_is_self_contained_with_two_charts_and_escaped_text() -> None:
    page = render_html(sample_digest())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "&lt;script&gt;" in page
    # Nothing may load from the network: no src/href/link/import; the only URL is the SVG namespace.
    assert not re.search(r"\b(src|href)\s*=", page) and "<link" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}
    assert page.count('<circle class="bubble"') == 10 and page.count('<polyline class="series"') == 10
    assert page.count("<svg") == 2
    assert '<table class="segments">' in page and "<td>developers</td>" in page


def test_mail_has_html_with_charts_and_a_plain_text_alternative() -> None:
    mail = render_email(sample_digest())
    assert "\n" not in mail.subject and mail.subject.startswith("Community digest, week 2026-W44")
    assert "<svg" in mail.html and mail.html == render_html(sample_digest())
    assert mail.text == render_plain(sample_digest())
    assert all(t in mail.text for t in TITLES) and "<td>" not in mail.text
    assert HOSTILE.split()[1] in mail.text  # plain text shows the name as written, it cannot run


def test_pack_keeps_lines_whole_and_cuts_only_a_line_longer_than_the_limit() -> None:
    assert pack(["a" * 10, "b" * 10, "c" * 10], 21) == ["a" * 10 + "\n" + "b" * 10, "c" * 10]
    (only,) = pack(["x" * 50], 20)
    assert len(only) == 20 and only.endswith("…")
