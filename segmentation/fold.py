"""Folding activity rows into member features: pure and synchronous, shared by every pass.

The incremental pass (in the event loop, one member's state preloaded per page) and the
parallel rebuild (one process per partition of members, reading SQLite directly) both
feed the same rows through ``Folder.fold``, so they cannot drift apart. Where a row
credits a member this folder does not own (a thank-you to someone in another
partition), the credit is handed back instead of applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from segmentation.features import MemberFeatures, MessageFacts
from segmentation.signals import QUESTION, SOLVED, THANKS, MessageSignals, is_question, message_signals

THANKS_EMOJI = frozenset(
    {
        "+1",
        "thumbsup",
        "👍",
        "🙏",
        "pray",
        "heart",
        "❤️",
        "❤",
        "tada",
        "🎉",
        "raised_hands",
        "🙌",
        "clap",
        "👏",
    }
)
SOLVED_EMOJI = frozenset({"white_check_mark", "heavy_check_mark", "✅", "✔️", "✔", "ballot_box_with_check"})

#: Column order of the rows a folder takes (the engine's page query and the workers' SQL).
COLUMNS = (
    "id",
    "member_id",
    "kind",
    "occurred_at",
    "own_text",
    "signature",
    "subject",
    "patch_lines",
    "tz_offset_minutes",
    "place_id",
    "event_uid",
    "target_id",
    "target_member_id",
    "target_text",
    "target_patch_lines",
    "target_subject",
)


@dataclass(frozen=True, slots=True)
class Credit:
    """A thank-you (reply or reaction) for a member another folder owns."""

    member_id: int
    solved: bool
    uid: str
    text: str


Payload = tuple[str, int, str | None, str]

#: Signals of recent short messages by (own_text, patch_lines, subject, signature) (``signals_of``).
_SIGNALS: dict[Payload, MessageSignals] = {}
#: Messages remembered; the memo is emptied when it fills. Signals are a pure function of
#: the payload, so a remembered one is never stale.
_SIGNALS_MEMO_SIZE = 4096
#: Longer texts are not remembered (nor looked up): they rarely recur and would hold memory.
_SIGNALS_MEMO_CHARS = 1000


def signals_of(rows: Sequence[Payload]) -> list[MessageSignals]:
    """Signals for (own_text, patch_lines, subject, signature) tuples; a process pool can run it.

    Short messages recur ("thanks!", "+1", a bot's notice, the same question cross-posted)
    and their signals are a pure function of the payload, so those of the last few thousand
    distinct short ones are remembered (``MessageSignals`` is immutable, safe to share).
    """
    memo = _SIGNALS
    out: list[MessageSignals] = []
    for row in rows:
        text, patch_lines, subject, signature = row
        short = len(text) + len(signature) <= _SIGNALS_MEMO_CHARS
        found = memo.get(row) if short else None
        if found is None:
            found = message_signals(text, patch_lines=patch_lines, subject=subject, signature=signature)
            if short:
                if len(memo) >= _SIGNALS_MEMO_SIZE:
                    memo.clear()
                memo[row] = found
        out.append(found)
    return out


def payload_of(rows: Iterable[Sequence[Any]]) -> list[Payload]:
    return [(r[4] or "", r[7] or 0, r[6], r[5] or "") for r in rows if r[2] == "message"]


class Folder:
    """Running state of one pass: features per member, question marks per activity, credits."""

    def __init__(
        self,
        *,
        features: dict[int, MemberFeatures],
        bots: set[int] | frozenset[int],
        hints: Mapping[int, tuple[str | None, str]],
        owns: Callable[[int], bool] = lambda _mid: True,
    ) -> None:
        self.features = features
        self.bots = bots
        self.hints = hints
        self.owns = owns
        # Question marks by activity id, as an offset byte array: a rebuild fills it densely
        # from id 1; an incremental pass starts at its cursor, so the array stays small.
        self.questions = bytearray()
        self._base: int | None = None
        self.touched: set[int] = set()
        self.credits: list[Credit] = []
        self.activities = 0
        self.last_id = 0
        self.latest: datetime | None = None

    def _question(self, activity_id: int) -> bool | None:
        if self._base is None:
            return None
        index = activity_id - self._base
        if 0 <= index < len(self.questions):
            bit = self.questions[index]
            return None if bit == 2 else bool(bit)
        return None

    def _remember(self, activity_id: int, is_question: bool) -> None:
        if self._base is None:
            self._base = activity_id
        index = activity_id - self._base
        if index < 0:
            return  # older than anything in this pass: looked up again if ever needed
        if index >= len(self.questions):
            self.questions.extend(b"\x02" * (index + 1 - len(self.questions) + 4096))
        self.questions[index] = 1 if is_question else 0

    def _member(self, member_id: int) -> MemberFeatures:
        f = self.features.get(member_id)
        if f is None:
            f = self.features[member_id] = MemberFeatures()
        return f

    def _thank(self, member_id: int, *, solved: bool, uid: str, text: str) -> None:
        if not self.owns(member_id):
            self.credits.append(Credit(member_id, solved, uid, text[:400]))
            return
        self._member(member_id).add_thanks_received(solved=solved, uid=uid, text=text)
        self.touched.add(member_id)

    def fold(self, rows: Sequence[Sequence[Any]], signals: Sequence[MessageSignals]) -> None:
        """Add a page of rows (``COLUMNS`` order) with the signals of its messages, in order."""
        bots = self.bots
        hints = self.hints
        it = iter(signals)
        for row in rows:
            (
                aid,
                mid,
                kind,
                at,
                own,
                sig,
                _subject,
                _patch,
                tz,
                place_id,
                uid,
                tid,
                tmid,
                ttext,
                _tpatch,
                _tsubject,
                *_extra,  # an incremental page also carries the two bot flags
            ) = row
            self.activities += 1
            if aid > self.last_id:
                self.last_id = aid
            if self.latest is None or at > self.latest:
                self.latest = at
            signal: MessageSignals | None = None
            if kind == "message":
                signal = next(it)
                self._remember(aid, bool(signal.flags & QUESTION))
            if mid in bots or not self.owns(mid):
                continue
            f = self._member(mid)
            self.touched.add(mid)
            other = tmid is not None and tmid != mid and tmid not in bots
            if signal is None:
                f.add_activity(at)
                if kind == "reaction" and other and own in THANKS_EMOJI | SOLVED_EMOJI:
                    self._thank(tmid, solved=own in SOLVED_EMOJI, uid=uid, text=f"reacted {own}")
                continue
            was_question = False
            if other:
                known = self._question(tid)
                if known is None:  # asked in an earlier run or another partition: look at it again
                    known = bool(is_question(ttext or ""))  # exactly the QUESTION flag, for less
                    self._remember(tid, known)
                was_question = known
            hint, channel = hints.get(place_id, (None, None)) if place_id is not None else (None, None)
            f.add_message(
                MessageFacts(
                    event_uid=uid,
                    occurred_at=at,
                    signals=signal,
                    text=own or "",
                    signature=sig or "",
                    tz_offset_minutes=tz,
                    channel_hint=hint,
                    channel=channel,
                    reply_to_other=other,
                    reply_to_question=was_question,
                )
            )
            if other and signal.flags & (THANKS | SOLVED):
                self._thank(tmid, solved=bool(signal.flags & SOLVED), uid=uid, text=own or "")
