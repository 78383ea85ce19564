"""A fake Slack Web API (and response_url / file-upload endpoints) on 127.0.0.1, for tests.

It speaks the wire format slack_sdk speaks (form or JSON bodies, ``{"ok": ...}`` answers),
records every call with the time it arrived on a virtual clock, and can be told to answer
a method with 429 + ``Retry-After`` or with an error, so tests check what the adapter put
on the wire and when.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


class VirtualTimer:
    """The adapter's ``Timer`` on virtual time: sleeping moves the clock, never the wall clock.

    A sleeper resumes at a time no earlier than it asked for (concurrent sleepers share the
    clock, so one may resume later than asked, never earlier).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int
    token: str = ""


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlackApi:
    def __init__(self, timer: VirtualTimer | None = None, *, team_id: str = "T0TEST") -> None:
        self.timer = timer or VirtualTimer()
        self.team_id = team_id
        self.calls: list[Call] = []
        self.hooks: list[dict[str, Any]] = []  # bodies posted to response URLs
        self.uploads: list[bytes] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.member_of: list[str] = []
        self.history: dict[str, list[dict[str, Any]]] = defaultdict(list)  # channel -> messages
        self.replies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.ws_url = ""
        self._scripts: dict[str, list[_Scripted]] = defaultdict(list)
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base = ""

    # -- scripting -----------------------------------------------------------------------

    def rate_limit(self, method: str, *, times: int, retry_after: int) -> None:
        for _ in range(times):
            self._scripts[method].append(
                _Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
            )

    def fail(self, method: str, error: str, *, status: int = 200, times: int = 1) -> None:
        for _ in range(times):
            self._scripts[method].append(_Scripted(status, {"ok": False, "error": error}))

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def ok_calls(self, method: str) -> list[Call]:
        return [c for c in self.of(method) if c.status == 200]

    # -- server --------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def hook_url(self, name: str = "r1") -> str:
        return f"{self.base}/hooks/{name}"

    async def start(self) -> FakeSlackApi:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{name}", self._hook)
        app.router.add_post("/upload/{file}", self._upload)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(dict(await request.post()))
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        scripted = self._scripts[method].pop(0) if self._scripts[method] else None
        if scripted is not None:
            self.calls.append(Call(method, args, self.timer.monotonic(), scripted.status, token))
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        self.calls.append(Call(method, args, self.timer.monotonic(), 200, token))
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        body = handler(args) if handler is not None else {"ok": True}
        return web.json_response(body)

    async def _hook(self, request: web.Request) -> web.Response:
        self.hooks.append({"name": request.match_info["name"], **(await request.json())})
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        return web.Response(text="OK - 1", content_type="text/plain")

    # -- methods -------------------------------------------------------------------------

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "team_id": self.team_id,
            "team": "Test",
            "user_id": "UBOT",
            "bot_id": "BBOT",
            "user": "cohortbot",
            "url": "https://test.slack.com/",
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.ws_url}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        channel = str(args.get("channel"))
        message = {"type": "message", "user": "UBOT", "ts": ts, "text": args.get("text", "")}
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        thread = args.get("thread_ts")
        if thread:  # a reply lives in its thread, not in the channel's history
            message["thread_ts"] = thread
            self.replies.setdefault((channel, str(thread)), []).append(message)
        else:
            self.history[channel].insert(0, message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_users_conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "channels": [{"id": c} for c in self.member_of],
            "response_metadata": {"next_cursor": ""},
        }

    def _page(self, messages: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        oldest = float(args.get("oldest") or 0)
        newest_first = sorted((m for m in messages if float(m["ts"]) > oldest), key=lambda m: -float(m["ts"]))
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 100)
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._page(self.history.get(str(args.get("channel")), []), args)

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        return self._page(self.replies.get(key, []), args)

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "upload_url": f"{self.base}/upload/F1", "file_id": "F1"}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        return {"ok": True, "files": json.loads(files) if isinstance(files, str) else files}
