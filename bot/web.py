"""The bot's one HTTP server: one-click unsubscribe, invitation and solution links, health, metrics.

Every link carries a signed, expiring token (``bot.links``), so nothing here trusts the URL
beyond its signature. A GET never changes anything (mail scanners and link previews fetch
every URL in a message); it shows a page with a button that POSTs. RFC 8058 one-click
unsubscribe is a POST with ``List-Unsubscribe=One-Click`` in the body. Everything this
module needs is injected (store, clock, signer, metrics, callbacks); ``build_app`` returns
an ``aiohttp`` application the caller may extend (Slack's HTTP events) before serving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aiohttp import web
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.core.errors import BadArgument, StoreUnavailable
from bot.links import (
    INVITATION,
    SOLUTION,
    UNSUBSCRIBE,
    LinkForged,
    LinkSigner,
    parse_unsubscribe_value,
)
from bot.metrics import LANES, Metrics
from bot.store import Store
from bot.store.models import Member
from bot.store.outbox_views import depth_by_lane
from bot.store.privacy import cancel_pending, set_consent

log = logging.getLogger(__name__)

#: A health check or a scrape must answer quickly even when the database hangs.
DB_TIMEOUT = 5.0
ONE_CLICK = "One-Click"


class InvitationResponder(Protocol):
    """``messages.funnel.respond``: record an accept or decline for ``Invitation.token``."""

    async def __call__(self, conn: AsyncConnection, token: str, action: str, *, at: datetime) -> object: ...


class SolutionResponder(Protocol):
    """``messages.hero.on_confirmation``: the asker's answer to "did this solve it?"."""

    async def __call__(self, conn: AsyncConnection, token: str, solved: bool, *, at: datetime) -> object: ...


@dataclass(frozen=True, slots=True)
class WebDeps:
    store: Store
    clock: Clock
    signer: LinkSigner
    metrics: Metrics
    on_invitation: InvitationResponder | None = None
    on_solution: SolutionResponder | None = None
    title: str = "cohortbot"


_DEPS = web.AppKey("deps", WebDeps)

_STYLE = Markup(
    "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:34em;"
    "margin:3em auto;padding:0 1em;color:#1f2328;line-height:1.5}"
    "button{font-size:1em;padding:.5em 1.2em;border-radius:6px;border:1px solid #d0d7de;"
    "background:#1f6feb;color:#fff;cursor:pointer}"
)


