"""Templates: every default renders on every platform within limits, escaped, sandboxed, per locale."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.core.outbound import Button
from messages import escaping
from messages.slack_blocks import slack_blocks
from messages.templates import DEFAULT_LOCALE_DIR, Renderer, TemplateFailure, locale_chain

HOSTILE_NAME = "@everyone <@&123456789012345678> <!channel> \u202eevil\r\nBcc: x@example.com"

BUTTONS = (
    Button(
        "accept", "tok-123", "Yes, count me in", "primary", url="https://bot.example/invitation/t1/accept"
    ),
    Button("decline", "tok-123", "No, thanks", url="https://bot.example/invitation/t1/decline"),
)

#: The smallest context each default template needs (what callers must pass).
REQUIRED: dict[str, dict[str, Any]] = {
    "welcome": {"name": "Ana", "community": "Example"},
    "invite": {
        "name": "Ana",
        "community": "Example",
        "programme_title": "Bag-a-Bug",
        "benefit": "Points.",
        "why": "3 patches",
    },
    "solution_check": {"name": "Ana", "helper": "Bob", "question": "How do I fix it?"},
    "optout_done": {"scope": "all"},
    "optin_done": {"scope": "programme:bag-a-bug", "scope_title": "Bag-a-Bug"},
    "whyme": {"reasons": []},
    "programmes_list": {"community": "Example", "programmes": []},
    "forgetme_done": {},
    "approval_request": {
        "member": "Ana",
        "programme_title": "Partners",
        "segment": "integrator",
        "why": "works at ACME",
    },
    "notice": {"body": "Maintenance tonight."},
}

#: Every optional value too, each one hostile or huge.
FULL: dict[str, Any] = {
    "name": HOSTILE_NAME,
    "member": HOSTILE_NAME,
    "helper": "<@U0123456> " + "x" * 500,
    "community": "Example <script>",
    "programme_title": "**Bag**-a-`Bug` " * 40,
    "benefit": "<!here> " * 2000,
    "why": "[https://good.example](https://evil.example) " * 200,
    "question": "```\n@everyone\n```\n# heading\n" * 500,
    "expires_on": "2026-12-31",
    "unsubscribe_url": "https://bot.example/unsubscribe/abc_def-ghi",
    "buttons": BUTTONS,
    "scope": "programme:bag-a-bug",
    "scope_title": "@here Bag-a-Bug",
    "reasons": [
        {
            "programme_title": f"P{i} @everyone",
            "segment": "developer",
            "rule": "<!channel>" * 50,
            "evidence": ["e" * 900] * 9,
        }
        for i in range(30)
    ],
    "programmes": [
        {"title": f"P{i} <@&1>", "benefit": "b" * 900, "opted_out": i % 2 == 0} for i in range(40)
    ],
    "segment": "integrator",
    "evidence": ["<!subteam^S1> works at ACME"] * 20,
    "approve_command": "admin approvals approve 17",
    "title": "Heads up @here",
    "body": ("Line with <!channel> and @everyone\n" * 3000),
}

renderer = Renderer()


def check_limits(name: str, platform: str, out: Any) -> None:
    if platform == "discord":
        assert 0 < len(out.text) <= escaping.DISCORD_MESSAGE_LIMIT
        assert out.subject is None and out.html is None and out.blocks == ()
    elif platform == "slack":
        assert 0 < len(out.text) <= escaping.SLACK_TEXT_LIMIT
        assert 0 < len(out.blocks) <= escaping.SLACK_MAX_BLOCKS
        json.dumps(out.blocks)
        for block in out.blocks:
            if block["type"] == "section":
                assert block["text"]["type"] == "mrkdwn"
                assert 0 < len(block["text"]["text"]) <= escaping.SLACK_BLOCK_TEXT_LIMIT
    else:
        assert out.text and out.subject
        assert len(out.subject) <= escaping.SUBJECT_LIMIT
        assert "\n" not in out.subject and "\r" not in out.subject
        assert out.html is None or out.html.lstrip().startswith("<!DOCTYPE html>")


def test_every_default_template_exists_for_every_platform() -> None:
    assert renderer.names() == sorted(REQUIRED)


@pytest.mark.parametrize("platform", ["discord", "slack", "mail"])
@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_renders_with_required_context(name: str, platform: str) -> None:
    check_limits(name, platform, renderer.render(name, platform, REQUIRED[name]))


@pytest.mark.parametrize("platform", ["discord", "slack", "mail"])
@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_renders_hostile_huge_context_within_limits(name: str, platform: str) -> None:
    out = renderer.render(name, platform, FULL)
    check_limits(name, platform, out)
    text = out.text
    if platform == "discord":
        assert not re.search(r"@(everyone|here)", text, re.IGNORECASE)
        assert not re.search(r"(?<!\\)<[@#]", text)
        assert "\u202e" not in text
    elif platform == "slack":
        for chunk in [text] + [b["text"]["text"] for b in out.blocks if b["type"] == "section"]:
            assert not re.search(r"<[!@#]", chunk), chunk[:200]
            assert not re.search(r"@(channel|here|everyone)", chunk, re.IGNORECASE)
    else:
        assert "Bcc:" not in out.subject.split(":", 1)[0]
        if out.html:
            assert "<script>" not in out.html and "<!channel>" not in out.html
            assert "&lt;script&gt;" in out.html


def test_hostile_display_name_cannot_break_the_line() -> None:
    out = renderer.render("welcome", "discord", {"name": HOSTILE_NAME, "community": "Example"})
    first = out.text.split("\n")[0]
    assert first.startswith("Welcome to Example, ＠everyone \\<@&123456789012345678\\>")
    assert "Bcc:" in first  # the CR/LF became a space: still on the greeting line
    mail = renderer.render(
        "approval_request", "mail", {**REQUIRED["approval_request"], "member": HOSTILE_NAME}
    )
    assert mail.subject is not None and "\n" not in mail.subject and "\r" not in mail.subject


def test_slack_block_kit_carries_buttons() -> None:
    out = renderer.render("invite", "slack", {**REQUIRED["invite"], "buttons": BUTTONS})
    assert out.blocks[0]["type"] == "section"
    actions = out.blocks[-1]
    assert actions["type"] == "actions"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("accept", "tok-123"),
        ("decline", "tok-123"),
    ]
    assert actions["elements"][0]["style"] == "primary" and "style" not in actions["elements"][1]
    assert actions["elements"][0]["text"] == {"type": "plain_text", "text": "Yes, count me in", "emoji": True}


def test_slack_blocks_split_long_text_and_bound_labels() -> None:
    text = "\n\n".join("p" * 2500 for _ in range(80))
    blocks = slack_blocks(text, (Button("solved", "t", "x" * 200),))
    assert len(blocks) == escaping.SLACK_MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks[:-1])
    assert len(blocks[-1]["elements"][0]["text"]["text"]) <= escaping.SLACK_BUTTON_LABEL_LIMIT


class _Tagged(str):
    """A str subclass, as Markup is: what reaches the outbox's JSON must be plain str."""

    __slots__ = ()


