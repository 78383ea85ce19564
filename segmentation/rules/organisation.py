"""Rules for ``org_type`` and ``org_size``: what the organisation is known to be, or said to be."""

from __future__ import annotations

from segmentation.rules.base import (
    _ORG_TYPE_WORDS,
    ORG_TYPES,
    Finding,
    Params,
    RuleContext,
    _n,
)

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
    phrases = ctx.features.phrases
    best, most = "", 0
    for t in ORG_TYPES:  # the first of the most mentioned, in table order
        n = phrases.get(t, 0)
        if n > most:
            best, most = t, n
    if most:
        what = best.replace("_", " ")
        return Finding(
            best,
            f"describes their organisation as a {what} ({_n(most, 'message')})",
            min(2.0, 0.8 + most / 3),
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
