"""Who gets which invitation, and when: a pure, ordered table of small named rules.

Given what we know of one member (a ``MemberSnapshot``), one programme and the time,
``decide`` walks ``RULES`` in order. A rule either stops the invitation with its name as
the reason (``Skip``), shapes it (``Shape``: a later send time, a platform, a manager's
approval) or lets it pass. No I/O happens here, so every rule is tested on its own and a
decision can always say which rule made it — that reason is what ``whyme`` shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Literal

from messages.programmes import PolicySettings, Programme

#: Invitations that never reached the member and so do not count against caps and cooldowns.
_NOT_SENT = frozenset({"rejected"})


@dataclass(frozen=True, slots=True)
class PastInvitation:
    programme: str
    status: str
    #: When it went (or goes) out: sent_at, else the planned send time.
    at: datetime


@dataclass(frozen=True, slots=True)
class Reach:
    """One account the member can be written to on."""

    platform: str
    undeliverable: bool = False
    last_active: datetime | None = None


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    member_id: int
    segments: frozenset[str] = frozenset()
    dimensions: Mapping[str, str] = field(default_factory=dict)
    is_bot: bool = False
    #: Latest consent state per scope ("all", "programme:<name>", "digest"): "in" or "out".
    consent: Mapping[str, str] = field(default_factory=dict)
    reach: tuple[Reach, ...] = ()
    tz_offset_minutes: int | None = None
    invitations: tuple[PastInvitation, ...] = ()
    #: Messages of any kind queued or sent to the member in the last 24 hours.
    recent_sends: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["invite", "skip"]
    #: The rule that decided (for a skip) or the last rule that shaped the invitation.
    rule: str
    detail: str = ""
    platform: str | None = None
    not_before: datetime | None = None
    needs_approval: bool = False
    #: Rules that moved the send time, in order ("cooldown", "quiet_hours", ...).
    deferred_by: tuple[str, ...] = ()

    @property
    def invite(self) -> bool:
        return self.action == "invite"


@dataclass(frozen=True, slots=True)
class Context:
    member: MemberSnapshot
    programme: Programme
    settings: PolicySettings
    now: datetime
    paused: bool = False
    #: A manager's campaign names the segment itself; it replaces the programme's target.
    segment_override: str | None = None
    #: A manager's confirmed campaign is the approval.
    approved: bool = False


@dataclass(frozen=True, slots=True)
class Skip:
    detail: str


@dataclass(frozen=True, slots=True)
class Shape:
    not_before: datetime | None = None
    platform: str | None = None
    needs_approval: bool = False
    detail: str = ""


Rule = Callable[[Context, Decision], Skip | Shape | None]


def _never_bots(ctx: Context, _d: Decision) -> Skip | None:
    return Skip("bots are never invited") if ctx.member.is_bot else None


def _opted_out(ctx: Context, _d: Decision) -> Skip | None:
    consent = ctx.member.consent
    if consent.get("all") == "out":
        return Skip("opted out of all messages")
    if consent.get(f"programme:{ctx.programme.name}") == "out":
        return Skip(f"opted out of {ctx.programme.name}")
    return None


def _paused(ctx: Context, _d: Decision) -> Skip | None:
    return Skip(f"{ctx.programme.name} is paused") if ctx.paused else None


def _eligible(ctx: Context, _d: Decision) -> Skip | None:
    m = ctx.member
    if ctx.segment_override is not None:
        if ctx.segment_override in m.segments:
            return None
        return Skip(f"not in segment {ctx.segment_override}")
    if ctx.programme.eligible(m.segments, m.dimensions):
        return None
    return Skip(f"not in the target ({ctx.programme.target.source})")


def _once_per_programme(ctx: Context, _d: Decision) -> Skip | None:
    for inv in ctx.member.invitations:
        if inv.programme == ctx.programme.name:
            return Skip(f"already invited ({inv.status})")
    return None


def _counted(ctx: Context) -> list[PastInvitation]:
    return [i for i in ctx.member.invitations if i.status not in _NOT_SENT]


def _cap(ctx: Context, d: Decision) -> Skip | None:
    at = d.not_before or ctx.now
    window = [i for i in _counted(ctx) if at - timedelta(days=30) < i.at <= at + timedelta(days=30)]
    cap = ctx.settings.cap_per_30_days
    if len(window) >= cap:
        return Skip(f"{len(window)} invitations within 30 days (cap {cap})")
    return None


def _cooldown(ctx: Context, d: Decision) -> Shape | None:
    gap = timedelta(days=ctx.settings.cooldown_days)
    at = d.not_before or ctx.now
    # Walk the invitations in time order: the send slides past each one it comes too close to.
    for inv in sorted(_counted(ctx), key=lambda i: i.at):
        if inv.at - gap < at < inv.at + gap:
            at = inv.at + gap
    if at != (d.not_before or ctx.now):
        return Shape(not_before=at, detail=f"{ctx.settings.cooldown_days} days after the last invitation")
    return None


def _busy(ctx: Context, d: Decision) -> Shape | None:
    if ctx.member.recent_sends >= ctx.settings.max_messages_per_day:
        at = max(d.not_before or ctx.now, ctx.now + timedelta(days=1))
        return Shape(not_before=at, detail=f"{ctx.member.recent_sends} messages in the last day")
    return None


def _quiet_hours(ctx: Context, d: Decision) -> Shape | None:
    offset = ctx.member.tz_offset_minutes
    if offset is None:
        # Without a known time zone any hour could be night; we do not guess.
        return None
    at = d.not_before or ctx.now
    later = next_allowed(at, offset, start=ctx.settings.quiet_start, end=ctx.settings.quiet_end)
    if later != at:
        return Shape(not_before=later, detail=f"quiet hours in UTC{offset / 60:+g}")
    return None


def _platform(ctx: Context, _d: Decision) -> Skip | Shape:
    chosen = choose_platform(ctx.member.reach, ctx.programme.settings.platforms)
    if chosen is None:
        return Skip("no platform where the member can be reached")
    return Shape(platform=chosen)


def _approval(ctx: Context, _d: Decision) -> Shape | None:
    if ctx.approved:
        return None
    if ctx.programme.needs_approval(ctx.member.segments):
        return Shape(needs_approval=True, detail="a manager approves invitations to this programme")
    return None


#: The rules in the order they run; the first Skip decides. Gates first (who may never be
#: invited), then limits, then the shaping of the send: when, where, and who approves.
RULES: tuple[tuple[str, Rule], ...] = (
    ("never_bots", _never_bots),
    ("opted_out", _opted_out),
    ("paused", _paused),
    ("not_eligible", _eligible),
    ("once_per_programme", _once_per_programme),
    ("cap", _cap),
    ("cooldown", _cooldown),
    ("busy", _busy),
    ("quiet_hours", _quiet_hours),
    ("platform", _platform),
    ("approval", _approval),
)


_START = Decision(action="invite", rule="eligible")


def decide(
    member: MemberSnapshot,
    programme: Programme,
    *,
    settings: PolicySettings,
    now: datetime,
    paused: bool = False,
    segment_override: str | None = None,
    approved: bool = False,
    rules: tuple[tuple[str, Rule], ...] = RULES,
) -> Decision:
    """Invite or skip, with the deciding rule's name."""
    ctx = Context(member, programme, settings, now, paused, segment_override, approved)
    d = _START
    for name, rule in rules:
        out = rule(ctx, d)
        if out is None:  # most rules pass most members: the common case first
            continue
        if isinstance(out, Skip):
            return Decision(action="skip", rule=name, detail=out.detail)
        if isinstance(out, Shape):
            d = Decision(  # every field given: cheaper than dataclasses.replace
                action=d.action,
                rule=name if out.not_before or out.needs_approval else d.rule,
                detail=out.detail or d.detail,
                platform=out.platform or d.platform,
                not_before=out.not_before or d.not_before,
                needs_approval=d.needs_approval or out.needs_approval,
                deferred_by=d.deferred_by + ((name,) if out.not_before else ()),
            )
    return d


