"""``cohortbot simulate``: the whole live bot on recorded events, on virtual time (design section 7).

The app is built by the same composition root as ``cohortbot run``; only the platforms are
replaced by recorders (the fake adapter) and the clock follows the events. Events go
through the pipeline in the order given; before each batch the clock is set to the
batch's last event, and after it the outbox worker drains whatever is due by then —
so quiet hours, rate limits and retries play out as they would, without waiting.
Every message that would leave is one JSON line on the output; so is each answer to a
command or click, which on a chat platform leaves as an ephemeral reply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any

import orjson

from adapters.fake import FakeAdapter
from bot.app import App, build_app
from bot.collector import tune_collector
from bot.core.clock import FrozenClock
from bot.core.errors import BadArgument
from bot.core.events import ActionClicked, CommandInvoked, Event
from bot.core.outbound import Capabilities, CommandReply
from bot.settings import Settings
from bot.sim_events import action_line, parse_line
from bot.store import Store

log = logging.getLogger(__name__)

#: What each recorder accepts: what the real adapter declares, so rendering and replies take the same path.
CAPABILITIES = {
    "discord": Capabilities("discord", buttons=True, max_length=2000, idempotent_send=True),
    "slack": Capabilities("slack", buttons=True, blocks=True, max_length=40_000),
    "mail": Capabilities("mail", html=True, max_length=1_000_000, immediate_replies=False),
}


@dataclass(slots=True)
class SimulationReport:
    events: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    actions: int = 0
    seconds: float = 0.0
    #: Seconds from an event entering the pipeline to the commit of what it caused, per event.
    latencies: list[float] = field(default_factory=list)
    #: The same for the events of batches that enqueued a message.
    enqueuing_latencies: list[float] = field(default_factory=list)


class Simulation:
    """The app with recorders, fed batch by batch; the CLI, the demo, tests and the benchmark drive it."""

    def __init__(self, app: App, clock: FrozenClock, recorders: dict[str, FakeAdapter], out: IO[str] | None):
        self.app = app
        self.clock = clock
        self.recorders = recorders
        self.out = out
        self.report = SimulationReport()
        self.actions: list[dict[str, Any]] = []
        self._seen = {name: 0 for name in recorders}
        self._swept: date | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        out: IO[str] | None = None,
        start: datetime | None = None,
        keep_latencies: bool = False,
    ) -> Simulation:
        clock = FrozenClock(start or datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
        recorders = {
            name: FakeAdapter(name, capabilities=caps, clock=clock) for name, caps in CAPABILITIES.items()
        }
        app = await build_app(
            settings,
            clock=clock,
            adapters=recorders,
            store=store,
            worker_id="simulate/outbox",
            managers_required=False,
        )
        app.pipeline.keep_latencies = keep_latencies
        await app.start_adapters()
        tune_collector()  # as ``run_app`` does: simulate is the live bot on recorded events
        return cls(app, clock, recorders, out)

    async def feed(self, events: list[Event]) -> None:
        """One batch: the clock moves to its last event, the pipeline runs it, the outbox drains."""
        if not events:
            return
        last = max(e.occurred_at for e in events)
        if last > self.clock.now():
            self.clock.set(last)
        replies = await self.app.pipeline.process(events)
        if self._swept is None or last.date() > self._swept:
            self._swept = last.date()  # the live bot sweeps every few hours; here once a virtual day
            await self.app.sweep()
        self.report.events += len(events)
        for event, reply in zip(events, replies, strict=True):
            if reply is not None and isinstance(event, CommandInvoked | ActionClicked):
                self._reply(event, reply)
        await self._drain_if_due()
        self._collect()

    async def _drain_if_due(self) -> None:
        """Drain only when the worker may have something to do by the virtual clock.

        The live worker sleeps until woken by an enqueue or until the next due time it
        computed; ``drain_due`` is the same rule, so a batch that made nothing due costs
        nothing here.
        """
        await self.app.worker.drain_due(until=self.clock.now())

    def _reply(self, event: CommandInvoked | ActionClicked, reply: CommandReply) -> None:
        caps = CAPABILITIES.get(event.actor.platform)
        if caps is not None and not caps.immediate_replies:
            return  # it leaves as an e-mail through the outbox, and is written when sent
        self._emit(
            {
                "ts": _z(self.clock.now()),
                "platform": event.actor.platform,
                "kind": "reply",
                "to": {"user_id": event.actor.external_id},
                "text": reply.text,
                "template": "command_reply",
                "dedupe_key": f"reply:{event.uid}",
            }
        )

    def _collect(self) -> None:
        fresh = []
        for name, recorder in self.recorders.items():
            new = recorder.transcript[self._seen[name] :]
            self._seen[name] = len(recorder.transcript)
            fresh.extend(new)
        fresh.sort(key=lambda d: (d.at, d.message.outbox_id))
        for delivery in fresh:
            self._emit(action_line(delivery.message, at=delivery.at))

    def _emit(self, line: dict[str, Any]) -> None:
        self.actions.append(line)
        self.report.actions += 1
        if self.out is not None:
            self.out.write(orjson.dumps(line).decode() + "\n")

    async def close(self) -> SimulationReport:
        await self.app.worker.drain(until=self.clock.now())
        self._collect()
        self.report.latencies = list(self.app.pipeline.stats.latencies)
        self.report.enqueuing_latencies = list(self.app.pipeline.stats.enqueuing_latencies)
        await self.app.shutdown()
        return self.report


def _z(at: datetime) -> str:
    return orjson.dumps(at).decode().strip('"').replace("+00:00", "Z")


async def simulate(
    lines: Iterable[str | bytes],
    *,
    settings: Settings,
    store: Store | None = None,
    out: IO[str] | None = None,
    batch: int = 64,
    window: timedelta = timedelta(seconds=60),
    keep_latencies: bool = False,
) -> tuple[SimulationReport, list[dict[str, Any]]]:
    """Run input lines to the end; malformed lines are reported (line number, reason) and skipped.

    A batch holds at most ``batch`` events spanning at most ``window`` of virtual time: the
    whole batch is decided at its last event's time, so the window bounds how far "now"
    can be off for the first (a welcome is never planned an hour after the join).
    """
    started = time.perf_counter()
    sim: Simulation | None = None
    pending: list[Event] = []
    report_rejected: list[tuple[int, str]] = []
    container = _containers(settings)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = parse_line(line, container=container)
        except BadArgument as exc:
            report_rejected.append((number, str(exc)))
            log.warning("input line %d skipped: %s", number, exc)
            continue
        if sim is None:
            sim = await Simulation.open(
                settings, store=store, out=out, start=event.occurred_at, keep_latencies=keep_latencies
            )
        interactive = isinstance(event, CommandInvoked | ActionClicked)
        if pending and (
            interactive
            or len(pending) >= batch
            or event.occurred_at < pending[-1].occurred_at
            or event.occurred_at - pending[0].occurred_at > window
        ):
            await sim.feed(pending)
            pending = []
        pending.append(event)
        if interactive:
            await sim.feed(pending)
            pending = []
    if sim is None:  # an empty input: nothing to run
        return SimulationReport(rejected=report_rejected, seconds=time.perf_counter() - started), []
    await sim.feed(pending)
    report = await sim.close()
    report.rejected = report_rejected
    report.seconds = time.perf_counter() - started
    return report, sim.actions


def _containers(settings: Settings) -> dict[str, str]:
    """Simulated chat events come from the configured server/workspace, so managers' commands work."""
    managers = settings.managers
    out = {"discord": "simulated", "slack": "simulated", "mail": ""}
    if managers.get("discord_guild"):
        out["discord"] = str(managers["discord_guild"])
    if managers.get("slack_workspace"):
        out["slack"] = str(managers["slack_workspace"])
    return out
