"""The rules: an ordered, commented table of small named rules, one finding each.

Each rule looks at a member's features and profile and, when it fires, says in plain
words what it saw, which value of its dimension that supports, and how strongly. Weights
and thresholds live in the settings file (``[rules.<name>]``), so a manager can tune
them without touching code; the order here is the order reasons are shown in.
Rules never decide alone: ``classify`` adds up the weights per value.
"""

from __future__ import annotations

from segmentation.rules.base import ORG_TYPES, Check, Finding, Params, Rule, RuleContext
from segmentation.rules.location import (
    active_hours_region,
    country_domain,
    region_of_offset,
    time_zone_region,
)
from segmentation.rules.organisation import (
    known_organisation,
    known_organisation_size,
    not_a_business,
    public_body,
    says_small_or_large,
    self_described_org_type,
    size_not_applicable,
    small_company_domain,
)
from segmentation.rules.purpose import (
    academic_address,
    academic_signature,
    academic_title_rule,
    business_title_rule,
    company_address,
    company_signature,
    describes_organisation,
    free_mail_address,
    government_address,
    personal_domain,
    signs_with_company_address,
    talks_academia,
    talks_business,
    talks_hobby,
)
from segmentation.rules.skill import (
    answers_questions,
    asks_basic_questions,
    end_user_channels,
    no_technical_content,
    non_technical_title_rule,
    posts_traces_or_logs,
    says_not_technical,
    sends_patches,
    shares_config_or_commands,
    technical_channels,
    technical_title_rule,
    technical_vocabulary,
    writes_code,
)

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


__all__ = [
    "ORG_TYPES",
    "RULES",
    "RULE_NAMES",
    "Check",
    "Finding",
    "Params",
    "Rule",
    "RuleContext",
    "region_of_offset",
]
