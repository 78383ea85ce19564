"""Tables of design section 3 that exist so far; later issues add theirs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names keep Alembic's batch mode on SQLite and PostgreSQL in step.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, whatever the database keeps.

    SQLite has no time zones and hands back naive values; normalising here keeps every
    datetime in the program aware, as the house style requires.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Member(Base):
    """A person (or a bot) across every platform they use."""

    __tablename__ = "member"
    #: Ids are never reused on SQLite either: an erased member's id in a dedupe key or an
    #: idempotency key must not come back as someone else's (migration 0006).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Identity(Base):
    """One account on one platform; unique per (platform, external_id)."""

    __tablename__ = "identity"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_identity_platform_external_id"),
        Index("ix_identity_email", "email"),
        Index("ix_identity_email_domain", "email_domain"),
        Index("ix_identity_member_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(320))
    username: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    #: The part after "@", kept apart so "how many members write from this domain" is an index lookup.
    email_domain: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(300))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime]
    #: Why this account cannot be reached (Discord 50007, a hard bounce); sends to it stop.
    undeliverable: Mapped[str | None] = mapped_column(String(300))
    undeliverable_at: Mapped[datetime | None]


class Place(Base):
    """A channel, mailing list or DM where activity happens, with optional manager hints."""

    __tablename__ = "place"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", name="uq_place_platform_channel_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str | None] = mapped_column(String(200))
    container: Mapped[str | None] = mapped_column(String(200))
    hints: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Activity(Base):
    """One thing a member did; ``event_uid`` makes replays and re-imports no-ops."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_member_occurred", "member_id", "occurred_at"),
        Index("ix_activity_occurred_at", "occurred_at"),
        Index("ix_activity_place_occurred", "place_id", "occurred_at"),
        # Never reused: segmentation reads new activities above an id cursor (migration 0006).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_uid: Mapped[str] = mapped_column(String(80), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    tz_offset_minutes: Mapped[int | None] = mapped_column(Integer)
    native_id: Mapped[str] = mapped_column(String(400), default="")
    subject: Mapped[str | None] = mapped_column(String(500))
    own_text: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    quoted_lines: Mapped[int] = mapped_column(Integer, default=0)
    patch_lines: Mapped[int] = mapped_column(Integer, default=0)
    attachments: Mapped[int] = mapped_column(Integer, default=0)
    reply_to_uid: Mapped[str | None] = mapped_column(String(80))
    thread_uid: Mapped[str | None] = mapped_column(String(80))


class ImportCursor(Base):
    """How far an import of one source got, so an interrupted import resumes there."""

    __tablename__ = "import_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1000), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class AuditLog(Base):
    """Every administrative act, refused ones included."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    platform: Mapped[str] = mapped_column(String(16))
    command: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class MemberFeatureRow(Base):
    """A member's running feature summary and current segments, kept for cheap incremental updates."""

    __tablename__ = "member_features"

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    segments: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The current segment_assignment rows, copied here (id, value, confidence, evidence,
    #: pinned_by per dimension) so an incremental update reads a member's state in one query.
    #: Written in the same transaction as the rows themselves; None where not yet written.
    decisions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ruleset_version: Mapped[str] = mapped_column(String(64), default="")
    classified_at: Mapped[datetime]


class SegmentAssignment(Base):
    """One dimension's value for one member; history is kept, the ``current`` row wins.

    A new row is written when the value changes (so movements between segments can be
    reported); while the value stays, the current row's confidence and evidence are
    refreshed in place. ``pinned_by`` marks a manager's override, which reclassification
    never replaces.
    """

    __tablename__ = "segment_assignment"
    __table_args__ = (
        Index("ix_segment_assignment_member_current", "member_id", "dimension", "current"),
        Index("ix_segment_assignment_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ruleset_version: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    pinned_by: Mapped[str | None] = mapped_column(String(320))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
