"""The mail adapter against real servers on 127.0.0.1: dovecot (IMAP, IDLE) and aiosmtpd (SMTP)."""

from __future__ import annotations

import asyncio
import base64
import email
import imaplib
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dkim  # type: ignore[import-untyped]
import pytest
from fakes.mail_samples import BOT, invitation, list_post, mail, settings
from fakes.mail_servers import (
    IMAP_PASSWORD,
    Captured,
    Dovecot,
    ServerUnavailable,
    SmtpHandler,
    dovecot,
    self_signed,
    smtp_server,
)

from adapters.imports.mail_parse import parse_message
from adapters.imports.mbox import discover_mbox
from adapters.mail.adapter import MailAdapter
from adapters.mail.sender import SmtpSender
from adapters.mail.settings import MailSettings
from bot.core.clock import FrozenClock
from bot.core.errors import PermanentSendError, TemporarySendError
from bot.core.events import ActionClicked, CommandInvoked, Event, MessagePosted
from bot.core.outbound import CommandReply, Recipient
from bot.store import Store
from bot.store.ingest import Ingestor

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
WAIT = 20.0  # upper bound for a server round trip; tests never sleep, they wait for an event


# --- fixtures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    port: int
    user: str
    server: Dovecot


@pytest.fixture(scope="module")
def dovecot_server() -> Iterator[Dovecot | str]:
    try:
        with dovecot() as server:
            yield server
    except ServerUnavailable as exc:
        yield str(exc)


@pytest.fixture
def imap(dovecot_server: Account | str) -> Account:
    """A fresh IMAP account (empty INBOX) on the module's dovecot."""
    if isinstance(dovecot_server, str):
        pytest.skip(f"IMAP tests need dovecot: {dovecot_server}")
    return Account(dovecot_server.port, dovecot_server.account(), dovecot_server)


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpHandler, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(autouse=True)
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_IMAP_PASSWORD", IMAP_PASSWORD)
    monkeypatch.setenv("COHORTBOT_SMTP_PASSWORD", "unused")


class Cursors:
    """The injected cursor store, in memory (the bot backs it with the ImportCursor table)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, int]] = {}

    async def get(self, key: str) -> tuple[int, int] | None:
        return self.rows.get(key)

    async def set(self, key: str, uidvalidity: int, last_uid: int) -> None:
        self.rows[key] = (uidvalidity, last_uid)


def fresh_cursors() -> dict[str, Any]:
    """The two injected callables of one new, empty cursor store."""
    cursors = Cursors()
    return {"cursor_get": cursors.get, "cursor_set": cursors.set}


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    async def __call__(self, event: Event) -> CommandReply | None:
        self.events.append(event)
        self.queue.put_nowait(event)
        return None

    async def next(self) -> Event:
        return await asyncio.wait_for(self.queue.get(), WAIT)


def imap_settings(server: Account, smtp_port: int = 25, **overrides: object) -> MailSettings:
    return settings(
        imap_host="127.0.0.1",
        imap_port=server.port,
        imap_tls="none",
        imap_user=server.user,
        smtp_port=smtp_port,
        **overrides,
    )


def append(
    server: Account, mailbox: str, *messages: bytes, create: bool = False, delete: bool = False
) -> None:
    """Deliver mail the way an MDA would, with the standard library's client (not our code)."""
    client = imaplib.IMAP4("127.0.0.1", server.port)
    try:
        client.login(server.user, IMAP_PASSWORD)
        if delete:
            client.delete(mailbox)
        if create:
            client.create(mailbox)
        for raw in messages:
            status, _ = client.append(mailbox, None, None, raw)
            assert status == "OK"
    finally:
        client.logout()


async def running(adapter: MailAdapter, sink: Sink) -> MailAdapter:
    await adapter.start(sink)
    for reader in adapter.readers.values():
        assert reader.state.ready.is_set(), server_log_hint(reader.key)
    return adapter


def server_log_hint(key: str) -> str:
    return f"reader {key} never selected its mailbox"


@pytest.fixture
async def stop_later() -> AsyncIterator[list[MailAdapter]]:
    adapters: list[MailAdapter] = []
    yield adapters
    for adapter in adapters:
        await adapter.stop()


# --- reading ------------------------------------------------------------------------------------


