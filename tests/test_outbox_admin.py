"""``admin outbox status|dead|retry`` through the real command core, on a real outbox."""

from __future__ import annotations

import random

from outbox_support import T0, dm, put

from adapters.fake import FakeAdapter
from bot.admin import commands_outbox
from bot.admin.permissions import ManagerSettings
from bot.admin.registry import CommandCore, Registry, Services
from bot.core.clock import FrozenClock
from bot.core.errors import PermanentSendError
from bot.core.events import ActorRef, CommandInvoked, PlaceRef
from bot.outbox_worker import OutboxWorker, RateLimits
from bot.store import Store

GUILD = "4242"
BOSS = ActorRef("discord", "900", display_name="Boss")
HERE = PlaceRef(platform="discord", channel_id="1001", name="general", container=GUILD)


def admin(*args: str) -> CommandInvoked:
    return CommandInvoked(
        uid=f"cmd-{'-'.join(args)}",
        actor=BOSS,
        place=HERE,
        occurred_at=T0,
        command="admin",
        args=("outbox", *args),
        verified=True,
    )


async def test_status_dead_and_retry_of_a_dead_letter(store: Store) -> None:
    clock = FrozenClock(T0)
    woken: list[bool] = []
    registry = Registry()
    commands_outbox.register(registry)
    core = CommandCore(
        Services(store=store, clock=clock, wake_outbox=lambda: woken.append(True)),
        managers=ManagerSettings(managers=("discord:900",), discord_guild=GUILD),
        registry=registry,
    )
    discord = FakeAdapter("discord", clock=clock)
    discord.fail_for("refused", PermanentSendError("50007 cannot send messages to this user"))
    [dead_id, sent_id] = await put(store, dm("refused"), dm("fine", user="u2"))
    worker = OutboxWorker(
        store,
        {"discord": discord},
        clock=clock,
        worker_id="w",
        limits=RateLimits.unlimited(),
        rng=random.Random(1),
    )
    await worker.drain()

    status = await core.dispatch(admin("status"))
    assert status.ok and "0 waiting" in status.text and "1 sent, 1 dead" in status.text

    dead = await core.dispatch(admin("dead"))
    assert f"#{dead_id} discord" in dead.text and "permanent: 50007 cannot send messages" in dead.text

    not_dead = await core.dispatch(admin("retry", str(sent_id)))
    assert not not_dead.ok and "is sent, not dead" in not_dead.text
    bad = await core.dispatch(admin("retry", "x1"))
    assert not bad.ok and "usage:" in bad.text

    again = await core.dispatch(admin("retry", f"#{dead_id}"))
    assert again.ok and "queued again" in again.text and woken == [True]
    assert await worker.drain() == 1
    assert discord.sent_keys() == ["fine", "refused"]
    assert "No dead letters." in (await core.dispatch(admin("dead"))).text


async def test_members_cannot_read_the_outbox(store: Store) -> None:
    registry = Registry()
    commands_outbox.register(registry)
    core = CommandCore(
        Services(store=store, clock=FrozenClock(T0)),
        managers=ManagerSettings(managers=("discord:900",), discord_guild=GUILD),
        registry=registry,
    )
    someone = CommandInvoked(
        uid="cmd-x",
        actor=ActorRef("discord", "123"),
        place=HERE,
        occurred_at=T0,
        command="admin",
        args=("outbox", "dead"),
        verified=True,
    )
    reply = await core.dispatch(someone)
    assert not reply.ok and "cannot run managers' commands" in reply.text
