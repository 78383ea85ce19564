"""Reading mailboxes over IMAP: IDLE where the server offers it, polling otherwise, resumable by UID.

One connection per mailbox (IMAP selects one mailbox per connection). Each mailbox has a
cursor, (UIDVALIDITY, last UID), kept by the caller through two injected callables:

    CursorGet = Callable[[str], Awaitable[tuple[int, int] | None]]   # key -> (uidvalidity, last_uid)
    CursorSet = Callable[[str, int, int], Awaitable[None]]           # key, uidvalidity, last_uid

The key is ``imap:{user}@{host}/{mailbox}``. The cursor moves only after the handler has
returned for a message, i.e. after the bot durably accepted its events: a crash re-reads
at most the messages after the last stored UID, and event uids (from Message-IDs) make
the second reading a no-op. When the server reports a different UIDVALIDITY (the mailbox
was recreated or restored) the reader starts again from the first message, for the same
reason without duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aioimaplib  # type: ignore[import-untyped]

from adapters.mail.settings import MailSettings

log = logging.getLogger(__name__)

CursorGet = Callable[[str], Awaitable[tuple[int, int] | None]]
CursorSet = Callable[[str, int, int], Awaitable[None]]
#: Called once per new message: (raw bytes, INTERNALDATE, mailbox). Returns once handled.
MessageHandler = Callable[[bytes, datetime, str], Awaitable[None]]

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
#: What the reader's IDLE wait receives when the server drops the connection.
CONNECTION_LOST = [b"cohortbot: connection lost"]
FETCH_CHUNK = 25
_MAX_BACKOFF = 300.0


class ImapError(Exception):
    """The server refused a step (login, select, fetch); the reader reconnects after a pause."""


@dataclass(slots=True)
class MailboxState:
    """What a test or a health check can see of one mailbox's reader."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)  # connected and selected once
    idling: asyncio.Event = field(default_factory=asyncio.Event)  # inside IDLE right now
    uses_idle: bool | None = None
    syncs: int = 0  # how many times new messages were looked for
    polls: int = 0  # syncs started by the poll timer (servers without IDLE)
    delivered: int = 0
    uidvalidity: int | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


async def open_imap(
    settings: MailSettings, *, password: str, ssl_context: ssl.SSLContext | None = None
) -> Any:
    """A logged-in aioimaplib client (the caller logs out)."""
    timeout = settings.timeout_seconds
    if settings.imap_tls == "implicit":
        client = aioimaplib.IMAP4_SSL(
            host=settings.imap_host, port=settings.imap_port, timeout=timeout, ssl_context=ssl_context
        )
    else:
        client = aioimaplib.IMAP4(host=settings.imap_host, port=settings.imap_port, timeout=timeout)
    # A dropped connection would otherwise leave IDLE waiting until its refresh, ~25 minutes.
    queue = client.protocol.idle_queue
    client.protocol.conn_lost_cb = lambda exc: queue.put_nowait(CONNECTION_LOST)
    try:
        await client.wait_hello_from_server()
        response = await client.login(settings.imap_user, password)
    except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
        await close_imap(client)
        raise ImapError(f"cannot reach IMAP {settings.imap_host}:{settings.imap_port}: {exc}") from exc
    if response.result != "OK":
        await close_imap(client)
        raise ImapError(f"IMAP login refused for {settings.imap_user}: {_text(response.lines)}")
    return client


async def close_imap(client: Any) -> None:
    with contextlib.suppress(Exception):  # the connection may already be gone; nothing to save
        # Still inside IDLE (cancelled on the way in or out): LOGOUT would queue behind it, and
        # a second DONE confuses the server; dropping the connection is what IDLE allows.
        if not client.has_pending_idle() and client.get_state() in ("AUTH", "SELECTED"):
            await asyncio.wait_for(client.logout(), 5)
    with contextlib.suppress(Exception):
        client.protocol.transport.close()


async def select(client: Any, mailbox: str) -> int:
    """Select a mailbox and return its UIDVALIDITY."""
    response = await client.select(mailbox)
    if response.result != "OK":
        raise ImapError(f"cannot select {mailbox!r}: {_text(response.lines)}")
    for line in response.lines:
        if isinstance(line, bytes | bytearray):
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                return int(match.group(1))
    raise ImapError(f"the server gave no UIDVALIDITY for {mailbox!r}")


async def uid_search(client: Any, *criteria: str) -> list[int]:
    response = await client.protocol.search(*criteria, by_uid=True, charset=None)
    if response.result != "OK":
        raise ImapError(f"UID SEARCH failed: {_text(response.lines)}")
    uids: list[int] = []
    for line in response.lines[:-1]:  # the last line is the tagged "Search completed"
        if not isinstance(line, bytes):
            continue
        words = line.split()
        if words[:1] == [b"SEARCH"]:  # aioimaplib strips the keyword for some responses, not all
            words = words[1:]
        if words and all(word.isdigit() for word in words):
            uids.extend(int(word) for word in words)
    return sorted(uids)


async def fetch(client: Any, uids: list[int]) -> list[tuple[int, datetime | None, bytes]]:
    """(uid, INTERNALDATE, raw) for the given UIDs, in UID order, without setting \\Seen."""
    response = await client.uid("fetch", ",".join(str(u) for u in uids), "(UID INTERNALDATE BODY.PEEK[])")
    if response.result != "OK":
        raise ImapError(f"UID FETCH failed: {_text(response.lines)}")
    return sorted(_parse_fetch(response.lines), key=lambda item: item[0])