async def test_a_list_post_read_live_is_the_event_import_mbox_stores_once(
    imap: Account, tmp_path: Path, store: Store, stop_later: list[MailAdapter]
) -> None:
    raw = list_post()
    append(imap, "INBOX", raw)
    sink = Sink()
    adapter = MailAdapter(imap_settings(imap), **fresh_cursors())
    stop_later.append(await running(adapter, sink))
    live = await sink.next()
    assert isinstance(live, MessagePosted)

    archive = tmp_path / "dev.mbox"
    archive.write_bytes(
        b"From ada@example.com Tue Nov  3 09:00:00 2026\n" + raw.replace(b"\r\n", b"\n") + b"\n"
    )
    (source,) = discover_mbox([archive])
    imported = [e for batch in source.batches() for e in batch.events]
    assert [e.uid for e in imported] == [live.uid]

    ingestor = Ingestor(now=NOW)
    async with store.connection() as conn:
        first = await ingestor.ingest(conn, imported)
    async with store.connection() as conn:
        second = await ingestor.ingest(conn, [live])
    assert (first.stored, second.stored, second.duplicates) == (1, 0, 1)


async def test_idle_delivers_a_new_message_without_polling(
    imap: Account, stop_later: list[MailAdapter]
) -> None:
    append(imap, "INBOX", list_post("<before@example.org>"))
    sink = Sink()
    adapter = MailAdapter(imap_settings(imap, poll_seconds=3600), **fresh_cursors())
    stop_later.append(await running(adapter, sink))
    reader = adapter.readers["INBOX"]
    await asyncio.wait_for(reader.state.idling.wait(), WAIT)
    syncs_before = reader.state.syncs
    assert reader.state.uses_idle is True

    append(imap, "INBOX", list_post("<idle1@example.org>"))
    await sink.next()  # the one that was there before start
    event = await sink.next()
    assert isinstance(event, MessagePosted) and event.native_id == "idle1@example.org"
    assert reader.state.polls == 0
    assert reader.state.syncs == syncs_before + 1  # woken by the server's EXISTS, not by a timer
    assert reader.state.delivered == 2  # the cursor kept the first one from being read again


async def test_a_dropped_connection_is_noticed_during_idle_and_reading_resumes(
    imap: Account, stop_later: list[MailAdapter]
) -> None:
    sink = Sink()
    cursors = Cursors()
    adapter = MailAdapter(
        imap_settings(imap, poll_seconds=3600), cursor_get=cursors.get, cursor_set=cursors.set
    )
    stop_later.append(await running(adapter, sink))
    reader = adapter.readers["INBOX"]
    await asyncio.wait_for(reader.state.idling.wait(), WAIT)
    imap.server.kick(imap.user)
    append(imap, "INBOX", list_post("<after-kick@example.org>"))
    event = await sink.next()  # read by the new session, long before IDLE's 25-minute refresh
    assert isinstance(event, MessagePosted) and event.native_id == "after-kick@example.org"
    assert len(sink.events) == 1


async def test_without_idle_the_reader_polls(imap: Account, stop_later: list[MailAdapter]) -> None:
    sink = Sink()
    adapter = MailAdapter(
        imap_settings(imap, poll_seconds=3600),
        **fresh_cursors(),
        use_idle=False,
    )
    stop_later.append(await running(adapter, sink))
    reader = adapter.readers["INBOX"]
    assert reader.state.uses_idle is False
    append(imap, "INBOX", list_post("<poll1@example.org>"))
    reader.wake()  # the poll timer, without waiting an hour for it
    event = await sink.next()
    assert isinstance(event, MessagePosted) and event.native_id == "poll1@example.org"
    assert reader.state.polls >= 1


