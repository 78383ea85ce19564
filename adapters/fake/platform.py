"""A fake platform in another process's reach: a tiny HTTP server and the adapter that talks to it.

The crash tests kill a worker process with SIGKILL between a send and its commit; the
platform must outlive that process to say what was really delivered. The server records
every delivery in a JSON file and, in idempotent mode, drops a repeated idempotency key
(as Discord drops a repeated nonce); in plain mode it delivers every request, so a
resend after a crash shows up as a duplicate unless the worker reconciles first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from adapters.base import LiveAdapter
from bot.core.errors import PermanentSendError, RateLimited, TemporarySendError
from bot.core.outbound import Capabilities, EventSink, OutboundMessage, SendReceipt

_TIMEOUT = aiohttp.ClientTimeout(total=10)


class FakePlatformServer:
    """POST /messages delivers; GET /messages/{idempotency_key} finds a delivered message."""

    def __init__(self, record: Path, *, idempotent: bool) -> None:
        self.record = record
        self.idempotent = idempotent
        self.deliveries: list[dict[str, Any]] = []
        self._by_key: dict[str, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/messages", self._post)
        app.router.add_get("/messages/{key}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._save()
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _save(self) -> None:
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"deliveries": self.deliveries}, indent=1))
        os.replace(tmp, self.record)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = str(body["idempotency_key"])
        if self.idempotent and key in self._by_key:
            return web.json_response({"native_id": self._by_key[key]["native_id"], "repeat": True})
        delivery = {
            "native_id": f"msg-{len(self.deliveries) + 1}",
            "idempotency_key": key,
            "dedupe_key": body.get("dedupe_key", ""),
            "text": body.get("text", ""),
        }
        self.deliveries.append(delivery)
        self._by_key.setdefault(key, delivery)
        self._save()  # on disk before the answer, so a killed client cannot lose the platform's word
        return web.json_response({"native_id": delivery["native_id"]})

    async def _get(self, request: web.Request) -> web.Response:
        found = self._by_key.get(request.match_info["key"])
        if found is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"native_id": found["native_id"]})


class HttpFakeAdapter:
    """A ``LiveAdapter`` for ``FakePlatformServer``, with the error mapping of a real adapter.

    ``after_send`` is a documented test hook: called after the platform accepted a message
    and before ``send`` returns, i.e. before the worker can commit. The crash test kills the
    process there. Nothing else in the product calls it.
    """

    def __init__(
        self,
        platform: str,
        base_url: str,
        *,
        idempotent: bool,
        after_send: Callable[[OutboundMessage, SendReceipt], None] | None = None,
    ) -> None:
        self._platform = platform
        self._base = base_url.rstrip("/")
        self._capabilities = Capabilities(platform=platform, idempotent_send=idempotent)
        self.after_send = after_send
        self._session: aiohttp.ClientSession | None = None

    @property
    def platform(self) -> str:
        return self._platform

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        return self._session

    async def start(self, sink: EventSink) -> None:
        self._client()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        payload = {
            "idempotency_key": message.idempotency_key,
            "dedupe_key": message.dedupe_key,
            "to": message.to.to_json(),
            "text": message.text,
        }
        try:
            async with self._client().post(f"{self._base}/messages", json=payload) as resp:
                if resp.status == 429:
                    raise RateLimited(float(resp.headers.get("Retry-After", "1")))
                if resp.status >= 500:
                    raise TemporarySendError(f"fake platform answered {resp.status}")
                if resp.status >= 400:
                    raise PermanentSendError(f"fake platform answered {resp.status}")
                data = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TemporarySendError(f"fake platform unreachable: {exc}") from exc
        receipt = SendReceipt(native_id=str(data["native_id"]))
        if self.after_send is not None:
            self.after_send(message, receipt)
        return receipt

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None:
        try:
            async with self._client().get(f"{self._base}/messages/{message.idempotency_key}") as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise TemporarySendError(f"fake platform answered {resp.status}")
                data = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TemporarySendError(f"fake platform unreachable: {exc}") from exc
        return SendReceipt(native_id=str(data["native_id"]), detail="reconciled")


if TYPE_CHECKING:  # mypy proves the HTTP fake is a complete LiveAdapter
    _conforms: LiveAdapter = HttpFakeAdapter("fake", "http://127.0.0.1:1", idempotent=True)
