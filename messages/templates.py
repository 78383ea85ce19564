"""Rendering what the bot says, per platform and locale, from sandboxed Jinja2 template files.

Templates live in ``messages/templates/<locale>/`` as one file per template and part:
``invite.discord.j2``, ``invite.slack.j2`` (mrkdwn; the Block Kit blocks are built here from
it and the buttons), ``invite.mail.txt.j2``, ``invite.mail.html.j2`` and ``invite.subject.j2``.
A translation drops a folder beside ``en``; each file missing there falls back to the region's
language (``pt_BR`` -> ``pt``) and then to the default locale, file by file.

Every ``{{ value }}`` is escaped for its platform by the environment's ``finalize`` hook (see
``messages.escaping``); only ``Markup`` built by our own code passes unchanged, and context
keys ending in ``_url`` must be plain http(s) links. Templates run in Jinja2's immutable
sandbox, so a template file cannot reach Python internals either.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateNotFound
from jinja2.environment import Environment
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from bot.core.errors import ConfigurationError
from bot.core.outbound import Button
from messages import escaping
from messages.slack_blocks import slack_blocks

log = logging.getLogger(__name__)

PLATFORMS = ("discord", "slack", "mail")
DEFAULT_LOCALE_DIR = Path(__file__).resolve().parent / "templates"

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_LOCALE = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))?\Z")


class TemplateFailure(ConfigurationError):
    """A template is missing, does not parse, needs a value it was not given, or broke the sandbox."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message rendered for one platform: what goes into the outbox row's body."""

    text: str  # Discord markdown, Slack mrkdwn (the notification fallback), or the mail's text part
    subject: str | None = None  # e-mail only
    html: str | None = None  # e-mail only
    blocks: tuple[Mapping[str, Any], ...] = ()  # Slack Block Kit


class Multiline(str):
    """Member text whose line breaks should survive escaping (the ``multiline`` filter makes it)."""

    __slots__ = ()


class _Link(str):
    """An http(s) URL our own code built (a context key ending in ``_url``)."""

    __slots__ = ()


# -- escaping per flavour ------------------------------------------------------------------

Escaper = Callable[..., str]


def _link_discord(url: str) -> str:
    return url


def _link_slack(url: str) -> str:
    return "<" + url.replace("&", "&amp;") + ">"


def _link_html(url: str) -> Markup:
    return Markup.escape(url)


