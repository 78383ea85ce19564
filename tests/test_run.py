"""``cohortbot run``: everything started from one root, and a clean drain on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from adapters.fake import FakeAdapter
from bot.app import build_app, run_app
from bot.core.events import ActorRef, MemberJoined, MessagePosted, MessageText, PlaceRef, event_uid
from bot.core.outbound import EventSink, OutboundMessage
from bot.settings import parse_settings
from bot.store import Store
from bot.store.live_models import OutboxMessage
from bot.store.models import Activity

REPO = Path(__file__).resolve().parents[1]


class _Listening(FakeAdapter):
    """The fake platform, telling the test when the bot has started listening to it."""

    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.listening = asyncio.Event()

    async def start(self, sink: EventSink) -> None:
        await super().start(sink)
        self.listening.set()


async def test_run_serves_events_and_drains_on_stop(store: Store) -> None:
    discord = _Listening("discord")
    delivered = asyncio.Event()

    async def on_send(message: OutboundMessage) -> None:
        delivered.set()

    discord.on_send = on_send
    settings = parse_settings({"managers": {"require_managers": False}})
    app = await build_app(settings, store=store, adapters={"discord": discord})
    stop = asyncio.Event()
    running = asyncio.create_task(run_app(app, stop=stop))
    now = datetime.now(UTC)
    ann = ActorRef("discord", "1001", display_name="Ann")
    place = PlaceRef("discord", "c1", "general", container="g1")
    await discord.listening.wait()
    await discord.inject(MemberJoined(event_uid("discord", "j1"), ann, place, now))
    pending = [
        asyncio.create_task(
            discord.inject(
                MessagePosted(
                    event_uid("discord", f"m{i}"), ann, place, now, MessageText(own="hello"), f"m{i}"
                )
            )
        )
        for i in range(20)
    ]
    await delivered.wait()  # the outbox worker, running in its own task, sent the welcome
    await asyncio.gather(*pending)
    stop.set()
    await running
    async with store.connection() as conn:
        stored = (await conn.execute(select(func.count()).select_from(Activity))).scalar_one()
        rows = (
            await conn.execute(select(OutboxMessage.template, OutboxMessage.status, OutboxMessage.not_before))
        ).all()
    assert stored == 21
    # The welcome went; anything else the policy planned waits for its time (a cooldown), not lost.
    assert [(t, st) for t, st, _ in rows if st == "sent"] == [("welcome", "sent")]
    assert all(st == "pending" and nb > now for t, st, nb in rows if st != "sent")
    assert [d.message.template for d in discord.transcript] == ["welcome"]


async def test_sigterm_stops_a_real_process_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "cohortbot.toml"
    config.write_text("[managers]\nrequire_managers = false\n", encoding="utf-8")
    env = {**os.environ, "COHORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "-v",
        "run",
        "--config",
        str(config),
        cwd=REPO,
        env=env,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    while True:  # read the log until the bot says it runs
        line = (await asyncio.wait_for(proc.stderr.readline(), timeout=60)).decode()
        assert line, f"the process ended early: {''.join(seen)}"
        seen.append(line)
        if "cohortbot is running" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = (await asyncio.wait_for(proc.stderr.read(), timeout=60)).decode()
    assert await proc.wait() == 0
    assert "stopping: finishing accepted events" in rest
    assert "Traceback" not in rest
