"""The Web API client: slack_sdk's async client, its 429 retry handler, and our error tree.

slack_sdk's ``AsyncRateLimitErrorRetryHandler`` waits out a 429 for the ``Retry-After``
Slack names; the subclass here only takes its waiting from our ``Timer`` (so tests run on
virtual time). When the retries are spent, ``send_error`` turns the library's exception
into ``RateLimited(retry_after)`` and the outbox reschedules the message; every other
failure becomes a permanent or a temporary send error at this one boundary.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.pacing import Timer
from bot.core.errors import (
    PermanentSendError,
    RateLimited,
    RecipientUnreachable,
    SendError,
    TemporarySendError,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://slack.com/api/"

#: The person cannot be reached on Slack at all: the account is marked undeliverable.
UNREACHABLE = frozenset(
    {"user_not_found", "users_not_found", "account_inactive", "user_disabled", "cannot_dm_bot",
     "user_not_visible"}
)
#: Errors no retry can fix: the channel is gone or closed to the bot, or the message is wrong.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "too_many_attachments",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "ekm_access_denied",
        "team_access_not_granted",
        "invalid_thread_ts",
        "thread_not_found",
    }
)


class PacedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, waiting on our timer; never earlier than ``Retry-After``.

    A little jitter (up to ``jitter`` seconds) after the wait keeps many senders that
    were told the same time from arriving together.
    """

    def __init__(
        self,
        *,
        timer: Timer,
        max_retry_count: int,
        jitter: float = 0.25,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.timer = timer
        self.jitter = jitter
        self.rand = rand

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or SendError("rate limited without a response")
        state.next_attempt_requested = True
        wait = retry_after(response.headers) + self.jitter * self.rand()
        log.info("slack: 429 on %s, waiting %.1f s", request.url, wait)
        await self.timer.sleep(wait)
        state.increment_current_attempt()


class PacedConnectionRetryHandler(AsyncConnectionErrorRetryHandler):
    """slack_sdk's retry after a reset connection, with its back-off waited on our timer."""

    def __init__(self, *, timer: Timer, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.timer = timer

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self.timer.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


def retry_after(headers: Any, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header (any case, list- or str-valued); ``default`` when absent."""
    if not headers:
        return default
    for key in headers:
        if str(key).lower() == "retry-after":
            value = headers[key]
            if isinstance(value, list | tuple):
                value = value[0] if value else ""
            try:
                return max(0.0, float(str(value)))
            except ValueError:
                return default
    return default


def web_client(
    token: str, *, base_url: str | None, timeout: int, timer: Timer, rate_limit_retries: int
) -> AsyncWebClient:
    handlers: list[AsyncRetryHandler] = [
        PacedConnectionRetryHandler(timer=timer),
        PacedRateLimitRetryHandler(timer=timer, max_retry_count=rate_limit_retries),
    ]
    return AsyncWebClient(
        token=token, base_url=base_url or DEFAULT_BASE_URL, timeout=timeout, retry_handlers=handlers
    )


def api_error(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "")
    return ""


def send_error(exc: BaseException) -> SendError:
    """The one place a Slack failure becomes RateLimited, PermanentSendError or TemporarySendError."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        error = api_error(exc)
        if status == 429 or error == "ratelimited":
            return RateLimited(retry_after(getattr(exc.response, "headers", None), default=30.0),
                               f"slack: rate limited ({error or status})")
        if error in UNREACHABLE:
            return RecipientUnreachable(f"slack {error}")
        if error in PERMANENT:
            return PermanentSendError(f"slack: {error}")
        if status >= 500:
            return TemporarySendError(f"slack: HTTP {status}")
        return TemporarySendError(f"slack: {error or f'HTTP {status}'}")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return TemporarySendError("slack: timed out")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TemporarySendError(f"slack: {type(exc).__name__}: {exc}")
    return TemporarySendError(f"slack: unexpected {type(exc).__name__}: {exc}")