def next_allowed(at: datetime, offset_minutes: int, *, start: time, end: time) -> datetime:
    """``at`` itself outside quiet hours, else the end of the quiet hours, in UTC.

    Quiet hours may span midnight (21:00-08:00) or not (13:00-14:00).
    """
    zone = timezone(timedelta(minutes=offset_minutes))
    local = at.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    spans_midnight = start > end
    quiet = (t >= start or t < end) if spans_midnight else (start <= t < end)
    if not quiet:
        return at
    day = local.date()
    if spans_midnight and t >= start:
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def choose_platform(reach: tuple[Reach, ...], preferred: list[str]) -> str | None:
    """Where to write: the platform of the member's latest activity among those allowed and
    deliverable; else the programme's first preference the member has; else any."""
    usable = [r for r in reach if not r.undeliverable and (not preferred or r.platform in preferred)]
    if not usable:
        return None
    dated = [r for r in usable if r.last_active is not None]
    if dated:
        return max(dated, key=lambda r: (r.last_active, -_rank(r.platform, preferred))).platform
    return min(usable, key=lambda r: _rank(r.platform, preferred)).platform


def _rank(platform: str, preferred: list[str]) -> int:
    order = preferred or ["discord", "slack", "mail"]
    return order.index(platform) if platform in order else len(order)