@dataclass(frozen=True, slots=True)
class _Flavour:
    """How one kind of output escapes values, links and quotes."""

    name: str
    escape: Escaper
    link: Callable[[str], str]
    quote_prefix: str
    html: bool = False

    def finalize(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return value if self.html else str(value)
        if isinstance(value, _Link):
            return self.link(str(value))
        text = str(value)
        remembered = _escaped if len(text) <= _REMEMBER_CHARS else _escaped.__wrapped__
        return remembered(self.name, text, isinstance(value, Multiline))

    def quote(self, value: Any) -> Markup:
        """Member text shown as a quotation, each line escaped and prefixed."""
        if self.html:
            body = escaping.html(str(value), multiline=True)
            return Markup("<blockquote>") + body + Markup("</blockquote>")
        lines = escaping.clean(str(value), multiline=True).split("\n")
        # Each line went through the platform's escaper just above: safe by construction.
        return Markup("\n".join(self.quote_prefix + self.escape(line) for line in lines))  # noqa: S704


def _subject_escape(text: str, *, multiline: bool = False) -> str:
    return escaping.single_line(text)


_FLAVOURS = {
    "discord": _Flavour("discord", escaping.discord, _link_discord, "> "),
    "slack": _Flavour("slack", escaping.slack, _link_slack, "> "),
    "mail_text": _Flavour("mail_text", escaping.mail_text, str, "> "),
    "mail_html": _Flavour("mail_html", escaping.html, _link_html, "", html=True),
    "subject": _Flavour("subject", _subject_escape, str, ""),
}


#: Texts longer than this are worked out each time, not remembered: the caches below hold
#: 4,096 entries each, and a member's quoted question or mail body could be tens of kB.
_REMEMBER_CHARS = 512


@functools.lru_cache(maxsize=4096)
def _escaped(flavour: str, text: str, multiline: bool) -> str:
    """The flavour's escaper, remembered: the community, titles, benefits and reasons repeat
    in every message of a batch, and escaping walks the text character by character."""
    escape = _FLAVOURS[flavour].escape
    return escape(text, multiline=True) if multiline else escape(text)


# -- filters (applied to raw values, before finalize escapes them) --------------------------


def _shorten(value: Any, limit: int = 200) -> str:
    multiline = isinstance(value, Multiline)
    text = str(value)
    remembered = _short if len(text) <= _REMEMBER_CHARS else _short.__wrapped__
    short = remembered(text, limit, multiline)
    return Multiline(short) if multiline else short


@functools.lru_cache(maxsize=4096, typed=True)
def _short(text: str, limit: int, multiline: bool) -> str:
    """The ``shorten`` filter on plain text, remembered: titles, benefits and reasons repeat in
    every message of a batch, and cleaning walks the text when it is not plain ASCII."""
    return escaping.shorten(escaping.clean(text, multiline=multiline), limit)


def _multiline(value: Any) -> Multiline:
    return Multiline(str(value))


def _name(value: Any, limit: int = escaping.NAME_LIMIT) -> str:
    text = str(value)
    remembered = _display_name if len(text) <= _REMEMBER_CHARS else _display_name.__wrapped__
    return remembered(text, limit)


@functools.lru_cache(maxsize=4096, typed=True)
def _display_name(text: str, limit: int) -> str:
    """The ``name`` filter, remembered: a name appears in several parts of one message (and a
    helper's in several lines of a solution check)."""
    return escaping.display_name(text, limit=limit)


# -- locale resolution ---------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def locale_chain(locale: str | None, default: str) -> tuple[str, ...]:
    """Folders to try for ``locale``, most specific first: ``pt-br`` -> (pt_BR, pt, <default>).

    Anything that does not look like a locale tag ("../x", "") falls back to the default.
    """
    chain: list[str] = []
    match = _LOCALE.match(locale or "")
    if match:
        lang, region = match.group(1).lower(), match.group(2)
        if region:
            chain.append(f"{lang}_{region.upper() if len(region) == 2 else region}")
        chain.append(lang)
    if default not in chain:
        chain.append(default)
    return tuple(chain)


class _LocaleLoader(BaseLoader):
    """Loads ``<locale>/<file>``, falling back along the locale chain file by file."""

    def __init__(self, root: Path, default: str) -> None:
        self._files = FileSystemLoader(str(root))
        self._default = default

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool]]:
        locale, _, file = template.partition("/")
        for candidate in locale_chain(locale, self._default):
            try:
                return self._files.get_source(environment, f"{candidate}/{file}")
            except TemplateNotFound:
                continue
        raise TemplateNotFound(template)


#: The attributes templates read of a ``Button`` (``b.url``, ``b.label``, ``b.style``).
_BUTTON_FIELDS = frozenset(f.name for f in fields(Button))


class _Environment(ImmutableSandboxedEnvironment):
    def join_path(self, template: str, parent: str) -> str:
        # {% extends %} / {% include %} name a file; it resolves in the including file's locale.
        return parent.partition("/")[0] + "/" + template

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A field of our own frozen Button (str or None) is what the sandbox's checks would
        # hand back anyway; they cost more than the rest of a mail's button loop.
        if type(obj) is Button and attribute in _BUTTON_FIELDS:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)


def _environment(loader: BaseLoader, flavour: _Flavour) -> _Environment:
    env = _Environment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=flavour.html,
        finalize=flavour.finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        # Every template file, parsed once and kept in a plain dict (they never change while
        # the process runs): the default LRU takes a lock and reorders on every lookup.
        cache_size=-1,
    )
    env.filters.update(shorten=_shorten, multiline=_multiline, name=_name, quote=flavour.quote)
    return env


# -- the renderer --------------------------------------------------------------------------


