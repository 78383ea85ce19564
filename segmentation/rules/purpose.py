"""Rules for ``purpose``: the address people write from, then what they say about themselves."""

from __future__ import annotations

from segmentation.rules.base import (
    _FEW,
    ORG_TYPES,
    Finding,
    Params,
    RuleContext,
    _n,
    _peers,
    _personal_looking,
    _phrase,
)
from segmentation.titles import academic_title, business_title, company_in

# ---- purpose -------------------------------------------------------------------------


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
