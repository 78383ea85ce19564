"""Socket Mode: slack_sdk's aiohttp websocket client driving the same bolt app as HTTP mode.

The client asks ``apps.connections.open`` (with the app-level token) for a websocket URL,
answers every envelope with an ack carrying its ``envelope_id``, and on a ``disconnect``
message (``refresh_requested``, ``link_disabled``) or a closed socket fetches a new URL and
connects again by itself. An envelope Slack did not see acknowledged comes again on the
new connection; the adapter's event-id memory and the store's uids make that harmless.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient


class SocketClient(SocketModeClient):
    """slack_sdk's client; ``fixed_url`` (tests) replaces the URL ``apps.connections.open`` would give."""

    def __init__(self, *, fixed_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fixed_url = fixed_url

    async def issue_new_wss_url(self) -> str:
        if self.fixed_url:
            return self.fixed_url
        url: str = await super().issue_new_wss_url()
        return url

    async def open(self) -> None:
        """Connect; from here on the client reconnects by itself until ``shut``."""
        await self.connect()  # type: ignore[no-untyped-call]

    async def shut(self) -> None:
        await self.close()  # type: ignore[no-untyped-call]


class SocketHandler(AsyncSocketModeHandler):
    """bolt's Socket Mode handler around a client built by us (its own constructor builds one)."""

    client: SocketClient

    def __init__(self, app: AsyncApp, client: SocketClient) -> None:  # no super(): it makes a client
        self.app = app
        self.app_token = client.app_token
        self.client = client
        client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
