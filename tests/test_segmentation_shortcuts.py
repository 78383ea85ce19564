"""The hot path's shortcuts give exactly what the long way gives: memos, shared values, fast copies.

The live pipeline reclassifies the members of every batch, so segmentation remembers pure
results (signals of recurring short messages, digests of recurring decisions) and builds
some values once. Each shortcut is checked here against the computation it stands for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from segmentation import fold, writes
from segmentation.classify import Previous, classify
from segmentation.config import load_config
from segmentation.domains import OrgKnowledge
from segmentation.features import IdentityFacts, MemberFeatures, MessageFacts, Profile
from segmentation.model import DimensionDecision, Example, Reason
from segmentation.repository import CurrentRow, evidence_digest
from segmentation.rules import RULE_NAMES
from segmentation.signals import QUESTION, is_question, message_signals

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
CONFIG = load_config(known_rules=RULE_NAMES)
KNOWLEDGE = OrgKnowledge.load_default()


def _features(*texts: str) -> MemberFeatures:
    f = MemberFeatures()
    for i, text in enumerate(texts):
        f.add_message(
            MessageFacts(
                event_uid=f"mail:{i}",
                occurred_at=AS_OF - timedelta(days=40 - i),
                signals=message_signals(text),
                text=text,
                tz_offset_minutes=60,
            )
        )
    return f


def test_features_survive_a_round_trip_through_json() -> None:
    f = _features("my patch fixes the driver: `make install` then `modprobe md`?", "thanks, that worked")
    f.add_thanks_received(solved=True, uid="mail:9", text="thank you")
    stored = f.to_json()
    again = MemberFeatures.from_json(stored)
    assert again.to_json() == stored
    assert again.first() == f.first() and again.last() == f.last()
    assert list(stored) == [n for n in MemberFeatures.__dataclass_fields__ if not n.startswith("_")]


def test_features_from_json_ignores_what_it_does_not_store() -> None:
    stored = _features("hello there").to_json()
    odd = {**stored, "unknown_field": 3, "_first": "not a date", "hours_utc": [1, 2]}
    f = MemberFeatures.from_json(odd)
    assert f.messages == 1
    assert f.hours_utc == [0] * 24  # a histogram of the wrong length starts again
    assert not hasattr(f, "unknown_field")
    assert f.first() == datetime.fromisoformat(stored["first_seen"])
    assert MemberFeatures.from_json(None) == MemberFeatures() == MemberFeatures.from_json({})


def test_stored_rows_serve_as_previous_decisions() -> None:
    f = _features("see my patch for the raid driver")
    profile = Profile(1, (IdentityFacts("mail", "a@gmail.com", "A", None),), domain_members={"gmail.com": 40})
    rows = {
        "skill": CurrentRow(7, "non_technical", 1.0, "d", "alice"),
        "purpose": CurrentRow(8, "x", 0.5, "d", None),
    }
    as_rows = classify(f, profile, config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF, previous=rows)
    as_previous = classify(
        f,
        profile,
        config=CONFIG,
        knowledge=KNOWLEDGE,
        as_of=AS_OF,
        previous={"skill": Previous("non_technical", "alice"), "purpose": Previous("x")},
    )
    assert as_rows == as_previous
    assert as_rows.dimensions["skill"].pinned_by == "alice"


def test_dimensions_without_findings_share_one_decision_per_dimension() -> None:
    silent = Profile(2, (IdentityFacts("discord", None, "quiet", None),))
    a = classify(MemberFeatures(), silent, config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    b = classify(MemberFeatures(), silent, config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    assert a.dimensions["org_type"] == DimensionDecision("org_type", "unknown", 0.0)
    assert a.dimensions["org_type"] is b.dimensions["org_type"]


def test_remembered_digests_equal_the_digest_of_the_export() -> None:
    reasons = (Reason("free-mail-address", "volunteer", 1.5, "writes from gmail.com"),)
    one = DimensionDecision("purpose", "volunteer", 0.6, reasons, (Example("u1", "hi"),))
    twin = DimensionDecision("purpose", "volunteer", 0.6, tuple(reasons), (Example("u1", "hi"),))
    other = DimensionDecision("purpose", "volunteer", 0.6, reasons, (Example("u2", "hi"),))
    assert writes._digest(one) == evidence_digest(one.as_export())
    assert writes._digest(twin) == writes._digest(one)  # from the memo
    assert writes._digest(other) == evidence_digest(other.as_export()) != writes._digest(one)


def test_a_ready_made_export_is_digested_for_itself() -> None:
    plain = DimensionDecision("skill", "technical", 0.9)
    writes._digest(plain)  # remembered
    export = {"value": "technical", "confidence": 0.9, "evidence": [{"rule": "r", "value": "technical"}]}
    shipped = DimensionDecision("skill", "technical", 0.9, exported=export)
    assert shipped == plain  # the export is not part of equality...
    assert writes._digest(shipped) == evidence_digest(export) != writes._digest(plain)  # ...nor of the memo


def test_digest_memo_empties_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writes, "_DIGEST_MEMO_SIZE", 2)
    monkeypatch.setattr(writes, "_DIGESTS", {})
    for c in range(5):
        d = DimensionDecision("skill", "technical", c / 10)
        assert writes._digest(d) == evidence_digest(d.as_export())
    assert 0 < len(writes._DIGESTS) <= 2


def test_remembered_signals_equal_fresh_ones() -> None:
    long_text = "def main():\n    return 1\n" * 100  # over the memo's length: computed every time
    payloads: list[fold.Payload] = [
        ("thanks, that worked!", 0, None, ""),
        ("how do I install the app on my phone?", 0, "help", ""),
        ("thanks, that worked!", 0, None, ""),
        ("see attached", 12, "[PATCH] md: fix", "Signed-off-by: A <a@intel.com>"),
        ("see attached", 0, "[PATCH] md: fix", ""),
        (long_text, 0, None, ""),
        (long_text, 0, None, ""),
    ]
    got = fold.signals_of(payloads)
    want = [message_signals(t, patch_lines=p, subject=s, signature=g) for t, p, s, g in payloads]
    assert got == want
    assert got[0] is got[2]  # the same short message: remembered
    assert (long_text, 0, None, "") not in fold._SIGNALS


def test_signals_memo_empties_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold, "_SIGNALS_MEMO_SIZE", 3)
    monkeypatch.setattr(fold, "_SIGNALS", {})
    payloads: list[fold.Payload] = [(f"question {i}?", 0, None, "") for i in range(7)]
    assert fold.signals_of(payloads) == [message_signals(t) for t, _, _, _ in payloads]
    assert 0 < len(fold._SIGNALS) <= 3


def test_is_question_is_the_question_flag() -> None:
    texts = ["", "any ideas?", "How do I install it", "it crashed.\nTraceback (most recent call last)", "ok"]
    for text in texts:
        assert is_question(text) == bool(
            message_signals(text, patch_lines=3, subject="Re: x").flags & QUESTION
        )


def test_quick_constructors_build_the_same_objects() -> None:
    from dataclasses import fields

    from segmentation.model import quick_decision, quick_reason

    assert [f.name for f in fields(Reason)] == ["rule", "value", "weight", "says"]
    assert [f.name for f in fields(DimensionDecision)] == [
        "dimension",
        "value",
        "confidence",
        "reasons",
        "examples",
        "pinned_by",
        "exported",
    ], "a new field needs setting in segmentation.model.quick_decision"
    r = quick_reason("writes-code", "technical", 1.5, "2 messages with code")
    assert r == Reason("writes-code", "technical", 1.5, "2 messages with code") and type(r) is Reason
    assert hash(r) == hash(Reason("writes-code", "technical", 1.5, "2 messages with code"))
    d = quick_decision("skill", "technical", 0.8, (r,), (Example("u", "x"),))
    slow = DimensionDecision("skill", "technical", 0.8, (r,), (Example("u", "x"),))
    assert d == slow and hash(d) == hash(slow) and repr(d) == repr(slow)
    assert (d.pinned_by, d.exported) == (None, None)
    assert d.as_export() == slow.as_export()


def test_state_memo_hands_out_only_what_still_matches_the_text() -> None:
    from segmentation.state_memo import StateMemo

    memo = StateMemo(size=2)
    f = _features("hello")
    rows = {"skill": CurrentRow(1, "technical", 0.9, "abc", None)}
    memo.keep(5, "F", "D", f, rows)
    assert memo.take(5, "F", "other D") is None, "another decisions text: not handed out"
    assert memo.take(5, "F", "D") is None, "a miss lets the entry go"
    memo.keep(5, "F", "D", f, rows)
    assert memo.take(5, "F", "D") == (f, rows)
    assert memo.take(5, "F", "D") is None, "handed out once"
    assert memo.decisions_text(5, dict(rows)) == "D", "equal rows are written as the text read"
    memo.keep(5, "F2", "D", f, rows)
    memo.take(5, "F2", "D")
    changed = {"skill": CurrentRow(1, "technical", 0.8, "abc", None)}
    assert memo.decisions_text(5, changed) is None
    for mid in (1, 2, 3):
        memo.keep(mid, "F", None, f, None)
    assert len(memo) == 2, "bounded: the least recently kept went first"
    assert memo.take(1, "F", None) is None and memo.take(3, "F", None) == (f, None)
