"""The rules: an ordered, commented table of small named rules, one finding each.

Each rule looks at a member's features and profile and, when it fires, says in plain
words what it saw, which value of its dimension that supports, and how strongly. Weights
and thresholds live in the settings file (``[rules.<name>]``), so a manager can tune
them without touching code; the order here is the order reasons are shown in.
Rules never decide alone: ``classify`` adds up the weights per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from segmentation.domains import DomainInfo
from segmentation.features import MemberFeatures, Profile
from segmentation.titles import (
    academic_title,
    business_title,
    company_in,
    non_technical_title,
    technical_title,
)

ORG_TYPES = ("device_maker", "isv", "system_integrator", "service_provider", "end_user_org")
_ORG_TYPE_WORDS = {
    "device_maker": "a device or hardware maker",
    "isv": "a software vendor (ISV)",
    "system_integrator": "a system integrator",
    "service_provider": "a service provider",
    "end_user_org": "an organisation using the software for its own operations",
}


@dataclass(frozen=True, slots=True)
class RuleContext:
    features: MemberFeatures
    profile: Profile
    domains: tuple[DomainInfo, ...]
    #: Domains of the member's own sign-off trailers (Signed-off-by, Reviewed-by...).
    signed: tuple[DomainInfo, ...]
    #: Decisions already made this round (purpose is decided before org_type and org_size).
    decided: Mapping[str, str]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class Finding:
    value: str
    says: str
    strength: float = 1.0
    examples: tuple[str, ...] = ()  # keys into MemberFeatures.examples


class Params:
    """One rule's settings: ``weight`` plus named thresholds, with the code's defaults."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self._values = values

    @property
    def weight(self) -> float:
        return float(self._values.get("weight", 1.0))

    def get(self, name: str, default: float) -> float:
        return float(self._values.get(name, default))


