"""The mail adapter: IMAP in, SMTP out, for the running bot.

Wiring (the roof builds it; the cursor callables are backed by the ImportCursor table):

    MailAdapter(settings, cursor_get=..., cursor_set=..., clock=..., reply_counter=None)

Inbound mail is read per mailbox by ``reader.MailboxReader`` and translated by
``inbound.classify``; events go to the sink one by one, and the mailbox cursor moves only
after the sink returned. Mail that may be answered automatically (commands, answers to
buttons) draws on a budget of ``max_auto_replies_per_day`` per sender per UTC day; past it
the mail is logged and dropped, which breaks any loop with a robot that slipped through the
header checks. Commands and answers that arrived more than ``ANSWER_MAX_AGE`` (7 days) ago
are not acted on, so a first start on an old inbox does not run stale commands. The default
budget lives in memory (a restart resets it); pass
``reply_counter`` to keep it elsewhere.

Command replies are not shown in place (mail has no "ephemeral"): ``immediate_replies`` is
False and the pipeline enqueues the ``CommandReply`` as an e-mail to the sender.

Reconcile: SMTP has no idempotency key. When ``sent_mailbox`` is configured the adapter
appends every sent mail there (unless the server already does: ``append_sent``) and
``reconcile`` looks the deterministic Message-ID up in it; otherwise it answers None and
the row is sent again, with the same Message-ID so the recipient's client can drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from adapters.mail.compose import compose
from adapters.mail.inbound import classify
from adapters.mail.reader import (
    CursorGet,
    CursorSet,
    ImapError,
    MailboxReader,
    close_imap,
    open_imap,
    select,
    uid_search,
)
from adapters.mail.sender import SmtpSender
from adapters.mail.settings import MailSettings
from bot.core.clock import Clock, SystemClock
from bot.core.errors import ConfigurationError, PermanentSendError, TemporarySendError
from bot.core.outbound import Capabilities, EventSink, OutboundMessage, SendReceipt

log = logging.getLogger(__name__)

#: Commands and answers older than this (by the server's arrival time) are not acted on.
ANSWER_MAX_AGE = timedelta(days=7)

#: Count one automatic-reply-worthy mail from ``sender`` on ``day`` and return the day's count so far.
ReplyCounter = Callable[[str, date], Awaitable[int]]


class MemoryReplyCounter:
    """Per-process counts; enough to stop a loop, forgotten on restart."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, date], int] = {}

    async def __call__(self, sender: str, day: date) -> int:
        if len(self._counts) > 50_000:  # old days are worthless; keep memory bounded
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= day}
        key = (sender, day)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]


