"""Planning invitations: policy decisions turned into invitation rows and outbox messages.

``Planner.plan`` runs for the members the pipeline just reclassified: it reads what policy
needs (``messages.snapshots``), asks ``messages.policy`` about each programme in catalogue
order, and writes each invitation together with its outbox message inside the caller's
transaction — so a rolled-back batch leaves neither, and the unique (member, programme)
row plus the outbox's ``dedupe_key`` keep a replay from inviting anyone twice.
``campaign`` is a manager's ``admin invite``: a dry run by default.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.errors import BadArgument
from bot.store.live_models import Invitation
from bot.store.models import MemberFeatureRow
from bot.store.outbox import enqueue
from messages import policy, sqlite_fast
from messages.composer import InvitationComposer
from messages.programmes import Catalogue, Programme, member_values
from messages.reasons import reason_for
from messages.snapshots import (
    LinkMaker,
    MemberView,
    load_for_planning,
    load_members,
    paused_programmes,
)
from messages.templates import Renderer

log = logging.getLogger(__name__)

_SAMPLE = 5


@dataclass(frozen=True, slots=True)
class _Draft:
    """An invitation decided but not yet written."""

    view: MemberView
    prog: Programme
    decision: policy.Decision
    segment: str
    token: str
    expires_at: datetime

    @property
    def waiting(self) -> bool:
        return self.decision.needs_approval

    @property
    def status(self) -> str:
        return "awaiting_approval" if self.waiting else "planned"


@dataclass(frozen=True, slots=True)
class PlannedInvitation:
    invitation_id: int
    member_id: int
    programme: str
    segment: str
    status: str  # "planned" or "awaiting_approval"
    platform: str | None
    token: str
    not_before: datetime | None
    outbox_id: int | None
    rule: str


@dataclass(frozen=True, slots=True)
class SampleMember:
    member_id: int
    display_name: str
    platform: str | None
    status: str
    not_before: datetime | None


@dataclass(frozen=True, slots=True)
class CampaignPreview:
    """What ``admin invite`` would do (or did, with ``confirmed``)."""

    programme: str
    segment: str
    members: int
    would_invite: int
    sample: tuple[SampleMember, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    confirmed: bool = False
    enqueued: int = 0


# Built once per dialect: composing them per batch cost more than running them.
_INSERT = {
    name: dialect.insert(Invitation)
    .on_conflict_do_nothing(index_elements=["member_id", "programme"])
    .returning(Invitation.id, Invitation.member_id, Invitation.programme)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_LINK_OUTBOX = update(Invitation).where(Invitation.id == bindparam("iid")).values(outbox_id=bindparam("oid"))
# SQLite: the same as plain SQL, values encoded as SQLAlchemy's types would (``messages.sqlite_fast``).
_SQLITE_INSERT = (
    "INSERT INTO invitation (member_id, programme, segment, status, token, platform, reason, planned_at, "
    "expires_at, decided_by) VALUES %s ON CONFLICT (member_id, programme) DO NOTHING "
    "RETURNING id, member_id, programme"
)
_SQLITE_LINK_OUTBOX = "UPDATE invitation SET outbox_id = ? WHERE invitation.id = ?"


class Planner:
    """Decides and writes invitations; one per process, shared by the pipeline and the commands."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        renderer: Renderer | None = None,
        community: str = "our community",
        links: LinkMaker | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.renderer = renderer or Renderer()
        self._composer = InvitationComposer(self.renderer, community=community, links=links)

    # ---- the pipeline's entry ---------------------------------------------------------------
    async def plan(
        self, conn: AsyncConnection, member_ids: Collection[int], *, now: datetime
    ) -> list[PlannedInvitation]:
        """Invite the given members to whatever policy allows, inside the caller's transaction."""
        views, paused = await load_for_planning(conn, member_ids, now=now)
        chosen: list[tuple[MemberView, Programme, policy.Decision]] = []
        for view in views.values():
            snapshot = view.snapshot
            if snapshot.is_bot or (not snapshot.segments and not snapshot.dimensions):
                continue
            values = member_values(snapshot.segments, snapshot.dimensions)
            for programme in self.catalogue:
                # Only invitations matter here, and policy never invites outside the target:
                # that question first, on values built once per member (most pairs end here).
                if not programme.target.matches(values):
                    continue
                d = policy.decide(
                    snapshot,
                    programme,
                    settings=self.catalogue.policy,
                    now=now,
                    paused=programme.name in paused,
                )
                if not d.invite:
                    continue
                chosen.append((view, programme, d))
                # The next programme's cap and cooldown must see this invitation.
                at = d.not_before or now
                snapshot = _with_invitation(snapshot, programme.name, at)
        return await self._write(conn, chosen, now=now, decided_by=None)

    # ---- managers -----------------------------------------------------------------------------
    async def campaign(
        self,
        conn: AsyncConnection,
        programme: str,
        segment: str,
        *,
        now: datetime,
        confirm: bool,
        by: str = "",
    ) -> CampaignPreview:
        """Invite a segment to a programme: a dry run unless ``confirm``.

        The segment replaces the programme's target (the manager chose it), and a confirmed
        campaign counts as the manager's approval; every other rule holds (consent, once per
        programme, caps, quiet hours, reachability).
        """
        prog = self.catalogue.get(programme)
        if segment not in self.catalogue.segment_names:
            known = ", ".join(sorted(self.catalogue.segment_names))
            raise BadArgument(f"unknown segment {segment!r} (known: {known})")
        rows = await conn.execute(select(MemberFeatureRow.member_id, MemberFeatureRow.segments))
        member_ids = [mid for mid, segs in rows if segment in (segs or [])]
        views = await load_members(conn, member_ids, now=now)
        paused = prog.name in await paused_programmes(conn)
        skipped: Counter[str] = Counter()
        chosen: list[tuple[MemberView, Programme, policy.Decision]] = []
        for view in views.values():
            d = policy.decide(
                view.snapshot,
                prog,
                settings=self.catalogue.policy,
                now=now,
                paused=paused,
                segment_override=segment,
                approved=True,
            )
            if d.invite:
                chosen.append((view, prog, d))
            else:
                skipped[d.rule] += 1
        sample = tuple(
            SampleMember(v.snapshot.member_id, v.display_name, d.platform, "planned", d.not_before)
            for v, _, d in chosen[:_SAMPLE]
        )
        enqueued = 0
        if confirm and chosen:
            written = await self._write(conn, chosen, now=now, decided_by=by or "campaign", segment=segment)
            enqueued = sum(1 for p in written if p.outbox_id is not None)
        return CampaignPreview(
            programme=prog.name,
            segment=segment,
            members=len(views),
            would_invite=len(chosen),
            sample=sample,
            skipped=dict(skipped),
            confirmed=confirm,
            enqueued=enqueued,
        )

    async def approve(
        self, conn: AsyncConnection, invitation_id: int, *, by: str, at: datetime
    ) -> PlannedInvitation:
        """A manager's yes: the invitation is planned and its message enqueued, in this transaction."""
        inv = (
            await conn.execute(
                select(
                    Invitation.id,
                    Invitation.member_id,
                    Invitation.programme,
                    Invitation.segment,
                    Invitation.status,
                    Invitation.token,
                    Invitation.reason,
                ).where(Invitation.id == invitation_id)
            )
        ).first()
        if inv is None:
            raise BadArgument(f"no invitation #{invitation_id}")
        if inv.status != "awaiting_approval":
            raise BadArgument(f"invitation #{invitation_id} is {inv.status}, not awaiting approval")
        prog = self.catalogue.get(inv.programme)
        views = await load_members(conn, [inv.member_id], now=at)
        view = views.get(inv.member_id)
        if view is None:
            raise BadArgument(f"invitation #{invitation_id}: the member no longer exists")
        platform = policy.choose_platform(view.snapshot.reach, prog.settings.platforms)
        if platform is None or view.account(platform) is None:
            raise BadArgument(f"invitation #{invitation_id}: the member cannot be reached on any platform")
        not_before: datetime | None = None
        offset = view.snapshot.tz_offset_minutes
        if offset is not None:
            s = self.catalogue.policy
            later = policy.next_allowed(at, offset, start=s.quiet_start, end=s.quiet_end)
            not_before = later if later != at else None
        reason = dict(inv.reason or {})
        reason.update(
            approved_by=by, platform=platform, not_before=not_before.isoformat() if not_before else None
        )
        expires_at = (not_before or at) + timedelta(days=prog.settings.expires_after_days)
        message = self._composer.message(view, prog, inv.token, platform, inv.segment, not_before, expires_at)
        [outbox_id] = await enqueue(conn, [message], now=at)
        res = await conn.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id, Invitation.status == "awaiting_approval")
            .values(
                status="planned",
                decided_by=by,
                platform=platform,
                reason=reason,
                expires_at=expires_at,
                outbox_id=outbox_id,
            )
        )
        if not res.rowcount:
            raise BadArgument(f"invitation #{invitation_id} was decided meanwhile")
        return PlannedInvitation(
            inv.id,
            inv.member_id,
            inv.programme,
            inv.segment,
            "planned",
            platform,
            inv.token,
            not_before,
            outbox_id,
            "approved",
        )

    # ---- writing ----------------------------------------------------------------------------
    async def _write(
        self,
        conn: AsyncConnection,
        chosen: list[tuple[MemberView, Programme, policy.Decision]],
        *,
        now: datetime,
        decided_by: str | None,
        segment: str | None = None,
    ) -> list[PlannedInvitation]:
        if not chosen:
            return []
        drafts: list[_Draft] = []
        for view, prog, d in chosen:
            mid = view.snapshot.member_id
            seg = segment or prog.matched_segment(view.snapshot.segments)
            expires_at = (d.not_before or now) + timedelta(days=prog.settings.expires_after_days)
            drafts.append(_Draft(view, prog, d, seg, secrets.token_urlsafe(24), expires_at))
        # One executemany with RETURNING: SQLAlchemy sends it as multi-row VALUES pages from a
        # cached compilation (a ``.values(rows)`` statement is compiled anew on every call). A
        # (member, programme) another writer took meanwhile comes back without an id and is
        # left out: once per programme holds.
        rows = [
            {
                "member_id": x.view.snapshot.member_id,
                "programme": x.prog.name,
                "segment": x.segment[:64],
                "status": x.status,
                "token": x.token,
                "platform": x.decision.platform,
                "reason": reason_for(
                    x.view,
                    x.prog,
                    x.decision,
                    x.segment,
                    x.view.evidence,
                    decided_by=decided_by,
                ),
                "planned_at": now,
                "expires_at": None if x.waiting else x.expires_at,
                "decided_by": decided_by,
            }
            for x in drafts
        ]
        if conn.dialect.name == "sqlite":
            # Encoded here, column by column: only the reason and the two times need it, and
            # the planned time is the batch's.
            encode = sqlite_fast.encode
            planned_at = encode(now)
            values = [
                [
                    row["member_id"],
                    row["programme"],
                    row["segment"],
                    row["status"],
                    row["token"],
                    row["platform"],
                    encode(row["reason"]),
                    planned_at,
                    encode(row["expires_at"]),
                    row["decided_by"],
                ]
                for row in rows
            ]
            result: Any = await sqlite_fast.insert_returning(conn, _SQLITE_INSERT, values, encoded=True)
        else:
            result = await conn.execute(_INSERT[conn.dialect.name], rows)
        ids: dict[tuple[int, str], int] = {(mid, prog): iid for iid, mid, prog in result}
        written = [x for x in drafts if (x.view.snapshot.member_id, x.prog.name) in ids]
        sending = [x for x in written if not x.waiting and x.decision.platform is not None]
        messages = [
            self._composer.message(
                x.view,
                x.prog,
                x.token,
                x.decision.platform or "",
                x.segment,
                x.decision.not_before,
                x.expires_at,
            )
            for x in sending
        ]
        outbox_ids = dict(zip((id(x) for x in sending), await enqueue(conn, messages, now=now), strict=True))
        links = [
            {"iid": ids[(x.view.snapshot.member_id, x.prog.name)], "oid": oid}
            for x in sending
            if (oid := outbox_ids[id(x)]) is not None
        ]
        if links:
            if conn.dialect.name == "sqlite":
                await sqlite_fast.execute_many(
                    conn, _SQLITE_LINK_OUTBOX, [(x["oid"], x["iid"]) for x in links]
                )
            else:
                await conn.execute(_LINK_OUTBOX, links)
        out: list[PlannedInvitation] = []
        for x in written:
            mid = x.view.snapshot.member_id
            out.append(
                PlannedInvitation(
                    ids[(mid, x.prog.name)],
                    mid,
                    x.prog.name,
                    x.segment,
                    x.status,
                    x.decision.platform,
                    x.token,
                    x.decision.not_before,
                    outbox_ids.get(id(x)),
                    x.decision.rule,
                )
            )
            log.info(
                "invitation planned",
                extra={
                    "member_id": mid,
                    "programme": x.prog.name,
                    "status": x.status,
                    "rule": x.decision.rule,
                },
            )
        return out


def _with_invitation(snapshot: policy.MemberSnapshot, programme: str, at: datetime) -> policy.MemberSnapshot:
    past = (*snapshot.invitations, policy.PastInvitation(programme, "planned", at))
    return replace(snapshot, invitations=past)