class Renderer:
    """Renders named templates for a platform and locale; one per process, thread-safe after init."""

    def __init__(self, *, locale_dir: Path | None = None, default_locale: str = "en") -> None:
        self._root = locale_dir or DEFAULT_LOCALE_DIR
        if not (self._root / default_locale).is_dir():
            raise ConfigurationError(f"template folder {self._root / default_locale} does not exist")
        self._default = default_locale
        loader = _LocaleLoader(self._root, default_locale)
        self._envs = {key: _environment(loader, flavour) for key, flavour in _FLAVOURS.items()}
        #: What every template sees besides the context (Jinja's defaults: range, dict, ...),
        #: the same in every flavour's environment.
        self._globals = dict(self._envs["discord"].globals)
        #: Loaded templates by (flavour, path): the files never change while the process runs.
        self._templates: dict[tuple[str, str], Template] = {}

    def render(
        self, name: str, platform: str, context: Mapping[str, Any], *, locale: str | None = None
    ) -> Rendered:
        """``name`` rendered for ``platform`` in ``locale`` (else the default), within the platform's limits.

        Context values are escaped for the platform; ``buttons`` (a sequence of ``Button``) become
        Slack actions and e-mail links. Raises ``TemplateFailure`` with the file and the reason.
        """
        if not _NAME.match(name):
            raise TemplateFailure(f"bad template name {name!r}")
        if platform not in PLATFORMS:
            raise TemplateFailure(f"unknown platform {platform!r} (one of {', '.join(PLATFORMS)})")
        loc = locale_chain(locale, self._default)[0]
        values = {**self._globals, **_prepare(context, platform=platform, locale=loc)}
        if platform == "discord":
            text = self._part("discord", f"{loc}/{name}.discord.j2", values)
            return Rendered(text=escaping.shorten(text, escaping.DISCORD_MESSAGE_LIMIT))
        if platform == "slack":
            text = self._part("slack", f"{loc}/{name}.slack.j2", values)
            buttons: Sequence[Button] = values.get("buttons", ())
            return Rendered(
                text=escaping.shorten(text, escaping.SLACK_TEXT_LIMIT), blocks=slack_blocks(text, buttons)
            )
        subject = escaping.header(self._part("subject", f"{loc}/{name}.subject.j2", values))
        text = self._part("mail_text", f"{loc}/{name}.mail.txt.j2", values)
        html = self._part("mail_html", f"{loc}/{name}.mail.html.j2", values, optional=True)
        return Rendered(text=text, subject=subject, html=html)

    def names(self) -> list[str]:
        """Template names available in the default locale (what ``render`` accepts)."""
        folder = self._root / self._default
        return sorted({p.name.split(".", 1)[0] for p in folder.glob("*.j2") if not p.name.startswith("_")})

    def _part(self, flavour: str, path: str, values: dict[str, Any], *, optional: bool = False) -> str:
        env = self._envs[flavour]
        template = self._templates.get((flavour, path))
        if template is None:
            try:
                template = env.get_template(path)
            except TemplateNotFound:
                if optional:
                    return ""
                raise TemplateFailure(f"no template {path.partition('/')[2]} under {self._root}") from None
            except TemplateError as exc:
                raise TemplateFailure(f"template {path}: {exc}") from exc
            self._templates[(flavour, path)] = template
        try:
            # Template.render without its two copies of the values: ``values`` already holds
            # the environment's globals (``render`` merged them once for all parts).
            context = template.new_context(values, shared=True)
            try:
                out: str = env.concat(template.root_render_func(context))
            except Exception:
                env.handle_exception()
        except TemplateError as exc:
            raise TemplateFailure(f"template {path}: {exc.__class__.__name__}: {exc}") from exc
        return _tidy(out)


def _prepare(context: Mapping[str, Any], *, platform: str, locale: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in context.items():
        if key.endswith("_url") and isinstance(value, str) and not isinstance(value, Markup):
            try:
                value = _Link(escaping.checked_url(value))
            except ValueError as exc:
                raise TemplateFailure(f"context {key}: {exc}") from None
        values[key] = value
    buttons = tuple(context.get("buttons", ()))
    for button in buttons:
        if not isinstance(button, Button):
            raise TemplateFailure(f"context buttons: {button!r} is not a Button")
        if button.url is not None:
            try:
                escaping.checked_url(button.url)
            except ValueError as exc:
                raise TemplateFailure(f"button {button.action}: {exc}") from None
    values["buttons"] = buttons
    values["platform"] = platform
    values["locale"] = locale
    return values


_BLANKS = re.compile(r"\n{3,}")
#: White space other than a line feed at the end of a line (what ``str.rstrip`` would take off).
_TRAILING = re.compile(r"[^\S\n]\n")
#: The same for ASCII text, as plain substrings: a few C-speed searches instead of the regular
#: expression's per-character class test, which cost more than the rest of a short part's tidying.
_ASCII_TRAILING = tuple(c + "\n" for c in map(chr, range(128)) if c.isspace() and c != "\n")


def _tidy(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row, no blank start or end."""
    if text.isascii():
        trailing = any(end in text for end in _ASCII_TRAILING)
    else:
        trailing = _TRAILING.search(text) is not None
    if trailing:  # most rendered parts have none: a scan instead of a split
        text = "\n".join([line.rstrip() for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _BLANKS.sub("\n\n", text)
    return text.strip()
