"""Exactly one digest per ISO week: claim the week's DigestRun, build, enqueue, mark sent — once.

The unique ``period_key`` is the lock: whoever inserts the week's row builds it; a second
scheduler's insert fails and it walks away. A run left "building" by a process that died
is taken over once its ``started_at`` is older than ``stale_after`` (a compare-and-swap on
holder and started_at, so two rescuers cannot both win). The digest's outbox rows and
the status "sent" are written in one transaction, and the outbox's ``dedupe_key``
(``digest:<week>:<destination>``) refuses a second copy anyway, so neither a crash nor a
race can send a week twice. After downtime ``run_due`` catches up: by default only the
most recent completed week, or every missed week with ``catch_up = "each"``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.clock import Clock
from bot.core.outbound import Recipient
from bot.store import Store
from bot.store.live_models import Consent, DigestRun
from bot.store.models import Identity, Member
from bot.store.outbox import NewMessage, destination, enqueue
from messages.digest.build import build_digest
from messages.digest.model import Digest
from messages.digest.render import render_discord, render_slack
from messages.digest.render_html import render_email
from messages.digest.settings import DigestSettings
from messages.digest.weeks import Week, last_completed_week, parse_week, week_of, weeks_between
from segmentation.config import SegmentationConfig

log = logging.getLogger(__name__)

Outcome = Literal["sent", "already-sent", "busy", "lost"]


@dataclass(frozen=True, slots=True)
class RunResult:
    week: str
    outcome: Outcome
    enqueued: int = 0


class _LostClaim(Exception):
    """Another holder took the week over while we built it; our transaction rolls back."""


def dedupe_key(week: str, platform: str, to: Recipient, part: int = 1) -> str:
    base = f"digest:{week}:{destination(platform, to)}"
    return base if part == 1 else f"{base}:part{part}"


class DigestService:
    """Builds and sends weekly digests; the scheduler calls ``run_due``, managers ``send_now``."""

    def __init__(
        self,
        store: Store,
        *,
        config: SegmentationConfig,
        catalogue: Any,
        settings: DigestSettings,
        tz: tzinfo,
        clock: Clock,
        holder: str,
    ) -> None:
        self.store = store
        self.config = config
        self.catalogue = catalogue
        self.settings = settings
        self.tz = tz
        self.clock = clock
        self.holder = holder[:64]

    def week(self, text: str | None = None) -> Week:
        """The named week, or the last completed one."""
        return parse_week(text) if text else last_completed_week(self.clock.now(), self.tz)

    async def preview(self, week: str | None = None) -> Digest:
        """Build without claiming or sending: what the week's digest says right now."""
        async with self.store.connection() as conn:
            return await self._build(conn, self.week(week))

    async def run_due(self) -> list[RunResult]:
        """The scheduler's job: send every completed week that is due and not sent yet."""
        latest = last_completed_week(self.clock.now(), self.tz)
        if self.settings.catch_up == "latest":
            return [await self.run_week(latest)]
        # Every week since the last one sent (never more than catch_up_weeks); a first run ever
        # sends only the latest week rather than a backlog nobody asked for.
        async with self.store.connection() as conn:
            sent = set(
                (await conn.execute(select(DigestRun.period_key).where(DigestRun.status == "sent"))).scalars()
            )
        earliest = latest.shifted(-(max(self.settings.catch_up_weeks, 1) - 1))
        first = max(earliest, parse_week(max(sent)).shifted(1)) if sent else latest
        return [await self.run_week(w) for w in weeks_between(first, latest) if str(w) not in sent]

    async def send_now(self, week: str | None = None) -> RunResult:
        return await self.run_week(self.week(week))

    async def run_week(self, week: Week) -> RunResult:
        key = str(week)
        if week >= week_of(self.clock.now(), self.tz):
            raise ValueError(f"week {key} has not ended yet")
        claimed = await self._claim(key)
        if claimed != "sent":
            return RunResult(key, claimed)
        try:
            async with self.store.connection() as conn:
                digest = await self._build(conn, week)
                messages = await self._messages(conn, digest)
                ids = await enqueue(conn, messages, now=self.clock.now())
                done = await conn.execute(
                    update(DigestRun)
                    .where(
                        DigestRun.period_key == key,
                        DigestRun.holder == self.holder,
                        DigestRun.status == "building",
                    )
                    .values(status="sent", finished_at=self.clock.now(), content=digest.to_json())
                )
                if done.rowcount != 1:
                    raise _LostClaim(key)
        except _LostClaim:
            log.warning("digest %s: another scheduler took over while this one built it", key)
            return RunResult(key, "lost")
        enqueued = sum(1 for i in ids if i is not None)
        log.info("digest %s sent: %d messages enqueued", key, enqueued)
        return RunResult(key, "sent", enqueued)

    async def _claim(self, key: str) -> Outcome:
        now = self.clock.now()
        try:
            async with self.store.connection() as conn:
                await conn.execute(
                    insert(DigestRun).values(
                        period_key=key, status="building", holder=self.holder, started_at=now
                    )
                )
            return "sent"  # ours to build
        except IntegrityError:
            pass
        async with self.store.connection() as conn:
            row = (
                await conn.execute(
                    select(DigestRun.status, DigestRun.holder, DigestRun.started_at).where(
                        DigestRun.period_key == key
                    )
                )
            ).one()
            if row.status == "sent":
                return "already-sent"
            stale = now - timedelta(minutes=self.settings.stale_after_minutes)
            if row.holder != self.holder and row.started_at > stale:
                return "busy"
            took = await conn.execute(
                update(DigestRun)
                .where(
                    and_(
                        DigestRun.period_key == key,
                        DigestRun.status != "sent",
                        DigestRun.holder == row.holder,
                        DigestRun.started_at == row.started_at,
                    )
                )
                .values(status="building", holder=self.holder, started_at=now)
            )
            if took.rowcount != 1:
                return "busy"
        log.info("digest %s: taking over the run left by %s", key, row.holder)
        return "sent"

    async def _build(self, conn: AsyncConnection, week: Week) -> Digest:
        return await build_digest(
            conn,
            week=week,
            tz=self.tz,
            config=self.config,
            catalogue=self.catalogue,
            settings=self.settings,
            now=self.clock.now(),
        )

    async def _messages(self, conn: AsyncConnection, digest: Digest) -> list[NewMessage]:
        out: list[NewMessage] = []
        for d in self.settings.channels:
            to = Recipient(channel=d.channel)
            if d.platform == "discord":
                for i, part in enumerate(render_discord(digest), start=1):
                    out.append(NewMessage(dedupe_key=dedupe_key(digest.week, "discord", to, i),
                                          platform="discord", kind="post", to=to, text=part,
                                          template="digest", consent_scope=None))
            elif d.platform == "slack":
                slack = render_slack(digest)
                out.append(NewMessage(dedupe_key=dedupe_key(digest.week, "slack", to), platform="slack",
                                      kind="post", to=to, text=slack.text, blocks=slack.blocks,
                                      template="digest", consent_scope=None))
            else:
                log.warning("digest: no channel rendering for platform %r", d.platform)
        if self.settings.mail_opt_ins:
            mail = render_email(digest)
            for member_id, name, address in await opted_in_addresses(conn):
                to = Recipient(email=address, display_name=name)
                out.append(NewMessage(dedupe_key=dedupe_key(digest.week, "mail", to), platform="mail",
                                      kind="email", to=to, text=mail.text, html=mail.html,
                                      subject=mail.subject, member_id=member_id, template="digest",
                                      consent_scope="digest"))
        return out


async def opted_in_addresses(conn: AsyncConnection) -> list[tuple[int, str, str]]:
    """(member, name, address) of everyone whose "digest" consent is "in", one deliverable address each."""
    rows = await conn.execute(
        select(Consent.member_id, Member.display_name, Identity.email)
        .join(Member, Member.id == Consent.member_id)
        .join(Identity, Identity.member_id == Consent.member_id)
        .where(
            Consent.scope == "digest",
            Consent.state == "in",
            Identity.email.is_not(None),
            Identity.undeliverable.is_(None),
        )
        .order_by(Consent.member_id, Identity.platform != "mail", Identity.id)
    )
    out: list[tuple[int, str, str]] = []
    seen: set[int] = set()
    for member_id, name, email in rows:
        if member_id not in seen and email:
            seen.add(member_id)
            out.append((member_id, name or "", email))
    return out