def _parse_fetch(lines: list[Any]) -> Iterator[tuple[int, datetime | None, bytes]]:
    uid: int | None = None
    when: datetime | None = None
    raw: bytes | None = None
    for line in lines:
        if isinstance(line, bytearray):
            raw = bytes(line)
            continue
        if not isinstance(line, bytes):
            continue
        if _FETCH_HEAD.match(line):
            if uid is not None and raw is not None:
                yield uid, when, raw
            uid, when, raw = None, None, None
        found = _UID.search(line)
        if found:
            uid = int(found.group(1))
        stamp = _INTERNALDATE.search(line)
        if stamp:
            when = _internaldate(stamp.group(1).decode("ascii", "replace"))
    if uid is not None and raw is not None:
        yield uid, when, raw


def _internaldate(text: str) -> datetime | None:
    # "17-Jul-1996 02:44:25 -0700": the RFC 2822 parser reads it once the dashes are spaces.
    try:
        parsed = parsedate_to_datetime(text.replace("-", " ", 2))
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(lines: list[Any]) -> str:
    parts = (bytes(line).decode("utf-8", "replace") for line in lines if isinstance(line, bytes | bytearray))
    return " ".join(parts)


class MailboxReader:
    """Follows one mailbox for as long as it runs, reconnecting after failures."""

    def __init__(
        self,
        settings: MailSettings,
        mailbox: str,
        *,
        handler: MessageHandler,
        cursor_get: CursorGet,
        cursor_set: CursorSet,
        password: str,
        now: Callable[[], datetime],
        ssl_context: ssl.SSLContext | None = None,
        use_idle: bool = True,
    ) -> None:
        self.settings = settings
        self.mailbox = mailbox
        self.key = f"imap:{settings.imap_user}@{settings.imap_host}/{mailbox}"
        self.state = MailboxState()
        self._handler = handler
        self._get = cursor_get
        self._set = cursor_set
        self._password = password
        self._now = now
        self._ssl = ssl_context
        self._use_idle = use_idle
        self._selected = False

    async def run(self) -> None:
        """Read until cancelled; connection failures are logged and retried with a growing pause."""
        backoff = 1.0
        while True:
            self._selected = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad session must not end the reader; say why and retry
                if self._selected:  # that session worked for a while: start the pauses again
                    backoff = 1.0
                log.warning("mail reader %s: %s; reconnecting in %.0f s", self.key, exc, backoff,
                            exc_info=not isinstance(exc, ImapError | OSError | TimeoutError))
                self.state.idling.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    def wake(self) -> None:
        """Look for new mail now (a poll without waiting for the timer)."""
        self.state.wake.set()

    async def _session(self) -> None:
        client = await open_imap(self.settings, password=self._password, ssl_context=self._ssl)
        try:
            uidvalidity = await select(client, self.mailbox)
            self.state.uidvalidity = uidvalidity
            idle = self._use_idle and client.has_capability("IDLE")
            self.state.uses_idle = idle
            self.state.ready.set()
            self._selected = True
            while True:
                await self.sync(client, uidvalidity)
                if idle:
                    await self._idle(client)
                else:
                    await self._poll_wait(client)
        finally:
            self.state.idling.clear()
            await close_imap(client)

    async def sync(self, client: Any, uidvalidity: int) -> int:
        """Hand every message after the cursor to the handler, advancing the cursor after each."""
        self.state.syncs += 1
        cursor = await self._get(self.key)
        last = 0
        if cursor is not None:
            if cursor[0] == uidvalidity:
                last = cursor[1]
            else:
                log.warning("mail reader %s: UIDVALIDITY changed (%s -> %s); reading the mailbox again",
                            self.key, cursor[0], uidvalidity)
        uids = [u for u in await uid_search(client, "UID", f"{last + 1}:*") if u > last]
        handled = 0
        for start in range(0, len(uids), FETCH_CHUNK):
            for uid, when, raw in await fetch(client, uids[start : start + FETCH_CHUNK]):
                await self._handler(raw, when or self._now(), self.mailbox)
                await self._set(self.key, uidvalidity, uid)
                handled += 1
        if not uids and cursor is not None and cursor[0] != uidvalidity:
            await self._set(self.key, uidvalidity, 0)
        self.state.delivered += handled
        return handled

    async def _idle(self, client: Any) -> None:
        """Wait inside IDLE until the server reports new mail (or the refresh interval passes)."""
        idle_task = None
        lost = False
        try:
            idle_task = await client.idle_start(timeout=self.settings.idle_seconds)
            self.state.idling.set()
            while True:
                lines = await client.wait_server_push(timeout=self.settings.idle_seconds + 30)
                if lines == CONNECTION_LOST:
                    lost = True
                    raise ImapError("the server closed the connection")
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH or any(
                    isinstance(line, bytes) and (line.endswith(b"EXISTS") or line.endswith(b"EXPUNGE"))
                    for line in lines
                ):
                    break
        finally:
            self.state.idling.clear()
            if lost:  # nobody is left to answer DONE
                if idle_task is not None:
                    idle_task.cancel()
            else:
                if client.has_pending_idle():
                    client.idle_done()
                if idle_task is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(idle_task, self.settings.timeout_seconds)

    async def _poll_wait(self, client: Any) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.state.wake.wait(), self.settings.poll_seconds)
        self.state.wake.clear()
        self.state.polls += 1
        response = await client.noop()  # keeps the session alive and lets the server report news
        if response.result != "OK":
            raise ImapError(f"NOOP failed: {_text(response.lines)}")
