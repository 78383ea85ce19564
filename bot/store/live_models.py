"""Tables of the live bot (design section 3): consent, erasure, programmes, outbox, digests.

Kept apart from ``models.py`` (the community: members, identities, activity, segments) so
each module stays one responsibility; both share one ``Base`` and so one migration history.
Every row that names a member cascades on delete, so erasing a member erases all of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base

_MEMBER_FK = "member.id"


class Consent(Base):
    """A member's latest word on one scope: "all", "programme:<name>" or "digest"; the newest wins."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("member_id", "scope", name="uq_consent_member_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(8))  # "out" or "in"
    source: Mapped[str] = mapped_column(String(80))  # "discord:/optout", "mail:list-unsubscribe", ...
    at: Mapped[datetime]


class Erasure(Base):
    """Hashes of an erased person's identities, so no import or live event brings them back."""

    __tablename__ = "erasure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime]


class ProgrammeState(Base):
    """Managers pause and resume programmes; the programmes themselves are configuration."""

    __tablename__ = "programme_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str] = mapped_column(String(320), default="")
    changed_at: Mapped[datetime]


class Invitation(Base):
    """One member's invitation to one programme and where it stands in the funnel.

    Status: awaiting_approval -> planned -> sent -> opened -> accepted | declined | expired,
    then active once the member earns points; rejected when a manager says no. One row per
    (member, programme): a member is invited to a programme at most once, ever.
    """

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("member_id", "programme", name="uq_invitation_member_programme"),
        Index("ix_invitation_programme_status", "programme", "status"),
        Index("ix_invitation_planned_at", "planned_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    programme: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str | None] = mapped_column(String(16))
    #: Why: the rule and the segment evidence at the time, for ``whyme``.
    reason: Mapped[dict[str, Any]] = mapped_column(default=dict)
    planned_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    active_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(320))  # the manager who approved or rejected
    outbox_id: Mapped[int | None] = mapped_column(Integer)


class ProgrammePoints(Base):
    """Points earned in a programme; one row per (programme, member, source) so credit is given once."""

    __tablename__ = "programme_points"
    __table_args__ = (
        UniqueConstraint("programme", "member_id", "source_uid", name="uq_programme_points_source"),
        Index("ix_programme_points_programme_at", "programme", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    programme: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    source_uid: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime]


class SolutionCheck(Base):
    """Community Hero's loop: the asker is asked once whether an answer solved their question."""

    __tablename__ = "solution_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_uid: Mapped[str] = mapped_column(String(80), unique=True)
    asker_member_id: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    helper_member_id: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    answer_uid: Mapped[str] = mapped_column(String(80))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # asked, solved, unsolved, expired
    asked_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]

    # The hero loop asks every batch for the open checks of the batch's writers.
    __table_args__ = (Index("ix_solution_check_asker_status", "asker_member_id", "status"),)


class OutboxMessage(Base):
    """A message waiting to leave, written in the transaction of the decision that caused it.

    Status: pending -> sending (claimed) -> sent | dead (with ``last_error``) | cancelled
    (opt-out or erasure before it left). ``dedupe_key`` makes enqueueing exactly-once.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "lane", "platform", "not_before"),
        # Covering for the planner's "messages to this member in the last day" count.
        Index("ix_outbox_member_created", "member_id", "created_at", "status"),
        Index("ix_outbox_created_at", "created_at"),
        # "When is the next row due?" across lanes: the worker and simulate ask it per round.
        Index("ix_outbox_status_not_before", "status", "not_before"),
        # Never reused: hooks find an invitation by its outbox id (migration 0006).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The rendered message: text, subject, html, blocks, buttons, headers, reply_to_native.
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    template: Mapped[str] = mapped_column(String(100), default="")
    programme: Mapped[str | None] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(12), default="broadcast")
    destination: Mapped[str] = mapped_column(String(200))  # rate-limit key, e.g. "discord:channel:123"
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    deliver_until: Mapped[datetime]
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)


class DigestRun(Base):
    """One weekly digest, keyed by ISO week: the unique key is what makes it exactly once."""

    __tablename__ = "digest_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), unique=True)  # "2026-W47"
    status: Mapped[str] = mapped_column(String(12))  # building, built, sent
    holder: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SchedulerLease(Base):
    """Which process runs the scheduler, on databases without advisory locks (SQLite)."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class SeenEvent(Base):
    """Commands and clicks handled, by uid: a retried delivery of either is handled once."""

    __tablename__ = "seen_event"
    __table_args__ = (Index("ix_seen_event_at", "at"),)

    uid: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]


class MemberMerge(Base):
    """A manager's merge of two members, kept so it can be undone identity by identity."""

    __tablename__ = "member_merge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kept_member_id: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    merged_member_id: Mapped[int] = mapped_column(Integer)  # gone after the merge; recreated by unmerge
    merged_display_name: Mapped[str] = mapped_column(String(200), default="")
    identity_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: The ids of the rows the merge moved, by kind ("activities", "points", "invitations",
    #: "outbox", "asked", "helped"), so an unmerge gives back exactly those.
    moved: Mapped[dict[str, list[int]]] = mapped_column(JSON, default=dict)
    by: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime]
    undone_at: Mapped[datetime | None]


class MergeSuggestion(Base):
    """Two members who look like one person (same name, related addresses) for a manager to judge."""

    __tablename__ = "merge_suggestion"
    __table_args__ = (UniqueConstraint("member_a", "member_b", name="uq_merge_suggestion_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_a: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    member_b: Mapped[int] = mapped_column(ForeignKey(_MEMBER_FK, ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime]


class PendingConfirmation(Base):
    """A manager's command by e-mail, held until the one-time token comes back (From: can be forged)."""

    __tablename__ = "pending_confirmation"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(320))
    platform: Mapped[str] = mapped_column(String(16))
    command: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
