"""The weekly digest: built once per ISO week from the store, rendered for every front end."""

from messages.digest.build import build_digest, programme_names
from messages.digest.model import Digest
from messages.digest.render import (
    SlackMessage,
    render_discord,
    render_json,
    render_markdown,
    render_plain,
    render_slack,
)
from messages.digest.render_html import MailDigest, render_email, render_html
from messages.digest.settings import Destination, DigestSettings
from messages.digest.weeks import Week, last_completed_week, parse_week, week_of

__all__ = [
    "Destination",
    "Digest",
    "DigestSettings",
    "MailDigest",
    "SlackMessage",
    "Week",
    "build_digest",
    "last_completed_week",
    "parse_week",
    "programme_names",
    "render_discord",
    "render_email",
    "render_html",
    "render_json",
    "render_markdown",
    "render_plain",
    "render_slack",
    "week_of",
]
