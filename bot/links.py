"""Signed, expiring tokens for the links the bot sends: unsubscribe, accept/decline, "did it solve it?".

A token is ``base64url(kind|expiry|value) . base64url(HMAC-SHA256(secret, same))``: anyone can
read it, nobody without the secret can make or change one, and it stops working at its
expiry. Nothing is stored per link, so a link works from any process that knows the secret
(the one in the settings), and rotating the secret invalidates every outstanding link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from bot.core.errors import BadArgument, ConfigurationError

#: Shorter secrets are guessable; settings must hold a long random string.
MIN_SECRET_BYTES = 16

UNSUBSCRIBE = "unsubscribe"
INVITATION = "invitation"
SOLUTION = "solution"

_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
_SCOPE = re.compile(r"(all|digest|programme:[A-Za-z0-9_.-]{1,64})\Z")


class LinkInvalid(BadArgument):
    """The token is malformed or its signature does not match (forged or altered)."""


class LinkForged(LinkInvalid):
    """The signature does not match: the token was altered or not made with our secret."""


class LinkExpired(BadArgument):
    """The token is genuine but past its expiry."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"the link secret must be at least {MIN_SECRET_BYTES} bytes long")
    return key


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def sign(kind: str, value: str, *, expires_at: datetime, secret: str | bytes) -> str:
    """A URL-safe token saying ``(kind, value)`` until ``expires_at`` (timezone-aware)."""
    if not _KIND.match(kind):
        raise ValueError(f"bad link kind {kind!r}")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = f"{kind}|{int(expires_at.timestamp())}|{value}".encode()
    return _b64(payload) + "." + _b64(_mac(_key(secret), payload))


def verify(token: str, *, now: datetime, secret: str | bytes, kind: str | None = None) -> tuple[str, str]:
    """``(kind, value)`` of a genuine, unexpired token (of ``kind`` when given).

    Raises ``LinkInvalid`` for anything malformed or of another kind (``LinkForged`` when the
    signature does not match), and
    ``LinkExpired`` for a genuine token past its expiry; both are ``BadArgument``.
    The signature is compared in constant time before anything in the payload is trusted.
    """
    key = _key(secret)
    body, dot, mac = token.partition(".")
    if not dot or len(token) > 4096:
        raise LinkInvalid("this link is incomplete or damaged")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        raise LinkInvalid("this link is incomplete or damaged") from None
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise LinkForged("this link is not valid (it was changed or not made by us)")
    try:
        got_kind, expiry, value = payload.decode().split("|", 2)
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise LinkInvalid("this link is incomplete or damaged") from None
    if kind is not None and got_kind != kind:
        raise LinkInvalid(f"this is not a {kind} link")
    if now >= expires_at:
        raise LinkExpired(f"this link expired on {expires_at:%Y-%m-%d %H:%M} UTC")
    return got_kind, value


def unsubscribe_value(member_id: int, scope: str = "all") -> str:
    if not _SCOPE.match(scope):
        raise ValueError(f"bad consent scope {scope!r}")
    return f"{member_id}:{scope}"


def parse_unsubscribe_value(value: str) -> tuple[int, str]:
    """``(member_id, scope)`` from an unsubscribe token's value."""
    member, _, scope = value.partition(":")
    if not member.isdigit() or not _SCOPE.match(scope):
        raise LinkInvalid("this unsubscribe link is damaged")
    return int(member), scope


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """The secret and the public address, bound once by the composition root and injected."""

    secret: bytes
    base_url: str

    def __post_init__(self) -> None:
        _key(self.secret)
        if not re.match(r"https?://[^\s/]+", self.base_url):
            raise ConfigurationError(f"the public URL {self.base_url!r} must start with http:// or https://")

    def sign(self, kind: str, value: str, *, expires_at: datetime) -> str:
        return sign(kind, value, expires_at=expires_at, secret=self.secret)

    def verify(self, token: str, *, now: datetime, kind: str | None = None) -> tuple[str, str]:
        return verify(token, now=now, secret=self.secret, kind=kind)

    def _url(self, *parts: str) -> str:
        return self.base_url.rstrip("/") + "/" + "/".join(quote(p, safe="") for p in parts)

    def unsubscribe_url(self, member_id: int, *, scope: str = "all", expires_at: datetime) -> str:
        token = self.sign(UNSUBSCRIBE, unsubscribe_value(member_id, scope), expires_at=expires_at)
        return self._url("unsubscribe", token)

    def unsubscribe_headers(
        self, member_id: int, *, scope: str = "all", expires_at: datetime
    ) -> dict[str, str]:
        """The RFC 2369 ``List-Unsubscribe`` header for an outbox row; the mail adapter adds the
        RFC 8058 ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` beside it."""
        url = self.unsubscribe_url(member_id, scope=scope, expires_at=expires_at)
        return {"List-Unsubscribe": f"<{url}>"}

    def invitation_url(self, invitation_token: str, action: str, *, expires_at: datetime) -> str:
        """The accept or decline link for an invitation (``Invitation.token``)."""
        if action not in ("accept", "decline"):
            raise ValueError(f"bad invitation action {action!r}")
        return self._url("invitation", self.sign(INVITATION, invitation_token, expires_at=expires_at), action)

    def button_url(self, action: str, token: str, expires_at: datetime) -> str | None:
        """The link that does what a button does (e-mail has no buttons): the planner's and the
        hero loop's ``LinkMaker``. None for an action no web route takes."""
        if action in ("accept", "decline"):
            return self.invitation_url(token, action, expires_at=expires_at)
        if action in ("solved", "not-solved"):
            return self.solution_url(token, action, expires_at=expires_at)
        return None

    def solution_url(self, check_token: str, answer: str, *, expires_at: datetime) -> str:
        """The "solved" or "not-solved" link of a solution check (``SolutionCheck.token``)."""
        if answer not in ("solved", "not-solved"):
            raise ValueError(f"bad solution answer {answer!r}")
        return self._url("solution", self.sign(SOLUTION, check_token, expires_at=expires_at), answer)
