"""The composition root: builds every part from the configuration, wires them, owns every task.

Nothing else constructs collaborators for anybody: the pipeline, the outbox worker, the
command core, the web server, the scheduler and the adapters get what they need here,
and ``run`` owns their tasks. On SIGTERM the order is the reverse of the data flow:
adapters stop taking events, the pipeline finishes what it accepted, the worker finishes
the send in hand, then the database closes.

``simulate`` and the tests build the same object with recorders instead of platforms and
a virtual clock, so what they exercise is this wiring, not a copy of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import LiveAdapter
from bot import timers
from bot.admin.permissions import ManagerSettings
from bot.admin.registry import CommandCore, Services
from bot.collector import tune_collector
from bot.core.clock import Clock, SystemClock
from bot.core.errors import ConfigurationError
from bot.core.events import ActionClicked, CommandInvoked, Event, MessagePosted
from bot.core.outbound import CommandReply, Recipient
from bot.interactions import BOUNCE, COMPLAINT, first_time, handle_click
from bot.links import LinkSigner
from bot.metrics import Metrics
from bot.outbox_worker import OutboxWorker
from bot.pipeline import Batch, Pipeline
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.store import Store, open_store
from bot.store.models import Identity
from bot.store.outbox import NewMessage, enqueue
from bot.store.outbox_views import ERASURE_NOTICE
from bot.web import WebDeps, WebServer
from bot.web import build_app as build_web
from bot.wiring import build_adapter, mark_unreachable, scrub_erasure_notice
from messages import funnel
from messages.digest.service import DigestService
from messages.digest.settings import DigestSettings
from messages.hero import Hero
from messages.planner import Planner
from messages.points import Points
from messages.programmes import Catalogue, load_catalogue
from messages.templates import Renderer
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

log = logging.getLogger(__name__)

@dataclass
class App:
    """Everything one bot process runs, built by :func:`build_app`."""

    settings: Settings
    store: Store
    clock: Clock
    engine: SegmentationEngine
    catalogue: Catalogue
    renderer: Renderer
    planner: Planner
    hero: Hero
    points: Points
    core: CommandCore
    worker: OutboxWorker
    pipeline: Pipeline
    metrics: Metrics
    adapters: dict[str, LiveAdapter] = field(default_factory=dict)
    signer: LinkSigner | None = None
    digest: DigestService | None = None
    web: WebServer | None = None
    _owns_store: bool = True

    # -- the pipeline's decision steps (one transaction per batch, with their outbox rows) --

    async def _hero_step(self, conn: AsyncConnection, batch: Batch) -> None:
        await self.hero.on_messages(conn, batch.events, now=batch.now)

    async def _points_step(self, conn: AsyncConnection, batch: Batch) -> None:
        uids = [e.uid for e in batch.events if isinstance(e, MessagePosted)]
        if uids:
            await self.points.on_activities(conn, uids, now=batch.now)

    async def _plan_step(self, conn: AsyncConnection, batch: Batch) -> None:
        """Members whose segmentation moved are put before the policy at once; everyone else is
        reconsidered by the periodic sweep (a cooldown or a cap window that ran out)."""
        if batch.moved:
            await self.planner.plan(conn, batch.moved, now=batch.now)

    def _count_batch(self, batch: Batch) -> None:
        per_platform: dict[str, int] = {}
        for event in batch.events:
            platform = getattr(getattr(event, "actor", None), "platform", "unknown")
            per_platform[platform] = per_platform.get(platform, 0) + 1
        for platform, count in per_platform.items():
            self.metrics.ingested(platform, count)
        # Members whose segmentation moved (a dimension changed value); per-segment counts are
        # in the weekly digest's movements.
        self.metrics.segment_changed("any", len(batch.moved))

    async def sweep(self) -> int:
        """Everyone before the policy again, overdue invitations expired (see ``bot.timers``)."""
        return await timers.sweep(self)

    # -- commands: answered in place, or by e-mail where the platform has no in-place reply ----

    async def on_command(self, event: Event) -> CommandReply:
        assert isinstance(event, CommandInvoked)
        async with self.store.connection() as conn:
            fresh = await first_time(conn, event.uid, self.clock.now())
        if not fresh:  # a retried delivery of a command already answered (a repeated merge would fail)
            return CommandReply("Already done.")
        adapter = self.adapters.get(event.actor.platform)
        by_mail = adapter is not None and not adapter.capabilities.immediate_replies
        known = by_mail and await self._known(event)
        reply = await self.core.dispatch(event)
        if by_mail:
            # Erased by this very command: the confirmation is the one mail still owed to them.
            erased = known and not await self._known(event)
            await self._reply_by_mail(
                event,
                reply,
                subject=f"Re: {event.command}",
                template=ERASURE_NOTICE if erased else "command_reply",
            )
        return reply

    async def _known(self, event: CommandInvoked) -> bool:
        key = event.actor.external_id.strip().lower()
        async with self.store.connection() as conn:
            found = await conn.execute(
                select(Identity.id).where(
                    Identity.platform == event.actor.platform, Identity.external_id == key
                )
            )
            return found.first() is not None

    async def _reply_by_mail(
        self,
        event: CommandInvoked | ActionClicked,
        reply: CommandReply,
        *,
        subject: str,
        template: str = "command_reply",
    ) -> None:
        address = event.actor.email or event.actor.external_id
        message = NewMessage(
            dedupe_key=f"reply:{event.uid}",
            platform=event.actor.platform,
            kind="email",
            to=Recipient(email=address, display_name=event.actor.display_name),
            text=reply.text,
            subject=subject,
            template=template,
            lane="interactive",
            consent_scope=None,  # the answer to their own command, even after "optout all"
        )
        async with self.store.connection() as conn:
            await enqueue(conn, [message], now=self.clock.now())
        self.worker.wake()

    async def on_click(self, event: Event) -> CommandReply:
        assert isinstance(event, ActionClicked)
        reply = await handle_click(event, store=self.store, clock=self.clock, hero=self.hero)
        adapter = self.adapters.get(event.actor.platform)
        quiet = event.action.lower() in (BOUNCE, COMPLAINT)  # reports from mail servers: never answered
        if adapter is not None and not adapter.capabilities.immediate_replies and not quiet:
            await self._reply_by_mail(event, reply, subject=f"Re: {event.action}")
        return reply

    # -- lifecycle ----------------------------------------------------------------------------

    def scheduler(self) -> Scheduler:
        """The timed jobs: the weekly digest and the policy sweep (see ``bot.timers``)."""
        return timers.scheduler_for(self)

    async def start_web(self) -> None:
        """The one aiohttp server: links members click, health and metrics."""
        if not self.settings.web.enabled:
            if any(getattr(a, "routes", lambda: [])() for a in self.adapters.values()):
                raise ConfigurationError("Slack in HTTP mode needs the web server: set [web] enabled = true")
            return
        if self.signer is None:
            raise ConfigurationError("the web server needs the link secret (see secret_env)")
        deps = WebDeps(
            store=self.store,
            clock=self.clock,
            signer=self.signer,
            metrics=self.metrics,
            on_invitation=funnel.respond,
            on_solution=self.hero.on_confirmation,
        )
        web_app = build_web(deps)
        for adapter in self.adapters.values():
            routes = getattr(adapter, "routes", None)  # Slack's HTTP events, on the same server
            if routes is not None:
                web_app.add_routes(routes())
        self.web = WebServer(web_app, host=self.settings.web.host, port=self.settings.web.port)
        await self.web.start()
        log.info("web server listening on %s", self.web.url)

    async def start_adapters(self) -> None:
        for name, adapter in self.adapters.items():
            log.info("starting the %s adapter", name)
            await adapter.start(self.pipeline.sink)

    async def shutdown(self) -> None:
        """The drain: stop listening, finish what was accepted, finish sending, close."""
        for name, adapter in reversed(list(self.adapters.items())):
            with contextlib.suppress(Exception):
                await adapter.stop()
                log.info("stopped the %s adapter", name)
        await self.pipeline.close()
        await self.worker.stop()
        if self.web is not None:
            await self.web.stop()
        if self._owns_store:
            await self.store.close()


async def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    adapters: Mapping[str, LiveAdapter] | None = None,
    store: Store | None = None,
    worker_id: str | None = None,
    registry: CollectorRegistry | None = None,
    managers_required: bool = True,
) -> App:
    """Build every part. ``adapters`` replaces the configured platforms (simulate, tests).

    ``managers_required=False`` lets a configuration without a ``[managers]`` table through
    (simulate, the demo): then only the CLI acts as a manager.
    """
    clock = clock or SystemClock()
    owns_store = store is None
    if store is None:
        store = await open_store(settings.database_url)
    # A long-running process of small commits: checkpoints go to a thread of their own.
    store.keep_wal_short()
    try:
        return await _build(
            settings, store, clock, adapters, worker_id, registry, owns_store, managers_required
        )
    except BaseException:
        if owns_store:
            await store.close()
        raise


async def _build(
    settings: Settings,
    store: Store,
    clock: Clock,
    adapters: Mapping[str, LiveAdapter] | None,
    worker_id: str | None,
    registry: CollectorRegistry | None,
    owns_store: bool,
    managers_required: bool,
) -> App:
    config = load_config(settings.rules, known_rules=RULE_NAMES)
    engine = SegmentationEngine(store, config=config, clock=clock, parallel_threshold=10**12)
    catalogue = load_catalogue(settings.programmes, segments=list(config.segments))
    renderer = Renderer()
    signer = _signer(settings)
    links = signer.button_url if signer is not None else None
    planner = Planner(catalogue, renderer=renderer, links=links)
    hero = Hero(catalogue, renderer=renderer, links=links)
    points = Points(catalogue)
    metrics = Metrics(registry or CollectorRegistry())
    chosen = dict(adapters) if adapters is not None else await _configured_adapters(settings, store, clock)
    worker = OutboxWorker(
        store,
        chosen,
        clock=clock,
        worker_id=worker_id or f"{socket.gethostname()}/outbox",
        on_sent=[funnel.on_sent, scrub_erasure_notice],
        on_dead=[mark_unreachable],
        metrics=metrics,
    )
    table = dict(settings.managers)
    if not managers_required and not table:
        table = {"require_managers": False}
    managers = ManagerSettings.from_mapping(table)
    digest = DigestService(
        store,
        config=config,
        catalogue=catalogue,
        settings=DigestSettings.from_mapping(settings.digest),
        tz=ZoneInfo(settings.timezone),
        clock=clock,
        holder=worker_id or f"{socket.gethostname()}/digest",
    )
    services = Services(
        store=store,
        clock=clock,
        segmentation=engine,
        catalogue=catalogue,
        planner=planner,
        renderer=renderer,
        digest=digest,
        wake_outbox=worker.wake,
        timezone=settings.timezone,
    )
    core = CommandCore(services, managers=managers)
    app = App(
        settings=settings,
        store=store,
        clock=clock,
        engine=engine,
        catalogue=catalogue,
        renderer=renderer,
        planner=planner,
        hero=hero,
        points=points,
        core=core,
        worker=worker,
        pipeline=None,  # type: ignore[arg-type]  # set just below: the steps are the app's methods
        metrics=metrics,
        adapters=chosen,
        signer=signer,
        digest=digest,
        _owns_store=owns_store,
    )
    app.pipeline = Pipeline(
        store,
        engine=engine,
        clock=clock,
        after=[app._hero_step, app._points_step, app._plan_step],
        on_command=app.on_command,
        on_click=app.on_click,
        on_committed=worker.wake,
        on_enqueued=worker.nudge,
        on_batch=app._count_batch,
    )
    return app


async def _configured_adapters(settings: Settings, store: Store, clock: Clock) -> dict[str, LiveAdapter]:
    """The platforms named in the configuration file, each built from its own section."""
    return {
        name: await build_adapter(name, section, store=store, clock=clock)
        for name, section in settings.enabled_adapters().items()
    }


async def run_app(app: App, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``), then drain in order."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tune_collector()  # the start-up heap is built: freeze it, make full collections rare
    worker_task = asyncio.create_task(app.worker.run(), name="outbox-worker")
    scheduler = app.scheduler()
    scheduler_task = asyncio.create_task(scheduler.run(), name="scheduler")
    try:
        await app.start_web()
        await app.start_adapters()
        log.info("cohortbot is running with %s", ", ".join(app.adapters) or "no adapters")
        await stop.wait()
        log.info("stopping: finishing accepted events and the send in hand")
    finally:
        await scheduler.stop()
        await app.shutdown()
        for task in (scheduler_task, worker_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await scheduler.close()


def _signer(settings: Settings) -> LinkSigner | None:
    """Signed links need the secret; without one (simulate, the demo) messages carry buttons only."""
    try:
        secret = settings.secret()
    except ConfigurationError:
        if settings.web.enabled:
            raise
        return None
    return LinkSigner(secret, settings.web.public_url)
