"""A small community and a command core on a real store, for the admin, privacy and self-service tests."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from bot.admin.permissions import ManagerSettings
from bot.admin.registry import CommandCore, Services
from bot.core.clock import FrozenClock
from bot.core.events import ActorRef, CommandInvoked, Event, MessagePosted, MessageText, PlaceRef, event_uid
from bot.core.outbound import CommandReply
from bot.store import Store
from bot.store.ingest import Ingestor
from bot.store.live_models import OutboxMessage
from bot.store.models import AuditLog, SegmentAssignment

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
GUILD = "424242424242424242"
WORKSPACE = "T0WORK"
MANAGER_ID = "900000000000000900"
MANAGER_ROLE = "555000000000000555"
ALICE_DISCORD = "805306368000111111"
ALICE_MAIL = "alice.liddell@wonder.example"
BOB_SLACK = "U0BOB42"
SETTINGS = {
    "managers": [
        f"discord:{MANAGER_ID}",
        f"discord-role:{MANAGER_ROLE}",
        "slack:U0MGR",
        "mail:Boss@Example.org",
    ],
    "discord_guild": GUILD,
    "slack_workspace": WORKSPACE,
    "confirm_minutes": 30,
}
_uids = itertools.count(1)

GENERAL = PlaceRef(platform="discord", channel_id="1001", name="general", container=GUILD)
LIST = PlaceRef(platform="mail", channel_id="dev.lists.example", name="dev")
SLACK_HELP = PlaceRef(platform="slack", channel_id="C0HELP", name="help", container=WORKSPACE)

ALICE_D = ActorRef(
    "discord", ALICE_DISCORD, display_name="Alice Liddell", username="alice_l", email=ALICE_MAIL
)
ALICE_M = ActorRef("mail", ALICE_MAIL, display_name="Alice Liddell", email=ALICE_MAIL)
BOB = ActorRef("slack", BOB_SLACK, display_name="Bob Builder")
BOSS = ActorRef("discord", MANAGER_ID, display_name="Boss")


def post(actor: ActorRef, place: PlaceRef, text: str, *, at: datetime = T0) -> MessagePosted:
    n = next(_uids)
    return MessagePosted(
        uid=event_uid(actor.platform, f"m{n}"),
        actor=actor,
        place=place,
        occurred_at=at,
        text=MessageText(own=text),
        native_id=f"m{n}",
    )


def community() -> list[Event]:
    """Alice on Discord and by mail (one person: both accounts carry her address), Bob on Slack."""
    return [
        post(ALICE_D, GENERAL, "my build of the connector fails with a segfault, patch attached"),
        post(ALICE_M, LIST, "Here is a fix for the sync bug, tested on my phone"),
        post(BOB, SLACK_HELP, "how do I install it on windows?"),
        post(BOSS, GENERAL, "welcome everyone"),
    ]


def command(
    actor: ActorRef,
    name: str,
    *args: str,
    place: PlaceRef | None = None,
    roles: tuple[str, ...] = (),
    verified: bool | None = None,
    at: datetime = T0,
) -> CommandInvoked:
    if place is None:
        place = {"discord": GENERAL, "slack": SLACK_HELP, "mail": LIST}.get(
            actor.platform, PlaceRef(platform=actor.platform, channel_id="-")
        )
    return CommandInvoked(
        uid=f"cmd-{next(_uids)}",
        actor=actor,
        place=place,
        occurred_at=at,
        command=name,
        args=args,
        roles=roles,
        verified=actor.platform != "mail" if verified is None else verified,
    )


@dataclass
class World:
    store: Store
    clock: FrozenClock
    core: CommandCore
    ingestor: Ingestor

    async def ingest(self, events: list[Event]) -> None:
        async with self.store.connection() as conn:
            await self.ingestor.ingest(conn, events)

    async def run(self, event: CommandInvoked) -> CommandReply:
        # As the live pipeline does: the command's event is stored, then answered.
        await self.ingest([event])
        return await self.core.dispatch(event)

    async def member(self, platform: str, external_id: str) -> int | None:
        from bot.store.queries import member_ids_by_identity

        async with self.store.connection() as conn:
            found = await member_ids_by_identity(conn, [(platform, external_id)])
        return found.get((platform, external_id))

    async def audit(self) -> list[Any]:
        async with self.store.connection() as conn:
            return list(await conn.execute(select(AuditLog).order_by(AuditLog.id)))

    async def outbox_row(
        self, member_id: int | None, *, programme: str | None = None, status: str = "pending", **extra: Any
    ) -> int:
        n = next(_uids)
        values: dict[str, Any] = {
            "dedupe_key": f"test:{n}",
            "member_id": member_id,
            "platform": "discord",
            "kind": "dm",
            "recipient": {"user_id": ALICE_DISCORD},
            "body": {"text": "hello", "consent_scope": f"programme:{programme}" if programme else "all"},
            "template": "invitation" if programme else "welcome",
            "programme": programme,
            "lane": "broadcast",
            "destination": f"discord:dm:{n}",
            "status": status,
            "not_before": T0,
            "deliver_until": T0 + timedelta(days=2),
            "created_at": T0,
            "sent_at": T0 if status == "sent" else None,
        }
        values.update(extra)
        async with self.store.connection() as conn:
            return int(
                (
                    await conn.execute(insert(OutboxMessage).values(**values).returning(OutboxMessage.id))
                ).scalar_one()
            )

    async def assign(
        self, member_id: int, dimension: str, value: str, says: str, *, at: datetime = T0
    ) -> None:
        async with self.store.connection() as conn:
            await conn.execute(
                SegmentAssignment.__table__.update()  # type: ignore[attr-defined]
                .where(SegmentAssignment.member_id == member_id, SegmentAssignment.dimension == dimension)
                .values(current=False)
            )
            await conn.execute(
                insert(SegmentAssignment).values(
                    member_id=member_id,
                    dimension=dimension,
                    value=value,
                    confidence=0.8,
                    evidence={
                        "value": value,
                        "confidence": 0.8,
                        "evidence": [{"rule": "r", "value": value, "says": says}],
                    },
                    ruleset_version="t",
                    decided_at=at,
                    updated_at=at,
                    pinned_by=None,
                    current=True,
                )
            )


async def make_world(store: Store, **services: Any) -> World:
    clock = FrozenClock(T0)
    core = CommandCore(
        Services(store=store, clock=clock, **services), managers=ManagerSettings.from_mapping(SETTINGS)
    )
    world = World(store=store, clock=clock, core=core, ingestor=Ingestor(now=T0))
    await world.ingest(community())
    return world


def token_in(reply: CommandReply) -> str:
    found = re.search(r"confirm (\S+)", reply.text)
    assert found, reply.text
    return found.group(1)
