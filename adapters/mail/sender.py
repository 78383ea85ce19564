"""SMTP delivery with one reused connection and a result per recipient.

The connection stays open between messages (a digest run sends thousands) and is checked
with NOOP before reuse, because servers drop idle clients; a dead one is replaced before
the envelope starts, so a message is never half-sent on a stale socket and then repeated.
One unused for longer than ``smtp_idle_close_seconds`` is replaced without asking.

Reply codes decide what the outbox does: 2xx accepted, 4xx try again later
(``TemporarySendError``), 5xx never (``PermanentSendError``). Network trouble is temporary.
A refused login is reported as temporary too: it is the bot's configuration, not the
message, that is wrong, and the message should still go once it is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib

from adapters.mail.settings import MailSettings
from bot.core.errors import PermanentSendError, SendError, TemporarySendError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The server's answer for one recipient."""

    recipient: str
    code: int
    message: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    def error(self) -> SendError:
        """The outbox's reading of a refusal: 4xx temporary, anything else permanent."""
        text = f"{self.recipient}: {self.code} {self.message}"
        return TemporarySendError(text) if 400 <= self.code < 500 else PermanentSendError(text)


def error_for(code: int, text: str) -> SendError:
    return TemporarySendError(f"{code} {text}") if 400 <= code < 500 else PermanentSendError(f"{code} {text}")


def _login_refused(exc: aiosmtplib.SMTPAuthenticationError) -> TemporarySendError:
    return TemporarySendError(f"SMTP login refused ({exc.code} {exc.message}); check the mail settings")


class SmtpSender:
    """One SMTP client connection, opened on first use and reused while it answers."""

    def __init__(
        self,
        settings: MailSettings,
        *,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._password = password
        self._tls_context = tls_context
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._last_used = 0.0
        self.connections_opened = 0  # for tests and metrics: reuse means this stays small

    async def deliver(
        self, sender: str, recipients: Sequence[str], data: bytes
    ) -> dict[str, RecipientResult]:
        """Send one message; a result per recipient, refusals included; raises for the whole envelope."""
        async with self._lock:
            client = await self._connected()
            try:
                errors, reply = await client.sendmail(sender, list(recipients), data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                return {
                    r.recipient: RecipientResult(r.recipient, r.code, r.message) for r in exc.recipients
                }
            except aiosmtplib.SMTPAuthenticationError as exc:
                await self._drop()
                raise _login_refused(exc) from exc
            except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
                # An address SMTP cannot carry here (non-ASCII without SMTPUTF8): no retry helps.
                raise PermanentSendError(f"cannot send to {', '.join(recipients)}: {exc}") from exc
            except aiosmtplib.SMTPResponseException as exc:
                # MAIL FROM or DATA refused: the answer is the same for every recipient.
                if exc.code >= 500 or exc.code < 400:
                    log.warning("SMTP refused the message: %s %s", exc.code, exc.message)
                raise error_for(exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._drop()
                raise TemporarySendError(f"SMTP connection failed: {exc}") from exc
            finally:
                self._last_used = time.monotonic()
        results = {r: RecipientResult(r, 250, reply) for r in recipients if r not in errors}
        for recipient, response in errors.items():
            results[recipient] = RecipientResult(recipient, response.code, response.message)
        return results

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connected(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = self._client
        if client is not None and client.is_connected:
            idle = time.monotonic() - self._last_used
            if idle < s.smtp_idle_close_seconds:
                try:
                    await client.noop()
                    return client
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    log.info("SMTP connection went stale; reconnecting")
            await self._drop()
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user,
            password=self._password if s.smtp_user else None,
            use_tls=s.smtp_tls == "implicit",
            start_tls=s.smtp_tls == "starttls",
            tls_context=self._tls_context,
            timeout=s.timeout_seconds,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise _login_refused(exc) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            where = f"{s.smtp_host}:{s.smtp_port}"
            raise TemporarySendError(f"cannot reach the SMTP server {where}: {exc}") from exc
        self._client = client
        self.connections_opened += 1
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            if client.is_connected:
                await client.quit()
        client.close()
