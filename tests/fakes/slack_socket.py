"""A local Socket Mode server speaking Slack's envelope/ack protocol, for tests.

Each connection gets ``hello``, then every envelope not yet acknowledged (again, with
``retry_attempt`` raised, as Slack does after a reconnect). The client answers an envelope
with ``{"envelope_id": ...}``. Tests can make the server lose an ack, ask the client to
reconnect (``disconnect`` / ``refresh_requested``) or drop the socket outright.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Envelope:
    envelope_id: str
    payload: dict[str, Any]
    retry_attempt: int = 0
    kind: str = "events_api"  # or "slash_commands", "interactive"

    def frame(self) -> str:
        return json.dumps(
            {
                "envelope_id": self.envelope_id,
                "type": self.kind,
                "payload": self.payload,
                "accepts_response_payload": False,
                "retry_attempt": self.retry_attempt,
                "retry_reason": "timeout" if self.retry_attempt else "",
            }
        )


class FakeSocketMode:
    def __init__(self) -> None:
        self.pending: dict[str, Envelope] = {}
        self.acks: list[str] = []  # every ack received, including ignored ones
        self.ack_payloads: dict[str, Any] = {}  # what an ack carried (a command's immediate answer)
        self.connections = 0
        self.lose_next_ack = False
        self._ids = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FakeSocketMode:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"ws://127.0.0.1:{self._runner.addresses[0][1]}/link"
        return self

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), timeout)

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        self.connections += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "connection_info": {"app_id": "A0TEST"},
                    "debug_info": {"host": "fake"},
                }
            )
        )
        for envelope in list(self.pending.values()):
            envelope.retry_attempt += 1
            await ws.send_str(envelope.frame())
        await self._notify()
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            ident = data.get("envelope_id")
            if not ident:
                continue
            self.acks.append(ident)
            if "payload" in data:
                self.ack_payloads[ident] = data["payload"]
            if self.lose_next_ack:
                self.lose_next_ack = False
            else:
                self.pending.pop(ident, None)
            await self._notify()
        if self._ws is ws:
            self._ws = None
        await self._notify()
        return ws

    async def deliver(self, payload: dict[str, Any], *, kind: str = "events_api") -> str:
        """Queue an envelope; sent now if a client is connected, else on the next connection."""
        envelope = Envelope(f"env-{next(self._ids)}", payload, kind=kind)
        self.pending[envelope.envelope_id] = envelope
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(envelope.frame())
        return envelope.envelope_id

    async def ask_to_reconnect(self) -> None:
        assert self._ws is not None
        await self._ws.send_str(
            json.dumps({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})
        )

    async def drop(self) -> None:
        """Close the socket from the server side, as a network failure or a deploy would."""
        assert self._ws is not None
        await self._ws.close()
