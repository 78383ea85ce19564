"""Signed link tokens: round trip, expiry, forgery, kinds, and the URL builders."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import BadArgument, ConfigurationError
from bot.links import (
    INVITATION,
    UNSUBSCRIBE,
    LinkExpired,
    LinkForged,
    LinkInvalid,
    LinkSigner,
    parse_unsubscribe_value,
    sign,
    unsubscribe_value,
    verify,
)

SECRET = b"s3cret-s3cret-s3cret-s3cret"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


def test_round_trip_and_url_safe() -> None:
    token = sign(INVITATION, "tok|with|bars é", expires_at=LATER, secret=SECRET)
    assert all(c.isalnum() or c in "-_." for c in token)
    assert verify(token, now=NOW, secret=SECRET) == (INVITATION, "tok|with|bars é")
    assert verify(token, now=NOW, secret=SECRET.decode(), kind=INVITATION) == (INVITATION, "tok|with|bars é")


def test_expired_is_refused_with_the_date() -> None:
    token = sign(UNSUBSCRIBE, "1:all", expires_at=LATER, secret=SECRET)
    with pytest.raises(LinkExpired, match="expired on 2026-12-20"):
        verify(token, now=LATER, secret=SECRET)
    assert issubclass(LinkExpired, BadArgument)


def test_altered_payload_or_other_secret_is_forged() -> None:
    token = sign(UNSUBSCRIBE, "1:all", expires_at=LATER, secret=SECRET)
    body, mac = token.split(".")
    other = (
        base64.urlsafe_b64encode(f"unsubscribe|{int(LATER.timestamp())}|2:all".encode()).rstrip(b"=").decode()
    )
    with pytest.raises(LinkForged, match="not valid"):
        verify(f"{other}.{mac}", now=NOW, secret=SECRET)
    with pytest.raises(LinkForged):
        verify(token, now=NOW, secret=b"another-secret-of-enough-length")
    # Pushing the expiry is an alteration too.
    later = base64.urlsafe_b64encode(f"unsubscribe|{int(LATER.timestamp()) + 10**6}|1:all".encode()).decode()
    with pytest.raises(LinkForged):
        verify(f"{later.rstrip('=')}.{mac}", now=NOW, secret=SECRET)
    assert body != other


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "!!!.???", "a" * 5000 + ".b"])
def test_malformed_is_invalid(token: str) -> None:
    with pytest.raises(LinkInvalid):
        verify(token, now=NOW, secret=SECRET)


def test_wrong_kind_is_invalid() -> None:
    token = sign(INVITATION, "t", expires_at=LATER, secret=SECRET)
    with pytest.raises(LinkInvalid, match="not a unsubscribe link"):
        verify(token, now=NOW, secret=SECRET, kind=UNSUBSCRIBE)


def test_short_secret_and_naive_expiry_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        sign(INVITATION, "t", expires_at=LATER, secret="short")
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(INVITATION, "t", expires_at=LATER.replace(tzinfo=None), secret=SECRET)
    with pytest.raises(ConfigurationError):
        LinkSigner(secret=SECRET, base_url="ftp://x")


def test_unsubscribe_values() -> None:
    assert parse_unsubscribe_value(unsubscribe_value(42, "programme:bag-a-bug")) == (
        42,
        "programme:bag-a-bug",
    )
    with pytest.raises(ValueError, match="scope"):
        unsubscribe_value(1, "everything")
    with pytest.raises(LinkInvalid):
        parse_unsubscribe_value("x:all")


def test_url_builders() -> None:
    signer = LinkSigner(secret=SECRET, base_url="https://bot.example/")
    url = signer.unsubscribe_url(7, scope="digest", expires_at=LATER)
    assert url.startswith("https://bot.example/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    assert signer.verify(token, now=NOW, kind=UNSUBSCRIBE) == (UNSUBSCRIBE, "7:digest")
    headers = signer.unsubscribe_headers(7, expires_at=LATER)
    assert list(headers) == ["List-Unsubscribe"]
    assert headers["List-Unsubscribe"].startswith("<https://bot.example/unsubscribe/")
    accept = signer.invitation_url("inv-token", "accept", expires_at=LATER)
    assert accept.endswith("/accept") and "/invitation/" in accept
    assert signer.verify(accept.split("/")[-2], now=NOW, kind=INVITATION) == (INVITATION, "inv-token")
    assert signer.solution_url("chk", "not-solved", expires_at=LATER).endswith("/not-solved")
    assert signer.button_url("decline", "inv-token", LATER) == signer.invitation_url(
        "inv-token", "decline", expires_at=LATER
    )
    assert signer.button_url("solved", "chk", LATER) == signer.solution_url("chk", "solved", expires_at=LATER)
    assert signer.button_url("other", "x", LATER) is None
    with pytest.raises(ValueError, match="action"):
        signer.invitation_url("t", "maybe", expires_at=LATER)