Check = Callable[[RuleContext, Params], Finding | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    dimension: str
    check: Check


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _texts(ctx: RuleContext) -> list[str]:
    """Titles from profiles and the member's signatures: where people say who they are."""
    return list(ctx.profile.titles) + list(ctx.features.signatures)


# ---- skill: technical ------------------------------------------------------------------


def sends_patches(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("patch")
    if n:
        what = "1 patch" if n == 1 else f"{n} patches"
        return Finding("technical", f"sent {what} of their own", min(2.0, 1 + n / 10), ("patch",))
    return None


def writes_code(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("code")
    inline = ctx.features.flag("inline_code")
    if n >= p.get("min_messages", 1):
        strength = min(2.0, 0.5 + ctx.features.share(n) * 3 + n / 20)
        return Finding("technical", f"{_n(n, 'message')} with code they wrote", strength, ("code",))
    if inline >= p.get("min_messages", 1):
        # Code names inside prose (`foo()`, snake_case, --flags): weaker than a code block.
        strength = min(1.2, 0.4 + ctx.features.share(inline) * 2 + inline / 20)
        return Finding(
            "technical", f"{_n(inline, 'message')} naming code, commands or files", strength, ("inline_code",)
        )
    return None


def posts_traces_or_logs(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("trace") + ctx.features.flag("log")
    if n:
        return Finding(
            "technical",
            f"posted stack traces or logs in {_n(n, 'message')}",
            min(1.5, 0.7 + n / 10),
            ("trace", "log"),
        )
    return None


def shares_config_or_commands(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("config") + ctx.features.flag("command")
    if n:
        return Finding(
            "technical",
            f"shared configuration or commands in {_n(n, 'message')}",
            min(1.5, 0.7 + n / 10),
            ("config", "command"),
        )
    return None


def technical_vocabulary(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    if f.words < 20 or f.tech_terms < 3:
        return None
    rate = 100 * f.tech_terms / f.words
    threshold = p.get("per_100_words", 1.5)
    if rate >= threshold:
        return Finding(
            "technical",
            f"uses technical vocabulary ({rate:.1f} terms per 100 words)",
            min(1.5, rate / (2 * threshold)),
            ("tech_terms",),
        )
    return None


def answers_questions(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.answers
    if n >= p.get("min_answers", 2) and ctx.features.technical_messages + ctx.features.tech_terms >= 3:
        return Finding(
            "technical", f"answered {_n(n, 'question')} from others", min(2.0, 0.5 + n / 4), ("answer",)
        )
    return None


def technical_title_rule(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.profile.titles:
        if hit := technical_title(text):
            return Finding("technical", f"title says {hit!r}")
    for text in ctx.features.signatures:
        if hit := technical_title(text):
            return Finding("technical", f"signature says {hit!r}", 0.8)
    return None


def technical_channels(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    n = f.channel_hints.get("technical", 0)
    if f.messages and n / f.messages >= p.get("min_share", 0.5):
        return Finding("technical", f"{_n(n, 'message')} in channels marked technical")
    return None


# ---- skill: non-technical --------------------------------------------------------------


def asks_basic_questions(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    n = f.basic_questions
    rate = 100 * f.tech_terms / f.words if f.words else 0.0
    # Someone who also talks shop (threads, APIs, drivers) is asking a newcomer's question, not a user's.
    talks_shop = f.tech_terms >= 3 and rate >= 1.0
    if n and f.share(n) >= p.get("min_share", 0.3) and f.technical_messages <= n and not talks_shop:
        return Finding(
            "non_technical",
            f"asked {_n(n, 'basic usage question')}",
            min(1.5, 0.5 + f.share(n)),
            ("basic_question",),
        )
    return None


def says_not_technical(ctx: RuleContext, p: Params) -> Finding | None:
    if ctx.features.phrases.get("non_technical_self"):
        return Finding(
            "non_technical", "describes themselves as not technical", 1.0, ("says:non_technical_self",)
        )
    return None


def no_technical_content(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    if f.messages < p.get("min_messages", 3) or f.technical_messages:
        return None
    rate = 100 * f.tech_terms / f.words if f.words else 0.0
    if rate <= p.get("max_per_100_words", 0.3):
        return Finding(
            "non_technical", f"{_n(f.messages, 'message')} without any code, logs or technical terms"
        )
    return None


def end_user_channels(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    n = f.channel_hints.get("end_user", 0)
    if f.messages and n / f.messages >= p.get("min_share", 0.5) and not f.technical_messages:
        return Finding("non_technical", f"{_n(n, 'message')} in end-user channels")
    return None


def non_technical_title_rule(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.profile.titles:
        if hit := non_technical_title(text):
            return Finding("non_technical", f"title says {hit!r}")
    return None


# ---- purpose -------------------------------------------------------------------------


def _peers(ctx: RuleContext, domain: str) -> int:
    return ctx.profile.domain_members.get(domain, 1)


def company_address(ctx: RuleContext, p: Params) -> Finding | None:
    for d in ctx.domains:
        if d.domain_class != "company":
            continue
        if d.org:
            bonus = p.get("known_org_bonus", 1.0) / max(p.weight, 0.1)
            return Finding(
                "business", f"writes from a company address at {d.domain} ({d.org.name})", 1.0 + bonus
            )
        peers = _peers(ctx, d.domain)
        if peers > _FEW:
            return Finding(
                "business", f"writes from a company address at {d.domain}, like {peers - 1} others here"
            )
        if _personal_looking(d.domain):
            continue  # the personal-domain rule speaks for these
        # A domain (almost) nobody else here uses may be a one-person company or a personal domain.
        return Finding("business", f"writes from {d.domain}, a domain few others here use", 0.4)
    return None


def signs_with_company_address(ctx: RuleContext, p: Params) -> Finding | None:
    for d in ctx.signed:
        if d.domain_class == "company":
            who = f" ({d.org.name})" if d.org else ""
            return Finding(
                "business",
                f"signs their patches or reviews with an address at {d.domain}{who}",
                1.0,
                ("trailer",),
            )
    return None


def free_mail_address(ctx: RuleContext, p: Params) -> Finding | None:
    classes = {d.domain_class for d in ctx.domains}
    if any(d.domain_class in ("company", "academic") for d in ctx.signed):
        return None  # the work address shows in their sign-offs
    if classes and classes <= {"freemail", "personal"}:
        d = ctx.domains[0]
        kind = "a free-mail" if d.domain_class == "freemail" else "a personal"
        return Finding("volunteer", f"writes from {kind} address ({d.domain}), not an employer's")
    return None


def personal_domain(ctx: RuleContext, p: Params) -> Finding | None:
    """A single-user domain of the kind people register for themselves (.org, .net, .name...)."""
    for d in ctx.domains:
        if d.domain_class != "company" or d.org is not None or _peers(ctx, d.domain) > _FEW:
            continue
        if _personal_looking(d.domain):
            return Finding("volunteer", f"{d.domain} looks like a personal domain (few others here use it)")
    return None


def _personal_looking(domain: str) -> bool:
    labels = domain.split(".")
    return labels[-1] in _PERSONAL_TLDS or (len(labels) >= 3 and labels[-2] in ("me", "name", "org"))


_PERSONAL_TLDS = frozenset(("org", "net", "name", "me", "info", "nu", "cc", "xyz", "eu", "ws"))
#: A domain used by this few members may still be one person's (several addresses) or family's.
_FEW = 3


def academic_address(ctx: RuleContext, p: Params) -> Finding | None:
    for d in (*ctx.domains, *ctx.signed):
        if d.domain_class == "academic":
            return Finding("academic", f"writes from a university or research address ({d.domain})")
    return None


def government_address(ctx: RuleContext, p: Params) -> Finding | None:
    for d in ctx.domains:
        if d.domain_class == "government":
            return Finding("business", f"writes from a government address ({d.domain})")
    return None


def _phrase_strength(n: int, messages: int) -> float:
    """More mentions count more, but a handful among hundreds of messages is small talk."""
    share = n / messages if messages else 1.0
    return min(2.0, 0.7 + n / 3) * min(1.0, 0.3 + 10 * share)


def _phrase(ctx: RuleContext, key: str, value: str, what: str) -> Finding | None:
    n = ctx.features.phrases.get(key, 0)
    if n:
        strength = _phrase_strength(n, ctx.features.messages)
        return Finding(value, f"{what} ({_n(n, 'message')})", strength, ("says:" + key,))
    return None


def talks_business(ctx: RuleContext, p: Params) -> Finding | None:
    return _phrase(ctx, "business", "business", "talks about customers, products or work")


def talks_hobby(ctx: RuleContext, p: Params) -> Finding | None:
    return _phrase(ctx, "volunteer", "volunteer", "talks about home setups, hobby or spare time")


def talks_academia(ctx: RuleContext, p: Params) -> Finding | None:
    return _phrase(ctx, "academic", "academic", "talks about research, a thesis or teaching")


def describes_organisation(ctx: RuleContext, p: Params) -> Finding | None:
    n = sum(ctx.features.phrases.get(t, 0) for t in ORG_TYPES)
    if n:
        keys = tuple("says:" + t for t in ORG_TYPES if ctx.features.phrases.get(t))
        return Finding(
            "business", f"describes the organisation they work for ({_n(n, 'message')})", 1.0, keys
        )
    return None


def company_signature(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.features.signatures:
        if academic_title(text):
            continue
        if company := company_in(text):
            return Finding("business", f"signature names a company: {company!r}")
    return None


def academic_signature(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.features.signatures:
        if hit := academic_title(text):
            return Finding("academic", f"signature says {hit!r}")
    return None


def business_title_rule(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.profile.titles:
        if academic_title(text):
            continue
        if hit := business_title(text):
            return Finding("business", f"title says {hit!r}")
    return None


def academic_title_rule(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.profile.titles:
        if hit := academic_title(text):
            return Finding("academic", f"title says {hit!r}")
    return None


# ---- org_type ------------------------------------------------------------------------


def known_organisation(ctx: RuleContext, p: Params) -> Finding | None:
    for d in ctx.signed:
        if d.org and d.org.type in ORG_TYPES:
            return Finding(
                d.org.type, f"signs with {d.domain}: {d.org.name}, {_ORG_TYPE_WORDS[d.org.type]}", 0.9
            )
    for d in ctx.domains:
        if d.org and d.org.type in ORG_TYPES:
            return Finding(
                d.org.type, f"{d.domain} belongs to {d.org.name}, a {d.org.type.replace('_', ' ')}"
            )
    return None


def self_described_org_type(ctx: RuleContext, p: Params) -> Finding | None:
    counts = {t: ctx.features.phrases.get(t, 0) for t in ORG_TYPES}
    best = max(counts, key=lambda t: counts[t])
    if counts[best]:
        what = best.replace("_", " ")
        return Finding(
            best,
            f"describes their organisation as a {what} ({_n(counts[best], 'message')})",
            min(2.0, 0.8 + counts[best] / 3),
            ("says:" + best,),
        )
    return None


def public_body(ctx: RuleContext, p: Params) -> Finding | None:
    """A government address: an organisation that runs the software for its own work."""
    for d in ctx.domains:
        if d.domain_class == "government":
            return Finding("end_user_org", f"{d.domain} is a public body using the software for its own work")
    return None


def not_a_business(ctx: RuleContext, p: Params) -> Finding | None:
    purpose = ctx.decided.get("purpose")
    if purpose in ("volunteer", "academic"):
        return Finding("n/a", f"takes part as {'a volunteer' if purpose == 'volunteer' else 'an academic'}")
    return None


# ---- org_size ------------------------------------------------------------------------


def known_organisation_size(ctx: RuleContext, p: Params) -> Finding | None:
    for d in (*ctx.domains, *ctx.signed):
        if d.org and d.org.size in ("large", "sme"):
            size = "a large organisation" if d.org.size == "large" else "a small or medium-sized company"
            return Finding(d.org.size, f"{d.org.name} is {size}")
    return None


def small_company_domain(ctx: RuleContext, p: Params) -> Finding | None:
    if ctx.decided.get("purpose") != "business":
        return None
    for d in ctx.domains:
        if d.domain_class == "company" and d.org is None:
            return Finding("sme", f"{d.domain} is not a company we know to be large")
    return None


def says_small_or_large(ctx: RuleContext, p: Params) -> Finding | None:
    small = ctx.features.phrases.get("small_org", 0)
    large = ctx.features.phrases.get("large_org", 0)
    if small > large:
        return Finding("sme", "describes a small company or startup", 1.0, ("says:small_org",))
    if large > small:
        return Finding("large", "describes a large organisation", 1.0, ("says:large_org",))
    return None


def size_not_applicable(ctx: RuleContext, p: Params) -> Finding | None:
    if ctx.decided.get("purpose") in ("volunteer", "academic"):
        return Finding("n/a", "not part of a business")
    return None


# ---- location ------------------------------------------------------------------------

#: Time-zone offsets (minutes east of UTC, standard and summer) to a country where one
#: dominates, else a region. Regions carry an "R-" prefix so they never read as a country.
_OFFSET_PLACE: dict[int, str] = {
    -600: "R-NAM",
    -540: "R-NAM",
    -480: "R-NAM",
    -420: "R-NAM",
    -360: "R-NAM",
    -300: "R-NAM",
    -240: "R-AMER",
    -210: "CA",
    -180: "R-SAM",
    -150: "CA",
    0: "R-EU",
    60: "R-EU",
    120: "R-EU",
    180: "R-EU",
    210: "IR",
    240: "R-ME",
    270: "AF",
    300: "PK",
    330: "IN",
    345: "NP",
    360: "BD",
    420: "R-SEA",
    480: "R-EAS",
    540: "R-EAS",
    570: "AU",
    600: "AU",
    630: "AU",
    660: "AU",
    720: "NZ",
    780: "NZ",
}
_COUNTRY_REGION: dict[str, tuple[str, ...]] = {
    "R-EU": (
        "GB",
        "IE",
        "PT",
        "ES",
        "FR",
        "BE",
        "NL",
        "LU",
        "DE",
        "AT",
        "CH",
        "IT",
        "DK",
        "NO",
        "SE",
        "FI",
        "PL",
        "CZ",
        "SK",
        "HU",
        "SI",
        "HR",
        "RS",
        "RO",
        "BG",
        "GR",
        "EE",
        "LV",
        "LT",
        "UA",
        "RU",
        "TR",
        "IS",
        "BY",
        "MD",
    ),
    "R-NAM": ("US", "CA", "MX"),
    "R-AMER": ("US", "CA", "CL", "VE", "BO", "PY"),
    "R-SAM": ("BR", "AR", "UY", "CL"),
    "R-EAS": ("CN", "TW", "HK", "SG", "MY", "PH", "JP", "KR"),
    "R-SEA": ("TH", "VN", "ID", "KH"),
    "R-ME": ("AE", "OM"),
}


def region_of_offset(minutes: int) -> str | None:
    return _OFFSET_PLACE.get(minutes)


def _consistent(country: str, place: str) -> bool:
    return country == place or country in _COUNTRY_REGION.get(place, ())


def country_domain(ctx: RuleContext, p: Params) -> Finding | None:
    for d in ctx.domains:
        if d.country:
            return Finding(
                d.country, f"e-mail address under the country domain .{d.domain.rsplit('.', 1)[-1]}"
            )
    return None


def time_zone_region(ctx: RuleContext, p: Params) -> Finding | None:
    offsets = ctx.features.tz_offsets
    total = sum(offsets.values())
    if total == 0:
        return None
    places: dict[str, int] = {}
    for minutes, n in offsets.items():
        place = region_of_offset(int(minutes))
        if place:
            places[place] = places.get(place, 0) + n
    if not places:
        return None
    place = max(places, key=lambda k: places[k])
    share = places[place] / total
    if share < p.get("min_share", 0.6):
        return None
    common = max(offsets, key=lambda k: offsets[k])
    tz = f"UTC{int(common) // 60:+03d}{abs(int(common)) % 60:02d}"
    # A country domain that fits the time zone is more precise than the region.
    for d in ctx.domains:
        if d.country and _consistent(d.country, place):
            return Finding(d.country, f"mail sent from time zone {tz} fits .{d.country.lower()}", share)
    return Finding(place, f"{share:.0%} of mail sent from time zone {tz}", share)


def active_hours_region(ctx: RuleContext, p: Params) -> Finding | None:
    """When people are awake: the middle of a member's active hours, read as local mid-afternoon.

    Weak on its own (night owls exist), so its weight is set below the decision threshold:
    it corroborates a country domain or a time zone rather than deciding alone.
    """
    hours = ctx.features.hours_utc
    total = sum(hours)
    if total < p.get("min_activities", 20):
        return None
    # Circular mean of the hour of day, so 23:00 and 01:00 average to midnight, not noon.
    x = sum(n * math.cos(2 * math.pi * h / 24) for h, n in enumerate(hours))
    y = sum(n * math.sin(2 * math.pi * h / 24) for h, n in enumerate(hours))
    spread = math.hypot(x, y) / total
    if spread < p.get("min_concentration", 0.3):
        return None  # active around the clock: a team account or a wanderer
    centre_utc = (math.degrees(math.atan2(y, x)) / 15) % 24
    offset = round(((_LOCAL_MIDDAY - centre_utc + 12) % 24) - 12) * 60
    place = region_of_offset(offset) or region_of_offset(offset + 60) or region_of_offset(offset - 60)
    if place is None:
        return None
    for d in ctx.domains:
        if d.country and _consistent(d.country, place):
            return Finding(d.country, f"active hours fit .{d.country.lower()}", spread)
    return Finding(place, f"most active around {centre_utc:.0f}:00 UTC, afternoon in {place}", spread)


_LOCAL_MIDDAY = 15.0  # the middle of a typical waking day (roughly 08:00 to 22:00)


# ---- the table -----------------------------------------------------------------------
# Order matters twice: within a dimension it is the order reasons are listed in; across
# dimensions, purpose comes before org_type and org_size, which read its decision.
RULES: tuple[Rule, ...] = (
    # skill — what people write in their own words is the best evidence of what they can do.
    Rule("sends-patches", "skill", sends_patches),
    Rule("writes-code", "skill", writes_code),
    Rule("posts-traces-or-logs", "skill", posts_traces_or_logs),
    Rule("shares-config-or-commands", "skill", shares_config_or_commands),
    Rule("technical-vocabulary", "skill", technical_vocabulary),
    Rule("answers-questions", "skill", answers_questions),
    Rule("technical-title", "skill", technical_title_rule),
    Rule("technical-channels", "skill", technical_channels),
    Rule("asks-basic-questions", "skill", asks_basic_questions),
    Rule("says-not-technical", "skill", says_not_technical),
    Rule("no-technical-content", "skill", no_technical_content),
    Rule("end-user-channels", "skill", end_user_channels),
    Rule("non-technical-title", "skill", non_technical_title_rule),
    # purpose — the address people write from, then what they say about themselves.
    Rule("company-address", "purpose", company_address),
    Rule("signs-with-company-address", "purpose", signs_with_company_address),
    Rule("free-mail-address", "purpose", free_mail_address),
    Rule("personal-domain", "purpose", personal_domain),
    Rule("academic-address", "purpose", academic_address),
    Rule("government-address", "purpose", government_address),
    Rule("talks-business", "purpose", talks_business),
    Rule("talks-hobby", "purpose", talks_hobby),
    Rule("talks-academia", "purpose", talks_academia),
    Rule("describes-organisation", "purpose", describes_organisation),
    Rule("company-signature", "purpose", company_signature),
    Rule("academic-signature", "purpose", academic_signature),
    Rule("business-title", "purpose", business_title_rule),
    Rule("academic-title", "purpose", academic_title_rule),
    # org_type — what the organisation is known to be, or what the member says it is.
    Rule("known-organisation", "org_type", known_organisation),
    Rule("self-described-org-type", "org_type", self_described_org_type),
    Rule("public-body", "org_type", public_body),
    Rule("not-a-business", "org_type", not_a_business),
    # org_size
    Rule("known-organisation-size", "org_size", known_organisation_size),
    Rule("small-company-domain", "org_size", small_company_domain),
    Rule("says-small-or-large", "org_size", says_small_or_large),
    Rule("size-not-applicable", "org_size", size_not_applicable),
    # location
    Rule("country-domain", "location", country_domain),
    Rule("time-zone-region", "location", time_zone_region),
    Rule("active-hours-region", "location", active_hours_region),
)

RULE_NAMES: frozenset[str] = frozenset(r.name for r in RULES)