class MailAdapter:
    """``LiveAdapter`` for e-mail lists and the bot's own address."""

    def __init__(
        self,
        settings: MailSettings,
        *,
        cursor_get: CursorGet,
        cursor_set: CursorSet,
        clock: Clock | None = None,
        reply_counter: ReplyCounter | None = None,
        append_sent: bool = True,
        imap_ssl_context: ssl.SSLContext | None = None,
        smtp_tls_context: ssl.SSLContext | None = None,
        use_idle: bool = True,
    ) -> None:
        self.settings = settings
        self._cursor_get = cursor_get
        self._cursor_set = cursor_set
        self._clock: Clock = clock or SystemClock()
        self._count_reply: ReplyCounter = reply_counter or MemoryReplyCounter()
        self._append_sent = append_sent
        self._imap_ssl = imap_ssl_context
        self._smtp_tls = smtp_tls_context
        self._use_idle = use_idle
        self._dkim_key: bytes | None = None
        if settings.dkim_key_path is not None:
            try:
                self._dkim_key = settings.dkim_key_path.read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"mail: cannot read the DKIM key {settings.dkim_key_path}: {exc}") \
                    from exc
        self._sender: SmtpSender | None = None
        self._sink: EventSink | None = None
        self._task: asyncio.Task[None] | None = None
        self.readers: dict[str, MailboxReader] = {}
        self._sent_lock = asyncio.Lock()
        self._sent_client: Any = None

    @property
    def platform(self) -> str:
        return "mail"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            platform="mail", dm=True, post=False, buttons=True, blocks=False, html=True,
            max_length=100_000, immediate_replies=False, idempotent_send=False,
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Start one reader per mailbox; returns once each has selected its mailbox (or after the timeout)."""
        self._sink = sink
        password = self.settings.imap_password()
        self._sender = self._new_sender()
        self.readers = {
            mailbox: MailboxReader(
                self.settings, mailbox, handler=self._handle, cursor_get=self._cursor_get,
                cursor_set=self._cursor_set, password=password, now=self._clock.now,
                ssl_context=self._imap_ssl, use_idle=self._use_idle,
            )
            for mailbox in self.settings.mailboxes
        }
        self._task = asyncio.create_task(self._run(), name="mail-readers")
        ready = [asyncio.create_task(r.state.ready.wait()) for r in self.readers.values()]
        _, pending = await asyncio.wait(ready, timeout=self.settings.timeout_seconds)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("mail: %d mailbox(es) not reachable yet; the readers keep trying", len(pending))

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for reader in self.readers.values():
                group.create_task(reader.run(), name=f"mail-reader:{reader.mailbox}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sender is not None:
            await self._sender.close()
        async with self._sent_lock:
            if self._sent_client is not None:
                await close_imap(self._sent_client)
                self._sent_client = None

    # --- inbound --------------------------------------------------------------------------

    async def _handle(self, raw: bytes, received_at: datetime, mailbox: str) -> None:
        try:
            inbound = classify(raw, self.settings, received_at=received_at)
        except Exception:  # a mail the parsers choke on is skipped, not retried forever
            log.exception("mail: cannot classify a message in %s; skipped", mailbox)
            return
        log.info("mail: %s in %s -> %s (%d event(s))", inbound.reason, mailbox,
                 ", ".join(type(e).__name__ for e in inbound.events) or "nothing", len(inbound.events))
        if not inbound.events or self._sink is None:
            return
        if inbound.answerable is not None:
            if received_at < self._clock.now() - ANSWER_MAX_AGE:
                # A first start on an old inbox (or a resync) must not run last year's commands.
                log.info("mail: %s from %s is %s old; not answering", inbound.reason, inbound.answerable,
                         self._clock.now() - received_at)
                return
            count = await self._count_reply(inbound.answerable, self._clock.now().date())
            if count > self.settings.max_auto_replies_per_day:
                log.warning("mail: %s sent %d answerable mails today (limit %d); not answering",
                            inbound.answerable, count, self.settings.max_auto_replies_per_day)
                return
        for event in inbound.events:
            await self._sink(event)

    # --- outbound -------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if self._sender is None:
            self._sender = self._new_sender()
        composed = compose(message, self.settings, now=self._clock.now(), dkim_key=self._dkim_key)
        results = await self._sender.deliver(composed.sender, [composed.recipient], composed.data)
        result = results.get(composed.recipient)
        if result is None:
            raise TemporarySendError(f"the SMTP server said nothing about {composed.recipient}")
        if not result.accepted:
            raise result.error()
        if self.settings.sent_mailbox and self._append_sent:
            await self._save_sent(composed.data)
        return SendReceipt(
            native_id=composed.message_id.strip("<>"), detail=f"{result.code} {result.message}".strip(),
            delivered_at=self._clock.now(),
        )

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None:
        """Found in the Sent folder: its receipt; no Sent folder, or not in it: None (send again)."""
        mailbox = self.settings.sent_mailbox
        if not mailbox:
            return None
        mid = f"<{message.idempotency_key}@{self.settings.domain}>"
        try:
            async with self._sent_lock:
                client = await self._sent_connection()
                await select(client, mailbox)
                found = await uid_search(client, "HEADER", "Message-ID", mid)
        except (ImapError, OSError, TimeoutError) as exc:
            await self._drop_sent()
            # Not knowing is not "not sent": the worker retries reconcile rather than risk a resend.
            raise TemporarySendError(f"cannot look in {mailbox!r} for {mid}: {exc}") from exc
        if not found:
            return None
        return SendReceipt(native_id=mid.strip("<>"), detail=f"found in {mailbox}")

    def _new_sender(self) -> SmtpSender:
        return SmtpSender(self.settings, password=self.settings.smtp_password(), tls_context=self._smtp_tls)

    async def _save_sent(self, data: bytes) -> None:
        """Keep a copy for reconcile; failing to keep it does not unsend the mail."""
        mailbox = self.settings.sent_mailbox
        try:
            async with self._sent_lock:
                client = await self._sent_connection()
                response = await client.append(data, mailbox=mailbox, flags="(\\Seen)")
                if response.result != "OK":
                    raise ImapError(f"APPEND refused: {response.lines}")
        except (ImapError, OSError, TimeoutError, PermanentSendError) as exc:
            await self._drop_sent()
            log.warning("mail: sent, but could not keep a copy in %r: %s", mailbox, exc)

    async def _sent_connection(self) -> Any:
        client = self._sent_client
        if client is not None and client.get_state() in ("AUTH", "SELECTED"):
            return client
        self._sent_client = await open_imap(
            self.settings, password=self.settings.imap_password(), ssl_context=self._imap_ssl
        )
        return self._sent_client

    async def _drop_sent(self) -> None:
        client, self._sent_client = self._sent_client, None
        if client is not None:
            await close_imap(client)
