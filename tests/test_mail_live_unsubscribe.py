"""The List-Unsubscribe link a programme mail carries opts the member out with one cookieless POST.

End to end: the row's signed header (``LinkSigner.unsubscribe_headers``) goes through the mail
adapter to a real SMTP server; the link read back from the delivered mail is POSTed the way a
mail provider does it (RFC 8058: no cookies, body ``List-Unsubscribe=One-Click``) to the bot's
web server, which records the opt-out.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from fakes.mail_samples import invitation, settings
from fakes.mail_servers import SmtpHandler, smtp_server
from sqlalchemy import insert, select

from adapters.mail.adapter import MailAdapter
from bot.core.clock import FrozenClock
from bot.links import LinkSigner
from bot.metrics import Metrics
from bot.store import Store
from bot.store.live_models import Consent
from bot.store.models import Member
from bot.web import WebDeps, WebServer, build_app

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = b"mail-test-secret-of-enough-length"


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpHandler, int]]:
    with smtp_server() as server:
        yield server


async def _cursor_get(key: str) -> tuple[int, int] | None:
    return None


async def _cursor_set(key: str, uidvalidity: int, last_uid: int) -> None:
    return None


async def test_the_unsubscribe_header_posted_without_cookies_opts_the_member_out(
    store: Store, smtp: tuple[SmtpHandler, int]
) -> None:
    handler, port = smtp
    async with store.connection() as conn:
        member_id = int(
            (
                await conn.execute(
                    insert(Member).values(display_name="Ada", created_at=T0).returning(Member.id)
                )
            ).scalar_one()
        )
    signer = LinkSigner(secret=SECRET, base_url="https://bot.example.org")
    headers = signer.unsubscribe_headers(
        member_id, scope="programme:mentoring", expires_at=T0 + timedelta(days=90)
    )
    adapter = MailAdapter(settings(smtp_port=port), cursor_get=_cursor_get, cursor_set=_cursor_set)
    try:
        await adapter.send(invitation(headers=headers))
    finally:
        await adapter.stop()

    delivered = email.message_from_bytes(handler.messages[0].data)
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", re.sub(r"\s+", " ", delivered["List-Unsubscribe"]))
    (https,) = [link for link in links if link.startswith("https://")]
    assert any(link.startswith("mailto:") for link in links)

    deps = WebDeps(store=store, clock=FrozenClock(T0), signer=signer, metrics=Metrics())
    async with (
        WebServer(build_app(deps), host="127.0.0.1", port=0) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        path = https.removeprefix(signer.base_url)
        async with http.post(server.url + path, data={"List-Unsubscribe": "One-Click"}) as resp:
            assert resp.status == 200

    async with store.connection() as conn:
        rows = [tuple(r) for r in await conn.execute(select(Consent.member_id, Consent.scope, Consent.state))]
    assert rows == [(member_id, "programme:mentoring", "out")]
