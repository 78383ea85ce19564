"""The mail adapter's configuration (the ``[mail]`` table of cohortbot.toml), validated once at start-up.

Passwords never sit in the file: the settings name the environment variables that hold
them, and :meth:`MailSettings.imap_password` / :meth:`MailSettings.smtp_password` read them
when the adapter connects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.core.errors import ConfigurationError

#: "none": plain TCP (a local relay or a test server); "starttls": upgrade after EHLO;
#: "implicit": TLS from the first byte (SMTPS 465, IMAPS 993).
TlsMode = Literal["none", "starttls", "implicit"]

#: The members' self-service commands that may open a mail's subject or first line.
DEFAULT_COMMANDS = (
    "optout", "optin", "whyme", "mydata", "forgetme", "programmes", "help", "confirm", "admin",
)


class MailSettings(BaseModel):
    """Everything the mail adapter needs; see docs/mail.md for each field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- reading (IMAP) ---
    imap_host: str
    imap_port: int = 993
    imap_tls: Literal["none", "implicit"] = "implicit"  # aioimaplib cannot STARTTLS
    imap_user: str
    imap_password_env: str = "COHORTBOT_IMAP_PASSWORD"  # noqa: S105 (a variable name)
    #: Folders to read: the list subscriptions and the bot's own inbox (often both are INBOX).
    mailboxes: tuple[str, ...] = ("INBOX",)
    #: The folder where the bot's SMTP server (or an IMAP APPEND) keeps sent mail; used by
    #: ``reconcile`` to find a message sent just before a crash. None: reconcile says "resend".
    sent_mailbox: str | None = None
    #: Seconds between polls when the server has no IDLE, and the IDLE refresh interval.
    poll_seconds: float = Field(default=60.0, gt=0)
    idle_seconds: float = Field(default=25 * 60.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)

    # --- sending (SMTP) ---
    smtp_host: str
    smtp_port: int = 587
    smtp_tls: TlsMode = "starttls"
    smtp_user: str | None = None
    smtp_password_env: str = "COHORTBOT_SMTP_PASSWORD"  # noqa: S105 (a variable name)
    #: Close an idle SMTP connection after this many seconds (servers drop them after ~5 min).
    smtp_idle_close_seconds: float = Field(default=120.0, gt=0)

    # --- identity ---
    bot_address: str
    bot_name: str = "Community bot"
    #: The List-Id our own bulk mail carries (``<cohortbot.example.org>``); mail that comes back
    #: with it is ours and never answered.
    list_id: str
    unsubscribe_url: str  # https base; the member's signed token is appended
    unsubscribe_mailto: str | None = None  # e.g. unsubscribe@example.org
    #: The Message-ID domain; defaults to the bot address's domain.
    message_id_domain: str | None = None

    # --- DKIM (optional; most relays sign for you) ---
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key_path: Path | None = None

    # --- commands and loops ---
    max_auto_replies_per_day: int = Field(default=5, ge=0)
    #: Add ``[inv:TOKEN]`` / ``[chk:TOKEN]`` / ``[cfm:TOKEN]`` to the subject of mail with buttons,
    #: so a reply from a client that drops References still finds its invitation or check.
    subject_tags: bool = True
    commands: tuple[str, ...] = DEFAULT_COMMANDS

    @field_validator("bot_address", "unsubscribe_mailto")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if "@" not in value or any(c in value for c in " \r\n<>"):
            raise ValueError(f"not a plain e-mail address: {value!r}")
        return value

    @field_validator("list_id")
    @classmethod
    def _list_id(cls, value: str) -> str:
        value = value.strip().strip("<>").lower()
        if not value or any(c in value for c in " \r\n<>@"):
            raise ValueError(f"List-Id must look like name.example.org, got {value!r}")
        return value

    @field_validator("unsubscribe_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or any(c in value for c in " \r\n<>"):
            raise ValueError(f"unsubscribe_url must be an http(s) URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _dkim_all_or_nothing(self) -> MailSettings:
        parts = (self.dkim_selector, self.dkim_domain, self.dkim_key_path)
        if any(p is not None for p in parts) and not all(p is not None for p in parts):
            raise ValueError("DKIM needs dkim_selector, dkim_domain and dkim_key_path together")
        return self

    @property
    def domain(self) -> str:
        """The domain our Message-IDs and token anchors use."""
        return self.message_id_domain or self.bot_address.rpartition("@")[2]

    @property
    def dkim_enabled(self) -> bool:
        return self.dkim_key_path is not None

    def imap_password(self) -> str:
        return _secret(self.imap_password_env)

    def smtp_password(self) -> str | None:
        return _secret(self.smtp_password_env) if self.smtp_user else None


def _secret(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigurationError(f"mail: environment variable {name} (a password) is not set")
    return value
