"""Member features: everything the rules look at, accumulated message by message.

A ``MemberFeatures`` is a running summary (counts, a few example messages, time
histograms) that can be updated with one new message in microseconds and stored as JSON,
which is what makes incremental classification cheap; ``classify --all`` rebuilds the
same summary from scratch. ``Profile`` carries what the platforms say about the person
(addresses, titles) as opposed to what they wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any

from segmentation.signals import (
    BASIC_QUESTION,
    FLAG_NAMES,
    QUESTION,
    TECHNICAL_FLAGS,
    THANKS,
    MessageSignals,
)

_DAY_KEYS: dict[int, str] = {}
#: The names of the technical flags, in ``FLAG_NAMES`` order (four rules count them per member).
_TECHNICAL_NAMES = tuple(name for bit, name in FLAG_NAMES.items() if bit & TECHNICAL_FLAGS)
#: Examples kept per signal: enough to show a person why, few enough to store per member.
MAX_EXAMPLES = 3
EXCERPT_CHARS = 160
#: Days of per-day activity kept; engagement compares the last 30 days with the 90 before.
KEEP_DAYS = 200
_MAX_SIGNATURES = 5
_MAX_CHANNELS = 20


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """One message as the feature accumulator sees it (no text beyond an excerpt)."""

    event_uid: str
    occurred_at: datetime
    signals: MessageSignals
    text: str  # the own words; an excerpt is cut only when the message becomes an example
    signature: str = ""
    tz_offset_minutes: int | None = None
    channel_hint: str | None = None
    channel: str | None = None
    #: The author of the message this one replies to, when it is someone else.
    reply_to_other: bool = False
    #: Whether the message replied to was a question.
    reply_to_question: bool = False


@dataclass(slots=True)
class MemberFeatures:
    """Running totals for one member; JSON round-trips through ``to_json`` / ``from_json``."""

    messages: int = 0
    words: int = 0
    tech_terms: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    phrases: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[list[str]]] = field(default_factory=dict)
    questions: int = 0
    basic_questions: int = 0
    answers: int = 0  # replies to someone else's question
    replies_to_others: int = 0
    thanks_given: int = 0
    thanks_received: int = 0
    solved_received: int = 0
    signatures: list[str] = field(default_factory=list)
    channel_hints: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    tz_offsets: dict[str, int] = field(default_factory=dict)
    hours_utc: list[int] = field(default_factory=lambda: [0] * 24)
    days: dict[str, int] = field(default_factory=dict)
    # Stored as ISO strings; while accumulating, ``first()``/``last()`` hold datetimes.
    first_seen: str | None = None
    last_seen: str | None = None
    trailer_domains: dict[str, int] = field(default_factory=dict)
    trailer_messages: int = 0
    # Working copies of first/last seen as datetimes (names with "_" are not stored).
    _first: datetime | None = field(default=None, repr=False, compare=False)
    _last: datetime | None = field(default=None, repr=False, compare=False)
    # The datetimes that ``first_seen``/``last_seen`` spell right now: ``to_json`` spells a
    # datetime again only once it changed (isoformat of an aware datetime is not cheap).
    _first_spelt: datetime | None = field(default=None, repr=False, compare=False)
    _last_spelt: datetime | None = field(default=None, repr=False, compare=False)

    # ---- accumulation -------------------------------------------------------------------
    def add_message(self, m: MessageFacts) -> None:
        s = m.signals
        self.messages += 1
        self.words += s.words
        self.tech_terms += s.tech_terms
        bits = s.flags
        while bits:
            bit = bits & -bits
            bits ^= bit
            name = FLAG_NAMES[bit]
            self.flags[name] = self.flags.get(name, 0) + 1
            self._example(name, m)
        if s.tech_terms >= 3:
            self._example("tech_terms", m)
        for phrase in s.phrases:
            self.phrases[phrase] = self.phrases.get(phrase, 0) + 1
            self._example("says:" + phrase, m)
        is_question = bool(s.flags & QUESTION)
        if is_question and not m.reply_to_other:
            self.questions += 1
        if s.flags & BASIC_QUESTION:
            self.basic_questions += 1
        if s.flags & THANKS:
            self.thanks_given += 1
        if m.reply_to_other:
            self.replies_to_others += 1
            # An answer: a reply to someone else's question that is not itself thanks or a question.
            if m.reply_to_question and not (s.flags & (THANKS | QUESTION)):
                self.answers += 1
                self._example("answer", m)
        if s.trailer_domains:
            self.trailer_messages += 1
            for domain in s.trailer_domains:
                self.trailer_domains[domain] = self.trailer_domains.get(domain, 0) + 1
            self._example("trailer", m)
        signature = m.signature
        if signature and "-by:" in signature:
            signature = "\n".join(line for line in signature.splitlines() if "-by:" not in line)
        if signature:
            sig = " ".join(signature.split())[:200]
            if sig and sig not in self.signatures:
                self.signatures.append(sig)
                del self.signatures[:-_MAX_SIGNATURES]
        if m.channel_hint:
            self.channel_hints[m.channel_hint] = self.channel_hints.get(m.channel_hint, 0) + 1
        if m.channel and (m.channel in self.channels or len(self.channels) < _MAX_CHANNELS):
            self.channels[m.channel] = self.channels.get(m.channel, 0) + 1
        if m.tz_offset_minutes is not None:
            key = str(m.tz_offset_minutes)
            self.tz_offsets[key] = self.tz_offsets.get(key, 0) + 1
        self._seen(m.occurred_at)

    def add_activity(self, at: datetime) -> None:
        """A non-message activity (reaction, join) counts for engagement only."""
        self._seen(at)

    def add_thanks_received(self, *, solved: bool, uid: str = "", text: str = "") -> None:
        self.thanks_received += 1
        if solved:
            self.solved_received += 1
        if uid:
            self._example_raw("thanked", uid, text)

    def _seen(self, at: datetime) -> None:
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        first, last = self.first(), self.last()
        if first is None or at < first:
            self._first = at
        if last is None or at > last:
            self._last = at
        self.hours_utc[at.hour] += 1
        ordinal = at.toordinal()
        day = _DAY_KEYS.get(ordinal)
        if day is None:
            day = _DAY_KEYS[ordinal] = date.fromordinal(ordinal).isoformat()
        self.days[day] = self.days.get(day, 0) + 1
        if len(self.days) > KEEP_DAYS + 40:
            self._prune_days()

    def first(self) -> datetime | None:
        """First activity; the stored ISO string is parsed once, then kept as a datetime."""
        if self._first is None and self.first_seen is not None:
            self._first = self._first_spelt = datetime.fromisoformat(self.first_seen)
        return self._first

    def last(self) -> datetime | None:
        if self._last is None and self.last_seen is not None:
            self._last = self._last_spelt = datetime.fromisoformat(self.last_seen)
        return self._last

    def _prune_days(self) -> None:
        latest = max(self.days)
        cutoff = (date.fromisoformat(latest) - timedelta(days=KEEP_DAYS)).isoformat()
        self.days = {d: n for d, n in self.days.items() if d >= cutoff}

    def _example(self, key: str, m: MessageFacts) -> None:
        bucket = self.examples.get(key)
        if bucket is None:
            bucket = self.examples[key] = []
        elif len(bucket) >= MAX_EXAMPLES:
            return
        if all(b[0] != m.event_uid for b in bucket):
            bucket.append([m.event_uid, excerpt(m.text)])

    def _example_raw(self, key: str, uid: str, text: str) -> None:
        bucket = self.examples.setdefault(key, [])
        if len(bucket) < MAX_EXAMPLES and all(b[0] != uid for b in bucket):
            bucket.append([uid, excerpt(text)])

    # ---- derived figures ---------------------------------------------------------------
    def flag(self, name: str) -> int:
        return self.flags.get(name, 0)

    @property
    def technical_messages(self) -> int:
        flags = self.flags
        return sum([flags.get(name, 0) for name in _TECHNICAL_NAMES])

    def signing_domains(self) -> list[str]:
        """Domains in the member's own sign-off trailers, when one of them is clearly theirs.

        A patch series can carry other people's trailers too, but the member's own address
        is the one that recurs across their messages: keep domains seen in at least half of
        the messages that have trailers.
        """
        if not self.trailer_messages:
            return []
        need = max(1, (self.trailer_messages + 1) // 2)
        ranked = sorted(self.trailer_domains.items(), key=lambda kv: (-kv[1], kv[0]))
        return [d for d, n in ranked if n >= need][:2]

    def share(self, count: int) -> float:
        return count / self.messages if self.messages else 0.0

    def activity_between(self, start: date, end: date) -> int:
        """Activities on days in [start, end)."""
        s, e = start.isoformat(), end.isoformat()
        return sum(n for d, n in self.days.items() if s <= d < e)

    def active_weeks_between(self, start: date, end: date) -> int:
        s, e = start.isoformat(), end.isoformat()
        return len({date.fromisoformat(d).isocalendar()[:2] for d in self.days if s <= d < e})

    # ---- storage -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        first, last = self.first(), self.last()
        if first is not self._first_spelt or first is None:
            self.first_seen = first.isoformat() if first else None
            self._first_spelt = first
        if last is not self._last_spelt or last is None:
            self.last_seen = last.isoformat() if last else None
            self._last_spelt = last
        return dict(zip(_STORED, _stored_values(self), strict=True))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> MemberFeatures:
        """The stored fields of ``data`` (others, and names starting with "_", are ignored)."""
        if not data:
            return cls()
        if data.keys() <= _STORED_SET:  # as written by ``to_json``: one call, no defaults built twice
            features = cls(**data)
        else:
            features = cls(**{k: v for k, v in data.items() if k in _STORED_SET})
        if len(features.hours_utc) != 24:
            features.hours_utc = [0] * 24
        return features


#: The fields ``to_json`` stores, in order: names starting with "_" are working state.
_STORED = tuple(name for name in MemberFeatures.__dataclass_fields__ if not name.startswith("_"))
_STORED_SET = frozenset(_STORED)
#: Every stored field of a summary in one C-level call (a loop of ``getattr`` cost 4x as much).
_stored_values = attrgetter(*_STORED)


_TITLE_SPLIT = re.compile(r"\s*[|,@–—-]\s*|\s+at\s+")


@dataclass(frozen=True, slots=True)
class IdentityFacts:
    platform: str
    email: str | None
    display_name: str
    title: str | None


@dataclass(frozen=True, slots=True)
class Profile:
    """What platforms say about a member: addresses and titles, across every identity.

    ``domain_members`` counts, for each of the member's e-mail domains, how many members
    of the community write from it: a company's domain is shared by colleagues, a
    personal vanity domain by nobody else.
    """

    member_id: int
    identities: tuple[IdentityFacts, ...]
    is_bot: bool = False
    domain_members: Mapping[str, int] = field(default_factory=dict)
    # Worked out once: several rules read them for every classification.
    _emails: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _titles: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = self.identities
        object.__setattr__(self, "_emails", tuple(sorted({i.email for i in ids if i.email})))
        titles = tuple(sorted({i.title.strip() for i in ids if i.title and i.title.strip()}))
        object.__setattr__(self, "_titles", titles)

    @property
    def emails(self) -> tuple[str, ...]:
        return self._emails

    @property
    def titles(self) -> tuple[str, ...]:
        return self._titles

    @property
    def display_name(self) -> str:
        for i in self.identities:
            if i.display_name:
                return i.display_name
        return ""