def _plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (str, bool)


def test_slack_blocks_are_plain_json_values() -> None:
    text = _Tagged("one paragraph")
    blocks = slack_blocks(text, (Button(_Tagged("solved"), _Tagged("t"), _Tagged("")),))
    assert all(type(b) is dict and _plain(b) for b in blocks)
    assert blocks[-1]["elements"][0]["text"]["text"] == "solved"


def test_mail_parts_escape_and_link() -> None:
    out = renderer.render(
        "invite",
        "mail",
        {
            **REQUIRED["invite"],
            "name": "<b>Ana</b>",
            "buttons": BUTTONS,
            "unsubscribe_url": "https://bot.example/unsubscribe/a?b=1&c=2",
        },
    )
    assert out.html is not None
    assert "&lt;b&gt;Ana&lt;/b&gt;" in out.html
    assert 'href="https://bot.example/unsubscribe/a?b=1&amp;c=2"' in out.html
    assert 'href="https://bot.example/invitation/t1/accept"' in out.html
    assert "Hello <b>Ana</b>," in out.text  # plain text needs no escaping
    assert "Yes, count me in: https://bot.example/invitation/t1/accept" in out.text
    assert "Unsubscribe: https://bot.example/unsubscribe/a?b=1&c=2" in out.text
    assert out.subject == "You are invited: Bag-a-Bug"


def test_member_text_is_never_evaluated_as_a_template() -> None:
    out = renderer.render("notice", "discord", {"body": "{{ 7*7 }} {% raw %} ${7*7} {0.__class__}"})
    assert "49" not in out.text and "{{ 7\\*7 }}" in out.text


def test_urls_must_be_plain_links() -> None:
    with pytest.raises(TemplateFailure, match="unsubscribe_url"):
        renderer.render("welcome", "mail", {**REQUIRED["welcome"], "unsubscribe_url": "javascript:alert(1)"})
    with pytest.raises(TemplateFailure, match="button accept"):
        renderer.render(
            "invite", "mail", {**REQUIRED["invite"], "buttons": (Button("accept", "t", "x", url="x y"),)}
        )