def _page(title: str, body: Markup, *, status: int = 200, site: str = "cohortbot") -> web.Response:
    html = Markup(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        "<title>{title} · {site}</title><style>{style}</style></head>"
        "<body><h1>{title}</h1>{body}</body></html>\n"
    ).format(title=title, site=site, style=_STYLE, body=body)
    return web.Response(
        text=str(html),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _form(action_label: str, *, hidden: dict[str, str] | None = None) -> Markup:
    fields = Markup("").join(
        Markup('<input type="hidden" name="{}" value="{}">').format(k, v) for k, v in (hidden or {}).items()
    )
    return Markup('<form method="post">{}<button type="submit">{}</button></form>').format(
        fields, action_label
    )


def _link_error(exc: BadArgument, deps: WebDeps) -> web.Response:
    # A forged or altered token is refused; a damaged, expired or misplaced one is a bad request.
    status = 403 if isinstance(exc, LinkForged) else 400
    return _page(
        "This link does not work", Markup("<p>{}</p>").format(str(exc)), status=status, site=deps.title
    )


_DB_ERRORS = (OperationalError, DBAPIError, StoreUnavailable, OSError, TimeoutError)


def _unavailable(deps: WebDeps) -> web.Response:
    response = _page(
        "Please try again in a few minutes",
        Markup("<p>We could not record this just now. Nothing was changed.</p>"),
        status=503,
        site=deps.title,
    )
    response.headers["Retry-After"] = "120"
    return response


def _scope_phrase(scope: str) -> str:
    if scope == "all":
        return "all messages from this bot"
    if scope == "digest":
        return "the weekly digest"
    return "messages about " + scope.removeprefix("programme:")


# -- unsubscribe (RFC 8058) ----------------------------------------------------------------


def _unsubscribe_token(request: web.Request, deps: WebDeps) -> tuple[int, str]:
    _, value = deps.signer.verify(request.match_info["token"], now=deps.clock.now(), kind=UNSUBSCRIBE)
    return parse_unsubscribe_value(value)


async def unsubscribe_page(request: web.Request) -> web.Response:
    """GET: say what the button will do, change nothing (scanners and previews fetch links)."""
    deps = request.app[_DEPS]
    try:
        _, scope = _unsubscribe_token(request, deps)
    except BadArgument as exc:
        return _link_error(exc, deps)
    body = Markup("<p>Stop {}?</p>{}").format(
        _scope_phrase(scope), _form("Unsubscribe", hidden={"List-Unsubscribe": ONE_CLICK, "via": "page"})
    )
    return _page("Unsubscribe", body, site=deps.title)


async def unsubscribe(request: web.Request) -> web.Response:
    """POST: record the opt-out (and cancel what was waiting to go out under it)."""
    deps = request.app[_DEPS]
    try:
        member_id, scope = _unsubscribe_token(request, deps)
    except BadArgument as exc:
        return _link_error(exc, deps)
    form = await request.post()
    if form.get("List-Unsubscribe") != ONE_CLICK:
        return _page(
            "Nothing was changed",
            Markup(
                "<p>This address unsubscribes with a POST of <code>List-Unsubscribe=One-Click</code>.</p>"
            ),
            status=400,
            site=deps.title,
        )
    source = "web:unsubscribe-page" if form.get("via") == "page" else "mail:one-click"
    now = deps.clock.now()
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.store.connection() as conn:
            if await conn.scalar(select(Member.id).where(Member.id == member_id)) is not None:
                await set_consent(conn, member_id, scope, "out", source=source, at=now)
                cancelled = await cancel_pending(
                    conn, member_id, scope=scope, reason=f"opt-out via {source}", at=now
                )
                log.info(
                    "opt-out by link", extra={"member_id": member_id, "scope": scope, "cancelled": cancelled}
                )
    except _DB_ERRORS:
        log.warning("unsubscribe not recorded: database unavailable", exc_info=True)
        return _unavailable(deps)
    # An erased member has nothing left to unsubscribe: the answer is the same.
    return _page(
        "You are unsubscribed",
        Markup("<p>You will not get {} any more.</p>").format(_scope_phrase(scope)),
        site=deps.title,
    )


# -- invitation and solution-check links ---------------------------------------------------

_INVITATION_TEXT = {
    "accept": ("Accept the invitation?", "Accept", "Thank you: you are in. We will be in touch."),
    "decline": ("Decline the invitation?", "Decline", "Understood: we will not invite you to this again."),
}
_SOLUTION_TEXT = {
    "solved": (
        "Did the answer solve your question?",
        "Yes, it solved it",
        "Thank you: we let the helper know.",
    ),
    "not-solved": ("The answer did not solve it?", "No, not yet", "Thank you for telling us."),
}


async def _link_page(
    request: web.Request, kind: str, texts: dict[str, tuple[str, str, str]], key: str
) -> web.Response:
    deps = request.app[_DEPS]
    try:
        deps.signer.verify(request.match_info["token"], now=deps.clock.now(), kind=kind)
    except BadArgument as exc:
        return _link_error(exc, deps)
    title, button, _ = texts[request.match_info[key]]
    return _page(title, _form(button), site=deps.title)


async def _link_act(
    request: web.Request,
    kind: str,
    texts: dict[str, tuple[str, str, str]],
    key: str,
    act: Callable[[AsyncConnection, str, str, datetime], Awaitable[object]] | None,
) -> web.Response:
    deps = request.app[_DEPS]
    now = deps.clock.now()
    try:
        _, value = deps.signer.verify(request.match_info["token"], now=now, kind=kind)
    except BadArgument as exc:
        return _link_error(exc, deps)
    if act is None:
        return _page("Not available", Markup("<p>This bot does not take these answers here.</p>"), status=404)
    choice = request.match_info[key]
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.store.connection() as conn:
            await act(conn, value, choice, now)
    except BadArgument as exc:
        return _page("Nothing was changed", Markup("<p>{}</p>").format(str(exc)), status=400, site=deps.title)
    except _DB_ERRORS:
        log.warning("%s link not recorded: database unavailable", kind, exc_info=True)
        return _unavailable(deps)
    return _page(texts[choice][0].rstrip("?"), Markup("<p>{}</p>").format(texts[choice][2]), site=deps.title)


async def invitation_page(request: web.Request) -> web.Response:
    """The confirmation page; showing it records that the invitation was opened (the funnel's
    "opened" stage), never an answer: accepting or declining takes the page's POST."""
    deps = request.app[_DEPS]
    if deps.on_invitation is not None:
        now = deps.clock.now()
        with contextlib.suppress(BadArgument, *_DB_ERRORS):
            _, value = deps.signer.verify(request.match_info["token"], now=now, kind=INVITATION)
            async with asyncio.timeout(DB_TIMEOUT), deps.store.connection() as conn:
                await deps.on_invitation(conn, value, "open", at=now)
    return await _link_page(request, INVITATION, _INVITATION_TEXT, "action")


async def invitation_answer(request: web.Request) -> web.Response:
    respond = request.app[_DEPS].on_invitation

    async def act(conn: AsyncConnection, token: str, action: str, at: datetime) -> object:
        assert respond is not None
        return await respond(conn, token, action, at=at)

    return await _link_act(request, INVITATION, _INVITATION_TEXT, "action", act if respond else None)


async def solution_page(request: web.Request) -> web.Response:
    return await _link_page(request, SOLUTION, _SOLUTION_TEXT, "answer")


async def solution_answer(request: web.Request) -> web.Response:
    confirm = request.app[_DEPS].on_solution

    async def act(conn: AsyncConnection, token: str, answer: str, at: datetime) -> object:
        assert confirm is not None
        return await confirm(conn, token, answer == "solved", at=at)

    return await _link_act(request, SOLUTION, _SOLUTION_TEXT, "answer", act if confirm else None)


# -- health and metrics --------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 (with the reason) when it does not."""
    deps = request.app[_DEPS]
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach it is "unreachable"
        log.warning("health check: database unreachable: %s", exc.__class__.__name__)
        return web.json_response(
            {"status": "unavailable", "database": "unreachable", "error": exc.__class__.__name__}, status=503
        )
    return web.json_response({"status": "ok", "database": "ok"})


async def _refresh_outbox_depth(deps: WebDeps) -> None:
    depth = dict.fromkeys(LANES, 0)
    async with asyncio.timeout(DB_TIMEOUT), deps.store.engine.connect() as conn:
        depth.update(await depth_by_lane(conn))
    for lane, count in depth.items():
        deps.metrics.set_outbox_depth(lane, count)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the outbox depth is read from the database at scrape time."""
    deps = request.app[_DEPS]
    try:
        await _refresh_outbox_depth(deps)
    except _DB_ERRORS:
        log.debug("metrics: outbox depth not refreshed (database unavailable)")
    return web.Response(body=deps.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("web handler failed", extra={"path": request.path})
        return _page(
            "Something went wrong", Markup("<p>Nothing was changed. Please try later.</p>"), status=500
        )


def build_app(deps: WebDeps) -> web.Application:
    """The routes, with their dependencies; add more routes before serving if needed."""
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
    app[_DEPS] = deps
    app.router.add_get("/unsubscribe/{token}", unsubscribe_page)
    app.router.add_post("/unsubscribe/{token}", unsubscribe)
    app.router.add_get("/invitation/{token}/{action:accept|decline}", invitation_page)
    app.router.add_post("/invitation/{token}/{action:accept|decline}", invitation_answer)
    app.router.add_get("/solution/{token}/{answer:solved|not-solved}", solution_page)
    app.router.add_post("/solution/{token}/{answer:solved|not-solved}", solution_answer)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


class WebServer:
    """Serves an application on ``host:port`` (port 0: any free port, see ``port`` after start)."""

    def __init__(self, app: web.Application, *, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        self._host = host
        self._port = port
        self._bound: int | None = None

    @property
    def port(self) -> int:
        if self._bound is None:
            raise RuntimeError("the web server is not started")
        return self._bound

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._bound = int(self._runner.addresses[0][1])
        log.info("web server listening on %s:%d", self._host, self._bound)

    async def stop(self) -> None:
        await self._runner.cleanup()
        self._bound = None

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
