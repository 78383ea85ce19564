"""Member text made safe per platform: crafted attacks, then the shared hostile-strings corpora."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from messages import escaping

BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# A mention token Discord would parse: "<@", "<@&", "<#" or "</" not preceded by our backslash.
DISCORD_TOKEN = re.compile(r"(?<!\\)<[@#/]")
DISCORD_MASS = re.compile(r"@(everyone|here)", re.IGNORECASE)
SLACK_MASS = re.compile(r"@(channel|here|everyone)", re.IGNORECASE)


def assert_discord_safe(out: str) -> None:
    assert not DISCORD_MASS.search(out), out
    assert not DISCORD_TOKEN.search(out), out
    assert not BIDI.search(out)


def assert_slack_safe(out: str) -> None:
    assert "<" not in out and ">" not in out, out
    assert not SLACK_MASS.search(out), out
    assert not BIDI.search(out)


@pytest.mark.parametrize(
    "hostile",
    [
        "@everyone",
        "@here",
        "@EveryOne please",
        "@\u200beveryone",
        "@every@everyoneone",
        "@\u2060here",
        "<@123456789012345678>",
        "<@!123456789012345678>",
        "<@&123456789012345678>",
        "<#123456789012345678>",
        "</optout:123456789012345678>",
        "```\n@everyone\n```",
        "\u202e@everyone",
    ],
)
def test_discord_neutralises_mentions(hostile: str) -> None:
    assert_discord_safe(escaping.discord(hostile))
    assert_discord_safe(escaping.discord(hostile, multiline=True))


def test_discord_escapes_markdown_and_link_masks() -> None:
    out = escaping.discord("[https://good.example](https://evil.example) **b** __u__ ||s|| `c`")
    assert "\\[https://good.example\\]\\(https://evil.example\\)" in out
    assert "\\*\\*b\\*\\*" in out and "\\_\\_u\\_\\_" in out and "\\|\\|s\\|\\|" in out and "\\`c\\`" in out


def test_discord_escapes_line_start_syntax_in_multiline_text() -> None:
    out = escaping.discord("# Heading\n-# subtext\n> quote\n1. item\n- item", multiline=True)
    assert out.split("\n") == ["\\# Heading", "\\-\\# subtext", "\\> quote", "1\\. item", "\\- item"]


def test_discord_single_line_by_default() -> None:
    assert "\n" not in escaping.discord("Alice\n@here\r\nBob")


@pytest.mark.parametrize(
    "hostile",
    ["<!channel>", "<!here>", "<!everyone>", "<!subteam^S0123456>", "<@U0123456>", "@channel", "@here"],
)
def test_slack_neutralises_mentions(hostile: str) -> None:
    assert_slack_safe(escaping.slack(hostile))


def test_slack_escapes_only_what_slack_asks() -> None:
    assert escaping.slack("a & b <x|y>") == "a &amp; b &lt;x|y&gt;"
    # A pre-escaped entity must be shown as typed, never turned back into a token.
    assert escaping.slack("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"


def test_html_escapes_and_keeps_breaks_only_when_asked() -> None:
    assert str(escaping.html("<script>alert(1)</script> & 'x'")) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;x&#39;"
    )
    assert str(escaping.html("a\nb", multiline=True)) == "a<br>\nb"
    assert "\n" not in str(escaping.html("a\nb"))


@pytest.mark.parametrize(
    "hostile", ["Alice\r\nBcc: victim@example.com", "Alice\nContent-Type: text/html", "A\rB", "A\u2028B\x85C"]
)
def test_header_values_never_carry_line_breaks(hostile: str) -> None:
    out = escaping.header(hostile)
    assert "\r" not in out and "\n" not in out and "\u2028" not in out and "\x85" not in out


def test_clean_drops_invisibles_and_keeps_emoji_sequences() -> None:
    assert escaping.clean("\u202eevil.exe\u202dtxt.pdf") == "evil.exetxt.pdf"
    assert escaping.clean("\ufeffadmin\x00") == "admin"
    assert escaping.clean("a\u200bb\u2060c") == "abc"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert escaping.clean(family) == family
    assert escaping.clean("a\u200db") == "ab"  # a joiner between letters joins nothing we draw
    assert escaping.clean("\ud800x") == "\ufffdx"
    zalgo = "Z" + "\u0301" * 40
    assert escaping.clean(zalgo) == "Z" + "\u0301" * 3


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("a very long name indeed", 15, "a very long…"),
        ("abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"),
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea\U0001f1ee\U0001f1f9", 4, "\U0001f1eb\U0001f1f7…"),
        ("e\u0301e\u0301e\u0301e\u0301", 4, "e\u0301…"),
        ("ab\\*cd", 4, "ab…"),
    ],
)
def test_shorten_cuts_at_word_and_grapheme_boundaries(text: str, limit: int, expected: str) -> None:
    assert escaping.shorten(text, limit) == expected


def test_display_name_is_one_bounded_line() -> None:
    out = escaping.display_name("x" * 500 + "\nFake line")
    assert len(out) <= escaping.NAME_LIMIT and "\n" not in out and out.endswith("…")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://a.example/x y", "https://a.example/<x>", "https://a|b", "ftp://x"]
)
def test_checked_url_refuses_what_could_break_out(url: str) -> None:
    with pytest.raises(ValueError, match="safe"):
        escaping.checked_url(url)


# -- the shared corpora ---------------------------------------------------------------------


def corpus(shared_data: Path) -> list[str]:
    bad = shared_data / "bad-input"
    strings: list[str] = list(json.loads((bad / "blns.json").read_text(encoding="utf-8")))
    strings += [e["input"] for e in json.loads((bad / "chat-hostile/chat_hostile_strings.json").read_text())]
    return strings


ESCAPERS: dict[str, Callable[[str], str]] = {
    "discord": escaping.discord,
    "discord-multiline": lambda s: escaping.discord(s, multiline=True),
    "slack": escaping.slack,
    "slack-multiline": lambda s: escaping.slack(s, multiline=True),
    "html": lambda s: str(escaping.html(s, multiline=True)),
    "mail_text": escaping.mail_text,
    "header": escaping.header,
    "display_name": escaping.display_name,
}


@pytest.mark.parametrize("kind", sorted(ESCAPERS))
def test_hostile_corpus_never_breaks_out(shared_data: Path, kind: str) -> None:
    strings = corpus(shared_data)
    assert len(strings) > 500
    for s in strings:
        out = ESCAPERS[kind](s)
        out.encode("utf-8")  # no lone surrogate survives
        assert "\x00" not in out and not BIDI.search(out)
        if kind.startswith("discord"):
            assert_discord_safe(out)
        elif kind.startswith("slack"):
            assert_slack_safe(out)
        elif kind == "html":
            assert "<" not in out.replace("<br>", "")
        elif kind in ("header", "display_name"):
            assert "\n" not in out and "\r" not in out
            assert len(out) <= (escaping.NAME_LIMIT if kind == "display_name" else escaping.SUBJECT_LIMIT)


FRAGMENTS = [
    "@",
    "everyone",
    "here",
    "channel",
    "<",
    ">",
    "&",
    "!",
    "#",
    "&amp;",
    "lt;",
    "\u200b",
    "\u2060",
    "\u200d",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\x00",
    "\r",
    "\n",
    "\\",
    "*",
    "_",
    "`",
    "|",
    "[",
    "]",
    "(",
    ")",
    " ",
    "-",
    "1.",
    "e\u0301",
    "\U0001f1eb",
    "\U0001f468",
    "a",
    "Z",
    "\ud800",
]


def test_seeded_fuzz_of_dangerous_fragments() -> None:
    rng = random.Random(20261120)
    for _ in range(3000):
        s = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
        assert_discord_safe(escaping.discord(s, multiline=rng.random() < 0.5))
        assert_slack_safe(escaping.slack(s, multiline=rng.random() < 0.5))
        limit = rng.randint(1, 30)
        short = escaping.shorten(s, limit)
        assert len(short) <= limit
        assert s.startswith(short.removesuffix(escaping.ELLIPSIS)) or short == s


def test_clean_fast_path_gives_what_the_walk_gives() -> None:
    """Plain ASCII skips the character walk; every ASCII character (controls, DEL, tab, CR,
    line breaks) and a few others mixed in must come out as the walk makes them."""
    rng = random.Random(4)
    alphabet = [chr(c) for c in range(128)] + ["é", "\u200b", "\u202e", "\u2028", "\x85"]
    samples = ["", "plain name", "two\nlines", "tab\there", "cr\r\nlf", "del\x7f", "nul\x00"]
    samples += ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(3000)]
    samples += ["".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 30))) for _ in range(500)]
    for text in samples:
        for multiline in (False, True):
            assert escaping.clean(text, multiline=multiline) == escaping._walk(text, multiline), repr(text)