def test_missing_value_and_unknown_template_fail_clearly() -> None:
    with pytest.raises(TemplateFailure, match="programme_title"):
        renderer.render("invite", "discord", {"name": "Ana", "benefit": "b", "why": "w"})
    with pytest.raises(TemplateFailure, match=r"no template nosuch\.discord\.j2"):
        renderer.render("nosuch", "discord", {})
    with pytest.raises(TemplateFailure, match="unknown platform"):
        renderer.render("welcome", "irc", REQUIRED["welcome"])
    with pytest.raises(TemplateFailure, match="bad template name"):
        renderer.render("../en/welcome", "discord", REQUIRED["welcome"])


@pytest.fixture
def locale_dir(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(DEFAULT_LOCALE_DIR / "en", root / "en")
    (root / "de").mkdir()
    (root / "de" / "welcome.discord.j2").write_text("Willkommen bei {{ community }}, {{ name | name }}!\n")
    (root / "de" / "welcome.mail.txt.j2").write_text(
        "Hallo {{ name | name }}\n{% include '_footer.mail.txt.j2' %}\n"
    )
    (root / "de" / "_footer.mail.txt.j2").write_text("-- Abmelden: {{ unsubscribe_url }}\n")
    (root / "de_AT").mkdir()
    (root / "de_AT" / "welcome.slack.j2").write_text("Servus {{ name | name }}!\n")
    return root


def test_locale_falls_back_file_by_file(locale_dir: Path) -> None:
    r = Renderer(locale_dir=locale_dir)
    ctx = {**REQUIRED["welcome"], "unsubscribe_url": "https://bot.example/u/1"}
    assert r.render("welcome", "discord", ctx, locale="de").text == "Willkommen bei Example, Ana!"
    assert r.render("welcome", "discord", ctx, locale="de-at").text == "Willkommen bei Example, Ana!"
    assert r.render("welcome", "slack", ctx, locale="de-AT").text == "Servus Ana!"
    assert r.render("welcome", "slack", ctx, locale="de").text.startswith(":wave: Welcome")
    mail = r.render("welcome", "mail", ctx, locale="de_AT")
    assert mail.text == "Hallo Ana\n-- Abmelden: https://bot.example/u/1"  # include resolved in de
    assert mail.subject == "Welcome to Example"  # no German subject: English
    assert mail.html is not None and "welcome to Example" in mail.html
    assert r.render("invite", "discord", REQUIRED["invite"], locale="de").text.startswith("Hi Ana!")
    for hostile in ("../../etc", "", None, "x" * 40, "de/../en"):
        assert r.render("welcome", "discord", ctx, locale=hostile).text.startswith("Welcome to Example")


def test_locale_chain() -> None:
    assert locale_chain("pt-br", "en") == ("pt_BR", "pt", "en")
    assert locale_chain("EN", "en") == ("en",)
    assert locale_chain("../x", "en") == ("en",)


@pytest.mark.parametrize(
    "source",
    [
        "{{ name.__class__.__mro__ }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ '{0.__class__.__init__.__globals__}'.format(name) }}",
        "{% set x = programmes.append(1) %}{{ x }}",
    ],
)
def test_sandbox_blocks_internals(tmp_path: Path, source: str) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "evil.discord.j2").write_text(source)
    r = Renderer(locale_dir=tmp_path)
    with pytest.raises(TemplateFailure):
        r.render("evil", "discord", {"name": "Ana", "programmes": []})


def test_locale_dir_must_hold_the_default(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        Renderer(locale_dir=tmp_path)


def test_globals_reach_templates_and_parts_do_not_share_assignments(tmp_path: Path) -> None:
    """Render merges Jinja's globals into the values once for all of a mail's parts: a global
    still works, and a part's ``{% set %}`` does not reach the next part."""
    folder = tmp_path / "en"
    folder.mkdir()
    (folder / "probe.discord.j2").write_text("{% for i in range(3) %}{{ i }}{% endfor %} {{ name }}")
    (folder / "probe.subject.j2").write_text("{% set name = 'changed' %}Hi {{ name }}")
    (folder / "probe.mail.txt.j2").write_text("Hello {{ name }} {{ range(2) | list | length }}")
    (folder / "probe.mail.html.j2").write_text("<p>{{ name }}</p>")
    own = Renderer(locale_dir=tmp_path)
    assert own.render("probe", "discord", {"name": "Ana"}).text == "012 Ana"
    out = own.render("probe", "mail", {"name": "Ana"})
    assert (out.subject, out.text, out.html) == ("Hi changed", "Hello Ana 2", "<p>Ana</p>")