async def test_a_changed_uidvalidity_reads_again_without_duplicates(
    imap: Account, store: Store, stop_later: list[MailAdapter]
) -> None:
    posts = [list_post(f"<r{i}@example.org>") for i in range(3)]
    append(imap, "lists", *posts[:2], create=True)
    cursors = Cursors()
    config = imap_settings(imap, mailboxes=("lists",))
    sink = Sink()
    adapter = await running(MailAdapter(config, cursor_get=cursors.get, cursor_set=cursors.set), sink)
    first = [await sink.next(), await sink.next()]
    await adapter.stop()
    ((key, (validity, last)),) = cursors.rows.items()
    assert last == 2

    # The mailbox is recreated (a restore, a migration): new UIDVALIDITY, the old mail plus one new.
    append(imap, "lists", *posts, delete=True, create=True)
    sink2 = Sink()
    stop_later.append(
        await running(MailAdapter(config, cursor_get=cursors.get, cursor_set=cursors.set), sink2)
    )
    again = [await sink2.next() for _ in range(3)]
    new_validity, new_last = cursors.rows[key]
    assert new_validity != validity and new_last == 3
    assert [e.uid for e in again[:2]] == [e.uid for e in first]  # same ids: the store keeps them once

    ingestor = Ingestor(now=NOW)
    async with store.connection() as conn:
        await ingestor.ingest(conn, first)
    async with store.connection() as conn:
        result = await ingestor.ingest(conn, again)
    assert (result.stored, result.duplicates) == (1, 2)


async def test_commands_by_mail_are_unverified_and_capped_per_sender_per_day(
    imap: Account, stop_later: list[MailAdapter]
) -> None:
    commands = [mail(subject=f"optout topic{i}", msgid=f"<c{i}@example.org>") for i in range(5)]
    other = mail(subject="help", sender="Bob <bob@example.net>", msgid="<b1@example.net>")
    marker = list_post("<after@example.org>")
    append(imap, "INBOX", *commands, other, marker)
    sink = Sink()
    clock = FrozenClock(NOW)
    adapter = MailAdapter(imap_settings(imap), **fresh_cursors(), clock=clock)
    stop_later.append(await running(adapter, sink))
    while not (isinstance(e := await sink.next(), MessagePosted) and e.native_id == "after@example.org"):
        pass
    invoked = [e for e in sink.events if isinstance(e, CommandInvoked)]
    jane = [e for e in invoked if e.actor.external_id == "jane@example.org"]
    assert [e.args for e in jane] == [("topic0",), ("topic1",), ("topic2",)]  # max_auto_replies_per_day = 3
    assert all(e.verified is False and e.command == "optout" for e in jane)
    assert [e.command for e in invoked if e.actor.external_id == "bob@example.net"] == ["help"]


# --- sending ------------------------------------------------------------------------------------


