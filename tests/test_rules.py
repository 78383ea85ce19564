"""Every rule of the table, table-driven: a member's features in, the rule's finding (or none) out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from segmentation.classify import Previous, classify
from segmentation.config import load_config
from segmentation.domains import OrgKnowledge
from segmentation.engagement import engagement
from segmentation.features import IdentityFacts, MemberFeatures, MessageFacts, Profile
from segmentation.rules import RULE_NAMES, RULES, Params, RuleContext
from segmentation.signals import message_signals

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
KNOWLEDGE = OrgKnowledge.load_default()
CONFIG = load_config(known_rules=RULE_NAMES)


def features(
    *texts: str,
    patch: int = 0,
    tz: int | None = None,
    hint: str | None = None,
    reply_to_question: bool = False,
    signature: str = "",
) -> MemberFeatures:
    f = MemberFeatures()
    for i, text in enumerate(texts):
        f.add_message(
            MessageFacts(
                event_uid=f"mail:{i}",
                occurred_at=AS_OF - timedelta(days=len(texts) - i),
                signals=message_signals(text, patch_lines=patch),
                text=text,
                signature=signature,
                tz_offset_minutes=tz,
                channel_hint=hint,
                reply_to_other=reply_to_question,
                reply_to_question=reply_to_question,
            )
        )
    return f


def profile(*emails: str, title: str | None = None, name: str = "", peers: int = 1) -> Profile:
    ids = tuple(IdentityFacts("mail", e, name, None) for e in emails)
    if title:
        ids += (IdentityFacts("slack", None, name, title),)
    return Profile(1, ids, domain_members={e.rsplit("@", 1)[-1]: peers for e in emails})


def ctx(f: MemberFeatures, p: Profile, **decided: str) -> RuleContext:
    domains = tuple(KNOWLEDGE.lookup(e, display_name=p.display_name) for e in p.emails)
    signed = tuple(KNOWLEDGE.lookup(d) for d in f.signing_domains())
    return RuleContext(features=f, profile=p, domains=domains, signed=signed, decided=decided, as_of=AS_OF)


SIGNED_OFF = "Looks good to me.\n\nReviewed-by: Someone <someone@intel.com>"


NOTHING = features("ok")


def _hours(hours: range, count: int) -> MemberFeatures:
    """Activity spread evenly over the given UTC hours."""
    f = MemberFeatures()
    for i in range(count):
        f.add_activity(AS_OF.replace(hour=hours[i % len(hours)]) - timedelta(days=i % 20))
    return f


ANON = profile()

Case = tuple[str, Callable[[], RuleContext], str | None]

CASES: list[Case] = [
    ("sends-patches", lambda: ctx(features("see patch", patch=30), ANON), "technical"),
    ("sends-patches", lambda: ctx(NOTHING, ANON), None),
    ("writes-code", lambda: ctx(features("```\nx = 1\n```"), ANON), "technical"),
    ("writes-code", lambda: ctx(features("I like the new logo"), ANON), None),
    (
        "posts-traces-or-logs",
        lambda: ctx(features("Traceback (most recent call last):\n  x"), ANON),
        "technical",
    ),
    ("posts-traces-or-logs", lambda: ctx(NOTHING, ANON), None),
    ("shares-config-or-commands", lambda: ctx(features("$ sudo mdadm --stop /dev/md0"), ANON), "technical"),
    (
        "technical-vocabulary",
        lambda: ctx(
            features(
                "the kernel driver hits a mutex deadlock in the raid resync thread after the superblock "
                "update so the compiler inlines the function and the stack overflows in the parser"
            ),
            ANON,
        ),
        "technical",
    ),
    (
        "technical-vocabulary",
        lambda: ctx(
            features(
                "I really love this community and the people in it, "
                "it is friendly and welcoming to everyone who joins"
            ),
            ANON,
        ),
        None,
    ),
    (
        "answers-questions",
        lambda: ctx(
            features(
                "try mdadm --assemble with the kernel driver",
                "check the superblock and the bitmap",
                reply_to_question=True,
            ),
            ANON,
        ),
        "technical",
    ),
    ("technical-title", lambda: ctx(NOTHING, profile(title="Senior Software Engineer")), "technical"),
    ("technical-title", lambda: ctx(NOTHING, profile(title="Head of Marketing")), None),
    ("technical-channels", lambda: ctx(features("a", "b", hint="technical"), ANON), "technical"),
    (
        "asks-basic-questions",
        lambda: ctx(features("How do I install it on my phone?"), ANON),
        "non_technical",
    ),
    (
        "asks-basic-questions",
        lambda: ctx(
            features("How do I install it?\n```\n$ make\n```\nerror: foo.c:3: error x", "```\ncode\n```"),
            ANON,
        ),
        None,
    ),
    ("says-not-technical", lambda: ctx(features("Sorry, I'm not technical at all."), ANON), "non_technical"),
    (
        "no-technical-content",
        lambda: ctx(features("hello all", "great event", "see you there"), ANON),
        "non_technical",
    ),
    ("no-technical-content", lambda: ctx(features("hello", "great", "```\ncode\n```"), ANON), None),
    ("end-user-channels", lambda: ctx(features("hi", "thanks", hint="end_user"), ANON), "non_technical"),
    ("non-technical-title", lambda: ctx(NOTHING, profile(title="Marketing Manager")), "non_technical"),
    ("company-address", lambda: ctx(NOTHING, profile("a@acme-widgets.com", peers=3)), "business"),
    ("company-address", lambda: ctx(NOTHING, profile("a@intel.com")), "business"),
    ("signs-with-company-address", lambda: ctx(features(SIGNED_OFF), profile("a@gmail.com")), "business"),
    ("signs-with-company-address", lambda: ctx(features("no trailers"), profile("a@gmail.com")), None),
    ("personal-domain", lambda: ctx(NOTHING, profile("me@janedoe.org")), "volunteer"),
    ("personal-domain", lambda: ctx(NOTHING, profile("me@janedoe.org", peers=4)), None),
    ("personal-domain", lambda: ctx(NOTHING, profile("me@box.homelinux.org")), None),
    ("company-address", lambda: ctx(NOTHING, profile("a@gmail.com")), None),
    ("free-mail-address", lambda: ctx(NOTHING, profile("a@gmail.com")), "volunteer"),
    ("free-mail-address", lambda: ctx(NOTHING, profile("a@gmail.com", "a@intel.com")), None),
    ("free-mail-address", lambda: ctx(NOTHING, profile("a@box.homelinux.org")), "volunteer"),
    ("free-mail-address", lambda: ctx(features(SIGNED_OFF), profile("a@gmail.com")), None),
    ("academic-address", lambda: ctx(NOTHING, profile("a@cs.example.edu")), "academic"),
    ("academic-address", lambda: ctx(NOTHING, profile("a@uni-heidelberg.de")), "academic"),
    ("academic-address", lambda: ctx(NOTHING, profile("a@ugal.ro")), "academic"),
    ("government-address", lambda: ctx(NOTHING, profile("a@agency.gov")), "business"),
    ("talks-business", lambda: ctx(features("Our customers run this in production."), ANON), "business"),
    ("talks-hobby", lambda: ctx(features("It's for my home server, just a hobby."), ANON), "volunteer"),
    ("talks-academia", lambda: ctx(features("I need this for my thesis."), ANON), "academic"),
    ("describes-organisation", lambda: ctx(features("We ship boards with your firmware."), ANON), "business"),
    (
        "company-signature",
        lambda: ctx(features("hi", signature="Jane\nEngineer, Acme Widgets GmbH"), ANON),
        "business",
    ),
    (
        "company-signature",
        lambda: ctx(features("hi", signature="Jane\nDept. of CS, Example University"), ANON),
        None,
    ),
    (
        "academic-signature",
        lambda: ctx(features("hi", signature="PhD student, Example University"), ANON),
        "academic",
    ),
    ("business-title", lambda: ctx(NOTHING, profile(title="CTO at Widgets")), "business"),
    ("academic-title", lambda: ctx(NOTHING, profile(title="Professor of Physics")), "academic"),
    ("known-organisation", lambda: ctx(NOTHING, profile("a@intel.com")), "device_maker"),
    ("known-organisation", lambda: ctx(NOTHING, profile("a@redhat.com")), "isv"),
    ("known-organisation", lambda: ctx(NOTHING, profile("a@kernel.org")), None),
    ("known-organisation", lambda: ctx(features(SIGNED_OFF), profile("a@kernel.org")), "device_maker"),
    (
        "self-described-org-type",
        lambda: ctx(features("We host customer VMs in our cloud."), ANON),
        "service_provider",
    ),
    ("public-body", lambda: ctx(NOTHING, profile("a@agency.gov")), "end_user_org"),
    ("public-body", lambda: ctx(NOTHING, profile("a@acme.com")), None),
    ("not-a-business", lambda: ctx(NOTHING, ANON, purpose="volunteer"), "n/a"),
    ("not-a-business", lambda: ctx(NOTHING, ANON, purpose="business"), None),
    ("known-organisation-size", lambda: ctx(NOTHING, profile("a@suse.com")), "large"),
    ("known-organisation-size", lambda: ctx(NOTHING, profile("a@synology.com")), "sme"),
    ("small-company-domain", lambda: ctx(NOTHING, profile("a@tiny-shop.example"), purpose="business"), "sme"),
    ("small-company-domain", lambda: ctx(NOTHING, profile("a@tiny-shop.example"), purpose="volunteer"), None),
    ("says-small-or-large", lambda: ctx(features("We are a small startup."), ANON), "sme"),
    (
        "says-small-or-large",
        lambda: ctx(features("Our multinational runs thousands of servers."), ANON),
        "large",
    ),
    ("size-not-applicable", lambda: ctx(NOTHING, ANON, purpose="academic"), "n/a"),
    ("country-domain", lambda: ctx(NOTHING, profile("a@firma.de")), "DE"),
    ("country-domain", lambda: ctx(NOTHING, profile("a@startup.io")), None),
    ("time-zone-region", lambda: ctx(features("a", "b", tz=330), ANON), "IN"),
    ("time-zone-region", lambda: ctx(features("a", "b", tz=60), profile("a@firma.de")), "DE"),
    ("time-zone-region", lambda: ctx(features("a", "b", tz=-300), ANON), "R-NAM"),
    ("active-hours-region", lambda: ctx(_hours(range(7, 22), 45), ANON), "R-EU"),
    ("active-hours-region", lambda: ctx(_hours(range(7, 22), 45), profile("a@firma.de")), "DE"),
    ("active-hours-region", lambda: ctx(_hours(range(24), 48), ANON), None),
    ("active-hours-region", lambda: ctx(_hours(range(7, 22), 5), ANON), None),
]


def test_every_rule_has_a_case() -> None:
    assert {name for name, _, _ in CASES} == RULE_NAMES


@pytest.mark.parametrize(
    ("name", "make", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule(name: str, make: Callable[[], RuleContext], expected: str | None) -> None:
    rule = next(r for r in RULES if r.name == name)
    finding = rule.check(make(), Params(CONFIG.rule(name)))
    assert (finding.value if finding else None) == expected
    if finding:
        assert finding.says, "every finding says in words what it saw"


def test_quoting_code_does_not_make_anyone_technical() -> None:
    # The mail parser keeps quoted text out of own words; what remains is the member's reply.
    f = features("Thanks, that fixed it!", "Great, works now, thank you", "Cool, thanks again")
    decision = classify(f, profile("fan@gmail.com"), config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    assert decision.value("skill") != "technical"


def test_thin_evidence_is_an_honest_unknown() -> None:
    decision = classify(features("ok"), ANON, config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    assert decision.value("skill") == "unknown"
    assert decision.value("purpose") == "unknown"
    assert decision.dimensions["purpose"].confidence == 0.0
    # Some evidence, but too little: still unknown, and the decision says why.
    weak = classify(
        features("ok"), profile("x@tiny.example"), config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF
    )
    assert weak.value("purpose") == "unknown"
    assert "too thin" in weak.dimensions["purpose"].reasons[-1].says


def test_pinned_value_wins_and_is_marked() -> None:
    f = features("see patch", patch=40)
    decision = classify(
        f,
        ANON,
        config=CONFIG,
        knowledge=KNOWLEDGE,
        as_of=AS_OF,
        previous={"skill": Previous("non_technical", pinned_by="alice")},
    )
    assert decision.value("skill") == "non_technical"
    assert decision.dimensions["skill"].pinned_by == "alice"


def test_segments_follow_dimensions() -> None:
    f = features("We ship boards running md raid; our firmware team sends patches.", patch=10)
    decision = classify(f, profile("dev@intel.com"), config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    assert decision.value("org_type") == "device_maker"
    assert "device_makers" in decision.segments
    assert decision.ruleset_version == CONFIG.ruleset_version


def test_bots_belong_to_no_segment() -> None:
    f = features("Build #123 passed", "Build #124 failed")
    bot = Profile(1, (IdentityFacts("discord", None, "ci-bot", None),), is_bot=True)
    assert classify(f, bot, config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF).segments == ()


def _history(days_active: list[int]) -> MemberFeatures:
    f = MemberFeatures()
    for d in days_active:
        f.add_activity(AS_OF - timedelta(days=d))
    return f


ENGAGEMENT_CASES = [
    ("newcomer", [10, 5, 1], None),
    ("dormant", [200, 150, 120, 100], None),
    ("casual", [100, 60, 20], None),
    ("regular", [d for d in range(1, 120, 6)], None),
    ("at_risk", [d for d in range(31, 130, 3)] + [40], None),
    # A regular who went quiet only this week stays regular during the grace period...
    ("regular", [d for d in range(8, 130, 4)], "regular"),
    # ...but dormancy needs no grace.
    ("dormant", [d for d in range(95, 200, 4)], "regular"),
]


@pytest.mark.parametrize(("expected", "days", "previous"), ENGAGEMENT_CASES)
def test_engagement(expected: str, days: list[int], previous: str | None) -> None:
    decision = engagement(_history(days), today=AS_OF.date(), settings=CONFIG.engagement, previous=previous)
    assert decision.value == expected, decision.reasons


def test_demotion_applies_after_the_grace_period() -> None:
    quiet_for_seven_weeks = [d for d in range(50, 170, 3)]
    decision = engagement(
        _history(quiet_for_seven_weeks), today=AS_OF.date(), settings=CONFIG.engagement, previous="regular"
    )
    assert decision.value == "at_risk"


def test_core_needs_volume_and_answers() -> None:
    f = features(*["try mdadm --re-add and check the kernel log"] * 40, reply_to_question=True)
    assert engagement(f, today=AS_OF.date(), settings=CONFIG.engagement).value == "core"


def test_decisions_do_not_read_thanks_received() -> None:
    """The parallel rebuild classifies before cross-partition thank-yous arrive, so no rule may read them."""
    plain = features("Try mdadm --re-add on the kernel raid array", reply_to_question=True)
    thanked = MemberFeatures.from_json(plain.to_json())
    for i in range(40):
        thanked.add_thanks_received(solved=i % 2 == 0, uid=f"mail:t{i}", text="thanks!")
    a = classify(plain, profile("a@gmail.com"), config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    b = classify(thanked, profile("a@gmail.com"), config=CONFIG, knowledge=KNOWLEDGE, as_of=AS_OF)
    assert {d: (v.value, v.confidence, v.reasons) for d, v in a.dimensions.items()} == {
        d: (v.value, v.confidence, v.reasons) for d, v in b.dimensions.items()
    }
