"""A local fake Discord on 127.0.0.1: the REST API and a gateway websocket, enough for discord.py.

The real discord.py client talks to it (``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``
point here through ``DiscordSettings.api_base_url`` / ``gateway_url``). It speaks the gateway's
hello / identify / ready / dispatch / heartbeat / resume / invalid-session protocol and
records every REST request (method, path, query, JSON body or multipart parts) so tests
assert the exact bodies the adapter sends. Tests script failures with ``fail_next`` and
drive the gateway with ``dispatch``, ``drop`` and ``invalidate_next_resume``; they wait for
things with ``wait_for_request`` / ``wait_for_op`` (asyncio conditions, never sleeps).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

APP_ID = "900000000000000001"
BOT_ID = "900000000000000002"
GUILD_ID = "910000000000000000"
GENERAL_ID = "910000000000000010"
HELP_ID = "910000000000000011"
CATEGORY_ID = "910000000000000009"
THREAD_ID = "910000000000000012"  # a public thread under #help, started from the message with this id
MANAGER_ROLE = "910000000000000100"
MEMBER_ROLE = "910000000000000101"

_DISCORD_EPOCH_MS = 1420070400000


def snowflake(at: datetime, n: int = 0) -> str:
    """A snowflake for a moment, so ids sort in time like Discord's."""
    ms = int(at.timestamp() * 1000) - _DISCORD_EPOCH_MS
    return str((ms << 22) | (n & 0x3FFFFF))