def _dkim_key(tmp_path: Path) -> tuple[Path, bytes]:
    """A fresh RSA key and its DNS TXT record (p= is the DER public key), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a DKIM test key")
    key = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key), "2048"], check=True, capture_output=True
    )
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", value)


def _headers(data: bytes) -> email.message.Message:
    return email.message_from_bytes(data)


async def test_an_invitation_carries_the_list_headers_and_a_dkim_signature_that_verifies(
    smtp: tuple[SmtpHandler, int], tmp_path: Path
) -> None:
    handler, port = smtp
    key, record = _dkim_key(tmp_path)
    config = settings(smtp_port=port, dkim_selector="cb2026", dkim_domain="example.org", dkim_key_path=key)
    adapter = MailAdapter(config, **fresh_cursors(), clock=FrozenClock(NOW))
    message = invitation()
    try:
        receipt = await adapter.send(message)
        await adapter.send(message)  # a retry of the same row
    finally:
        await adapter.stop()

    first, retry = handler.messages
    assert first.recipients == ["ada@example.com"] and first.sender == BOT
    head = _headers(first.data)
    assert (
        head["Message-ID"] == f"<{message.idempotency_key}@example.org>" == _headers(retry.data)["Message-ID"]
    )
    assert receipt.native_id == f"{message.idempotency_key}@example.org"
    assert head["List-Id"] == "Example Community <cohortbot.example.org>"
    assert unfold(head["List-Unsubscribe"]) == (
        "<https://bot.example.org/u/signed-token-42>, <mailto:unsubscribe@example.org?subject=optout%20all>"
    )
    assert head["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert head["Auto-Submitted"] == "auto-generated"
    assert head["Precedence"] == "bulk"
    assert head["To"] == "Ada Lovelace <ada@example.com>"
    assert "cba.accept." in head["References"] and "cba.decline." in head["References"]
    body = head.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "https://bot.example.org/i/tok-accept-42" in body

    signature = head["DKIM-Signature"]
    signed = {
        h.strip().lower() for h in signature.split("h=")[1].split(";")[0].replace("\r\n", "").split(":")
    }
    assert {"list-unsubscribe", "list-unsubscribe-post", "list-id", "from", "message-id"} <= signed

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"cb2026._domainkey.example.org."
        return record

    assert dkim.verify(first.data, dnsfunc=dns)
    tampered = first.data.replace(b"signed-token-42", b"other-token-99")
    assert not dkim.verify(tampered, dnsfunc=dns)


async def test_an_answer_to_a_member_is_auto_replied_not_bulk(smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    adapter = MailAdapter(settings(smtp_port=port), **fresh_cursors())
    reply = invitation(
        dedupe_key="reply:c1",
        kind="reply",
        programme=None,
        template="command-reply",
        buttons=(),
        headers={},
        reply_to_native="c1@example.org",
        subject="Re: optout topic",
        html=None,
    )
    try:
        await adapter.send(reply)
    finally:
        await adapter.stop()
    head = _headers(handler.messages[0].data)
    assert head["Auto-Submitted"] == "auto-replied"
    assert head["In-Reply-To"] == "<c1@example.org>"
    assert head["List-Unsubscribe"] is None and head["Precedence"] is None


@pytest.mark.parametrize(
    "message",
    [
        invitation(to=Recipient(email="ada@example.com", display_name="Ada\r\nBcc: victim@example.net")),
        invitation(to=Recipient(email="ada@example.com", display_name="Ada\nX-Evil: 1")),
        invitation(subject="Hello\r\nBcc: victim@example.net"),
        invitation(headers={"List-Unsubscribe": "https://bot.example.org/u/x\r\nBcc: victim@example.net"}),
    ],
    ids=["crlf in display name", "lf in display name", "crlf in subject", "crlf in a header value"],
)
async def test_header_injection_from_member_data_is_refused(
    smtp: tuple[SmtpHandler, int], message: object
) -> None:
    handler, port = smtp
    adapter = MailAdapter(settings(smtp_port=port), **fresh_cursors())
    try:
        with pytest.raises(PermanentSendError):
            await adapter.send(message)  # type: ignore[arg-type]
    finally:
        await adapter.stop()
    assert handler.messages == []


async def test_refusals_per_recipient_4xx_temporary_5xx_permanent(smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    handler.rcpt_replies = {
        "busy@example.com": "450 4.2.1 mailbox busy",
        "gone@example.com": "550 5.1.1 no such user",
    }
    sender = SmtpSender(settings(smtp_port=port))
    try:
        results = await sender.deliver(
            BOT, ["busy@example.com", "gone@example.com", "ok@example.com"], b"Subject: x\r\n\r\nhi\r\n"
        )
        assert {r: results[r].code for r in results} == {
            "busy@example.com": 450,
            "gone@example.com": 550,
            "ok@example.com": 250,
        }
        assert isinstance(results["busy@example.com"].error(), TemporarySendError)
        assert isinstance(results["gone@example.com"].error(), PermanentSendError)
        assert results["ok@example.com"].accepted
        assert handler.messages[0].recipients == ["ok@example.com"]
    finally:
        await sender.close()

    adapter = MailAdapter(settings(smtp_port=port), **fresh_cursors())
    try:
        with pytest.raises(TemporarySendError, match="450"):
            await adapter.send(invitation(to=Recipient(email="busy@example.com")))
        with pytest.raises(PermanentSendError, match="550"):
            await adapter.send(invitation(to=Recipient(email="gone@example.com")))
        handler.data_reply = "451 4.3.0 try again later"
        with pytest.raises(TemporarySendError, match="451"):
            await adapter.send(invitation())
        handler.data_reply = "554 5.7.1 rejected as spam"
        with pytest.raises(PermanentSendError, match="554"):
            await adapter.send(invitation())
    finally:
        await adapter.stop()


async def test_one_connection_serves_many_messages(smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    adapter = MailAdapter(settings(smtp_port=port), **fresh_cursors())
    try:
        for i in range(5):
            await adapter.send(invitation(dedupe_key=f"invite:{i}", outbox_id=i))
    finally:
        await adapter.stop()
    assert len(handler.messages) == 5
    assert len(handler.sessions) == 1


async def test_an_unreachable_smtp_server_is_a_temporary_failure() -> None:
    from fakes.mail_servers import free_port

    adapter = MailAdapter(settings(smtp_port=free_port()), **fresh_cursors())
    try:
        with pytest.raises(TemporarySendError):
            await adapter.send(invitation())
    finally:
        await adapter.stop()


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_smtp_over_tls(mode: str, tmp_path: Path) -> None:
    try:
        cert = self_signed(tmp_path)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    trusted = ssl.create_default_context(cafile=str(cert[0]))
    with smtp_server(tls=mode, cert=cert) as (handler, port):
        adapter = MailAdapter(
            settings(smtp_port=port, smtp_tls=mode),
            **fresh_cursors(),
            smtp_tls_context=trusted,
        )
        try:
            await adapter.send(invitation())
        finally:
            await adapter.stop()
        assert len(handler.messages) == 1
        if mode == "implicit":
            return
        # Plain text to a server that demands STARTTLS is refused, not sent in the clear.
        plain = MailAdapter(settings(smtp_port=port), **fresh_cursors())
        try:
            with pytest.raises((TemporarySendError, PermanentSendError)):
                await plain.send(invitation(dedupe_key="invite:plain"))
        finally:
            await plain.stop()
        assert len(handler.messages) == 1


# --- reconcile ----------------------------------------------------------------------------------


async def test_reconcile_finds_a_sent_message_in_the_sent_folder(
    imap: Account, smtp: tuple[SmtpHandler, int]
) -> None:
    handler, port = smtp
    append(imap, "Sent", create=True)
    config = imap_settings(imap, smtp_port=port, sent_mailbox="Sent")
    adapter = MailAdapter(config, **fresh_cursors())
    sent, unsent = invitation(), invitation(dedupe_key="invite:never-sent")
    try:
        receipt = await adapter.send(sent)
        found = await adapter.reconcile(sent)
        assert found is not None and found.native_id == receipt.native_id
        assert await adapter.reconcile(unsent) is None
    finally:
        await adapter.stop()
    assert len(handler.messages) == 1


async def test_reconcile_without_a_sent_folder_says_send_again() -> None:
    adapter = MailAdapter(settings(), **fresh_cursors())
    assert await adapter.reconcile(invitation()) is None


def test_the_capabilities_say_replies_go_through_the_outbox() -> None:
    caps = MailAdapter(settings(), **fresh_cursors()).capabilities
    assert (caps.platform, caps.html, caps.buttons, caps.immediate_replies) == ("mail", True, True, False)


async def test_a_reply_to_an_invitation_read_over_imap_is_a_click(
    imap: Account, smtp: tuple[SmtpHandler, int], stop_later: list[MailAdapter]
) -> None:
    handler, port = smtp
    sink = Sink()
    adapter = MailAdapter(imap_settings(imap, smtp_port=port), **fresh_cursors())
    stop_later.append(await running(adapter, sink))
    await adapter.send(invitation())
    sent = _headers(handler.messages[0].data)
    reply = mail(
        f"In-Reply-To: {sent['Message-ID']}",
        f"References: {sent['References']} {sent['Message-ID']}",
        sender="Ada Lovelace <ada@example.com>",
        subject=f"Re: {sent['Subject']}",
        msgid="<ans@example.com>",
        body="Yes please!\n\n> Would you like to join the mentoring programme?\n",
    )
    append(imap, "INBOX", reply)
    event = await sink.next()
    assert isinstance(event, ActionClicked)
    assert (event.action, event.value, event.actor.external_id) == (
        "accept",
        "tok-accept-42",
        "ada@example.com",
    )


async def test_an_address_smtp_cannot_carry_is_permanent(smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    adapter = MailAdapter(settings(smtp_port=port), **fresh_cursors())
    try:
        with pytest.raises(PermanentSendError):
            await adapter.send(invitation(to=Recipient(email="jürgen@exämple.de")))
    finally:
        await adapter.stop()
    assert handler.messages == []


async def test_an_auto_responder_answering_the_bots_mail_gets_nothing_back(
    imap: Account, smtp: tuple[SmtpHandler, int], stop_later: list[MailAdapter]
) -> None:
    handler, port = smtp
    sink = Sink()
    adapter = MailAdapter(imap_settings(imap, smtp_port=port), **fresh_cursors())
    stop_later.append(await running(adapter, sink))
    await adapter.send(invitation())
    sent = _headers(handler.messages[0].data)
    vacation = mail(
        "Auto-Submitted: auto-replied",
        f"In-Reply-To: {sent['Message-ID']}",
        f"References: {sent['References']} {sent['Message-ID']}",
        sender="Ada Lovelace <ada@example.com>",
        subject=f"Out of office: {sent['Subject']}",
        msgid="<vacation@example.com>",
        body="Yes, I am away until Monday and will read your mail then.\n",
    )
    append(imap, "INBOX", vacation, list_post("<marker@example.org>"))
    event = await sink.next()
    assert isinstance(event, MessagePosted) and event.native_id == "marker@example.org"
    assert sink.events == [event]  # the auto-reply gave no event, so nothing can answer it
    assert len(handler.messages) == 1


async def test_reconcile_that_cannot_look_says_try_later_not_resend() -> None:
    from fakes.mail_servers import free_port

    config = settings(imap_port=free_port(), imap_tls="none", sent_mailbox="Sent")
    adapter = MailAdapter(config, **fresh_cursors())
    try:
        with pytest.raises(TemporarySendError):
            await adapter.reconcile(invitation())
    finally:
        await adapter.stop()


# --- GNU Mailman 3 in between (skips unless COHORTBOT_MAILMAN names a Mailman install) ----------


async def test_a_post_through_mailman_reaches_the_bot_and_the_bots_invitation_reaches_the_member(
    imap: Account, smtp: tuple[SmtpHandler, int], stop_later: list[MailAdapter]
) -> None:
    from fakes.mail_mailman import mailman

    handler, port = smtp

    def mta(captured: Captured) -> None:  # the MTA's last step: file the bot's copy into its mailbox
        if imap.user in captured.recipients:
            append(imap, "INBOX", captured.data)

    handler.on_message = mta
    try:
        context = mailman(smtp_port=port)
        server = context.__enter__()
    except ServerUnavailable as exc:
        pytest.skip(f"the Mailman test needs GNU Mailman 3: {exc}")
    try:
        server.create_list("dev@lists.example.org", members=[imap.user, "ada@example.com"])
        sink = Sink()
        adapter = MailAdapter(imap_settings(imap, smtp_port=port), **fresh_cursors())
        stop_later.append(await running(adapter, sink))
        post = mail(
            sender="Ada Lovelace <ada@example.com>",
            to="dev@lists.example.org",
            msgid="<through-mailman@example.com>",
            subject="rebuilding a degraded array",
            body="Which mdadm command re-adds a failed disk?\n",
        )
        await asyncio.to_thread(server.inject, "dev@lists.example.org", post)
        event = await asyncio.wait_for(sink.queue.get(), 300)  # Mailman's runners may still be starting
        assert isinstance(event, MessagePosted)
        assert event.place.channel_id == "dev.lists.example.org"  # Mailman's List-Id
        assert event.actor.external_id == "ada@example.com"
        assert event.uid == parse_message(post).uid  # the same id an archive import gives

        await adapter.send(invitation())
        delivered = handler.messages[-1]
        assert delivered.recipients == ["ada@example.com"]
        assert _headers(delivered.data)["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    finally:
        context.__exit__(None, None, None)


async def test_commands_that_arrived_long_ago_are_not_acted_on(
    imap: Account, stop_later: list[MailAdapter]
) -> None:
    append(
        imap,
        "INBOX",
        mail(subject="optout all", msgid="<old@example.org>"),
        list_post("<marker2@example.org>"),
    )
    sink = Sink()
    # The server stamped the mail now; the bot starts for the first time a month later.
    later = FrozenClock(datetime.now(UTC) + timedelta(days=30))
    adapter = MailAdapter(imap_settings(imap), **fresh_cursors(), clock=later)
    stop_later.append(await running(adapter, sink))
    event = await sink.next()
    assert isinstance(event, MessagePosted) and event.native_id == "marker2@example.org"
    assert sink.events == [event]  # the list post still counts; the stale command does not run