def user_payload(uid: str, name: str, *, bot: bool = False, global_name: str | None = None) -> dict[str, Any]:
    return {"id": uid, "username": name, "discriminator": "0", "global_name": global_name,
            "avatar": None, "bot": bot}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or {"payload_json": ..., "files": {name: bytes}} for multipart


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeDiscord:
    """One fake server per test; ``async with FakeDiscord() as fake:`` starts and stops it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.gateway_ops: list[dict[str, Any]] = []  # every op the client sent (heartbeats too)
        self.identify_count = 0
        self.resume_count = 0
        self.reject_intents = False  # close IDENTIFY with 4014 (privileged intents not enabled)
        self._invalidate_resume = False
        self.messages: dict[str, list[dict[str, Any]]] = {GENERAL_ID: [], HELP_ID: [], THREAD_ID: []}
        self.members: dict[str, dict[str, Any]] = {}
        self._scripted: dict[tuple[str, str], list[Scripted]] = {}
        self._ids = itertools.count(1)
        self._seq = 0
        self._session = ""
        self._ws: web.WebSocketResponse | None = None
        self._missed: list[dict[str, Any]] = []  # dispatches sent while no socket was up
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.add_member(BOT_ID, "cohortbot", bot=True)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_route("GET", "/gateway", self._gateway_ws)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ------------------------------------------------------------------ world

    def add_member(self, uid: str, name: str, *, roles: tuple[str, ...] = (), nick: str | None = None,
                   bot: bool = False) -> dict[str, Any]:
        member = {"user": user_payload(uid, name, bot=bot), "roles": list(roles), "nick": nick,
                  "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0}
        self.members[uid] = member
        return member

    def guild_payload(self) -> dict[str, Any]:
        def channel(cid: str, name: str, position: int) -> dict[str, Any]:
            return {"id": cid, "type": 0, "name": name, "position": position, "guild_id": GUILD_ID,
                    "parent_id": CATEGORY_ID, "permission_overwrites": [], "nsfw": False, "topic": None}

        role = {"color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        return {
            "id": GUILD_ID, "name": "Cohort Guild", "icon": None, "owner_id": "1", "unavailable": False,
            "member_count": len(self.members), "large": False, "features": [], "emojis": [], "stickers": [],
            "system_channel_id": GENERAL_ID, "preferred_locale": "en-US", "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "premium_tier": 0, "nsfw_level": 0, "afk_timeout": 300, "voice_states": [],
            "threads": [{
                "id": THREAD_ID, "type": 11, "name": "mount fails", "parent_id": HELP_ID,
                "guild_id": GUILD_ID,
                "owner_id": BOT_ID, "message_count": 1, "member_count": 1, "rate_limit_per_user": 0,
                "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                                    "archive_timestamp": "2026-11-01T00:00:00+00:00"},
            }],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "roles": [
                {"id": GUILD_ID, "name": "@everyone", "permissions": "68608", "position": 0, **role},
                {"id": MANAGER_ROLE, "name": "Managers", "permissions": "32", "position": 2, **role},
                {"id": MEMBER_ROLE, "name": "Members", "permissions": "0", "position": 1, **role},
            ],
            "channels": [
                {"id": CATEGORY_ID, "type": 4, "name": "Community", "position": 0, "guild_id": GUILD_ID,
                 "permission_overwrites": [], "nsfw": False, "parent_id": None},
                channel(GENERAL_ID, "general", 1),
                channel(HELP_ID, "help", 2),
            ],
            "members": list(self.members.values()),
        }

    def message_payload(self, *, channel_id: str, author_id: str, content: str, at: datetime,
                        message_id: str | None = None, reply_to: str | None = None) -> dict[str, Any]:
        member = self.members[author_id]
        payload: dict[str, Any] = {
            "id": message_id or snowflake(at, next(self._ids)),
            "channel_id": channel_id, "guild_id": GUILD_ID,
            "author": member["user"], "member": {k: v for k, v in member.items() if k != "user"},
            "content": content, "timestamp": at.isoformat(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "type": 19 if reply_to else 0, "flags": 0,
        }
        if reply_to:
            payload["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel_id,
                                            "guild_id": GUILD_ID}
        return payload

    def interaction_payload(self, *, user_id: str, data: dict[str, Any], kind: int = 2,
                            in_dm: bool = False, message: dict[str, Any] | None = None) -> dict[str, Any]:
        """An INTERACTION_CREATE: kind 2 = slash command, 3 = component (``message`` = the clicked one)."""
        iid = snowflake(datetime.now(UTC), next(self._ids))
        member = self.members[user_id]
        payload: dict[str, Any] = {
            "id": iid, "application_id": APP_ID, "type": kind, "token": f"token-{iid}", "version": 1,
            "data": data, "locale": "en-US", "app_permissions": "0", "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": GUILD_ID}, "context": 1 if in_dm else 0,
        }
        if in_dm:
            payload["user"] = member["user"]
            payload["channel_id"] = str(int(user_id) + 1)
            payload["channel"] = {"id": str(int(user_id) + 1), "type": 1}
        else:
            payload.update(guild_id=GUILD_ID, guild_locale="en-US", channel_id=GENERAL_ID,
                           channel={"id": GENERAL_ID, "type": 0, "name": "general", "guild_id": GUILD_ID},
                           member={**member, "permissions": "0"})
        if message is not None:
            payload["message"] = message
        return payload

    def store_message(self, payload: dict[str, Any]) -> None:
        """History only (what GET /channels/{id}/messages returns), no gateway event."""
        self.messages.setdefault(payload["channel_id"], []).append(payload)

    # ------------------------------------------------------------------ scripting and waiting

    def fail_next(self, method: str, path: str, *, status: int, body: Any,
                  headers: Mapping[str, str] | None = None) -> None:
        """The next ``method path`` (path after /api/v10) answers with this instead of its normal reply."""
        self._scripted.setdefault((method, path), []).append(Scripted(status, body, dict(headers or {})))

    def invalidate_next_resume(self) -> None:
        """The next RESUME gets op 9 (invalid session, not resumable): the client must IDENTIFY again."""
        self._invalidate_resume = True

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 10.0) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(wait(), timeout)

    async def wait_for_request(self, method: str, path_prefix: str, *, count: int = 1) -> list[Recorded]:
        def matching() -> list[Recorded]:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

        await self.wait_until(lambda: len(matching()) >= count)
        return matching()

    def requests_to(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # ------------------------------------------------------------------ gateway

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> None:
        """Send one DISPATCH; if the socket is down it is kept for the RESUME replay."""
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        if event == "MESSAGE_CREATE":
            self.store_message(dict(data))
        if self._ws is None or self._ws.closed:
            self._missed.append(frame)
            return
        await self._ws.send_str(json.dumps(frame))

    async def drop(self, *, code: int = 4000) -> None:
        """Close the gateway socket as a network fault or a Discord restart would (resumable codes)."""
        ws = self._ws
        if ws is not None:
            await ws.close(code=code)

    async def _gateway_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            self.gateway_ops.append(frame)
            await self._gateway_op(ws, frame)
            await self._notify()
        await self._notify()
        return ws

    async def _gateway_op(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == 1:
            await ws.send_str(json.dumps({"op": 11}))
        elif op == 2:
            self.identify_count += 1
            if self.reject_intents:
                await ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            self._session = f"session-{self.identify_count}"
            self._missed.clear()  # a new session starts from now: what was missed is gone
            self._seq += 1
            ready = {
                "v": 10, "session_id": self._session, "resume_gateway_url": self.gateway_url,
                "user": user_payload(BOT_ID, "cohortbot", bot=True),
                "guilds": [self.guild_payload()], "application": {"id": APP_ID, "flags": 0},
                "private_channels": [], "relationships": [],
            }
            shard = (frame.get("d") or {}).get("shard")
            if shard:
                ready["shard"] = shard
            await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": self._seq, "d": ready}))
        elif op == 6:
            self.resume_count += 1
            data = frame.get("d") or {}
            if self._invalidate_resume or data.get("session_id") != self._session:
                self._invalidate_resume = False
                await ws.send_str(json.dumps({"op": 9, "d": False}))
                return
            missed, self._missed = self._missed, []
            for item in missed:
                await ws.send_str(json.dumps(item))
            self._seq += 1
            await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": self._seq, "d": {}}))

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            body = await _read_multipart(request)
        self.requests.append(Recorded(request.method, path, dict(request.query), body))
        await self._notify()
        queue = self._scripted.get((request.method, path))
        if queue:
            item = queue.pop(0)
            return _json(item.body, status=item.status, headers=item.headers)
        return await self._answer(request.method, path, request.query, body)

    async def _answer(
        self, method: str, path: str, query: Mapping[str, str], body: Any
    ) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(user_payload(BOT_ID, "cohortbot", bot=True))
        if path == "/oauth2/applications/@me":
            return _json({
                "id": APP_ID, "name": "cohortbot", "description": "", "icon": None, "bot_public": False,
                "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0,
                "owner": user_payload("1", "owner"), "team": None, "rpc_origins": [],
            })
        if path == "/gateway/bot":
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})
        if path == "/gateway":
            return _json({"url": self.gateway_url})
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            return _json([
                {**cmd, "id": str(900000000000001000 + i), "application_id": APP_ID, "version": "1",
                 "guild_id": parts[3] if len(parts) > 4 else None}
                for i, cmd in enumerate(body or [])
            ])
        if path == "/users/@me/channels" and method == "POST":
            recipient = str(body["recipient_id"])
            return _json({"id": str(int(recipient) + 1), "type": 1, "last_message_id": None,
                                      "recipients": [self.members.get(recipient, {}).get(
                                          "user", user_payload(recipient, "someone"))]})
        if parts[0] == "channels" and len(parts) == 3 and parts[2] == "messages":
            if method == "GET":
                return _json(self._history(parts[1], query))
            if method == "POST":
                return _json(self._created(parts[1], body))
        if parts[0] == "interactions" and parts[-1] == "callback":
            return _json({"interaction": {"id": parts[1], "type": 2,
                                                      "response_message_loading": True,
                                                      "response_message_ephemeral": True}})
        if parts[0] == "webhooks" and method == "POST":
            payload = body.get("payload_json", body) if isinstance(body, dict) else {}
            return _json(self._created("0", payload, webhook=True))
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    def _history(self, channel_id: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Discord's order: the ``limit`` messages right after ``after``, newest first."""
        after = int(query.get("after", "0"))
        limit = int(query.get("limit", "50"))
        found = sorted((m for m in self.messages.get(channel_id, []) if int(m["id"]) > after),
                       key=lambda m: int(m["id"]))[:limit]
        return list(reversed(found))

    def _created(
        self, channel_id: str, payload: Mapping[str, Any], *, webhook: bool = False
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "id": snowflake(now, next(self._ids)), "channel_id": channel_id,
            "author": user_payload(APP_ID if webhook else BOT_ID, "cohortbot", bot=True),
            "content": payload.get("content", ""), "timestamp": now.isoformat(), "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": False, "type": 0, "flags": payload.get("flags", 0),
            "nonce": payload.get("nonce"), "components": payload.get("components", []),
        }


def _json(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Exactly ``application/json``: discord.py parses a body only under that content type."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={**(headers or {}), "Content-Type": "application/json"})


async def _read_multipart(request: web.Request) -> dict[str, Any]:
    out: dict[str, Any] = {"files": {}}
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read()
        if part.name == "payload_json":
            out["payload_json"] = json.loads(data)
        else:
            out["files"][part.filename or part.name or ""] = bytes(data)
    return out
