"""The kinds of people in the demo community and how each kind behaves.

A persona fixes the ground truth the classifier is later measured against (skill, purpose,
org_type) and the behaviour that should reveal it: which platforms they use, what they talk
about, when they write and how often they help others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Persona:
    kind: str
    label: str
    share: int  # relative number of members of this kind
    skill: str
    purpose: str
    org_type: str | None  # None: taken from the member's organisation (or "n/a" without one)
    platforms: tuple[tuple[str, float], ...]  # chance of having an account on each platform
    topics: tuple[tuple[str, int], ...]  # conversation kinds they start, weighted
    helps: float  # how readily they answer others (scales the reply budget)
    hours: str  # "work", "evening", "student", "anytime"
    mail: str  # "free", "company", "university": where their address lives
    slack_email: float  # chance their Slack profile shows their e-mail address
    engagement: tuple[tuple[str, int], ...]  # how the kind splits across engagement levels
    manager_share: float = 0.0  # share who are on the business side (non-technical) of a company


_BUSINESS_ENGAGEMENT = (("regular", 28), ("casual", 40), ("newcomer", 14), ("at_risk", 8), ("dormant", 10))

PERSONAS: tuple[Persona, ...] = (
    Persona("core_maintainer", "core maintainer", 0, "technical", "volunteer", None,
            (("mail", 1.0), ("slack", 1.0), ("discord", 1.0)),
            (("patch", 6), ("announcement", 2), ("question_tech", 1), ("product", 1)),
            helps=3.0, hours="anytime", mail="free", slack_email=1.0, engagement=(("core", 1),)),
    Persona("hobbyist", "hobbyist developer", 62, "technical", "volunteer", "n/a",
            (("mail", 0.5), ("slack", 0.3), ("discord", 0.65)),
            (("patch", 4), ("question_tech", 4), ("showcase", 2), ("chat", 2)),
            helps=1.2, hours="evening", mail="free", slack_email=0.5,
            engagement=(("regular", 30), ("casual", 38), ("newcomer", 14), ("at_risk", 8), ("dormant", 10))),
    Persona("end_user", "end user", 78, "non_technical", "volunteer", "n/a",
            (("mail", 0.3), ("slack", 0.3), ("discord", 0.65)),
            (("question_basic", 8), ("chat", 2)),
            helps=0.25, hours="evening", mail="free", slack_email=0.4,
            engagement=(("regular", 12), ("casual", 54), ("newcomer", 20), ("at_risk", 4), ("dormant", 10))),
    Persona("it_pro", "IT professional", 40, "technical", "business", "end_user_org",
            (("mail", 0.6), ("slack", 0.5), ("discord", 0.15)),
            (("deployment", 5), ("question_tech", 4)),
            helps=0.9, hours="work", mail="company", slack_email=0.7, engagement=_BUSINESS_ENGAGEMENT),
    Persona("integrator", "system integrator", 20, "technical", "business", "system_integrator",
            (("mail", 0.7), ("slack", 0.6), ("discord", 0.1)),
            (("deployment", 5), ("business", 2), ("question_tech", 2)),
            helps=0.8, hours="work", mail="company", slack_email=0.8, engagement=_BUSINESS_ENGAGEMENT,
            manager_share=0.2),
    Persona("isv", "ISV", 18, "technical", "business", "isv",
            (("mail", 0.7), ("slack", 0.6), ("discord", 0.1)),
            (("product", 5), ("business", 2), ("question_tech", 2)),
            helps=0.6, hours="work", mail="company", slack_email=0.8, engagement=_BUSINESS_ENGAGEMENT,
            manager_share=0.25),
    Persona("device_maker", "device maker", 25, "technical", "business", "device_maker",
            (("mail", 0.75), ("slack", 0.6), ("discord", 0.1)),
            (("hardware", 6), ("patch", 2), ("business", 1)),
            helps=0.8, hours="work", mail="company", slack_email=0.8, engagement=_BUSINESS_ENGAGEMENT,
            manager_share=0.15),
    Persona("service_provider", "service provider", 18, "technical", "business", "service_provider",
            (("mail", 0.7), ("slack", 0.6), ("discord", 0.1)),
            (("deployment", 5), ("business", 2), ("question_tech", 1)),
            helps=0.8, hours="work", mail="company", slack_email=0.8, engagement=_BUSINESS_ENGAGEMENT,
            manager_share=0.2),
    Persona("academic", "academic", 22, "technical", "academic", "n/a",
            (("mail", 0.7), ("slack", 0.4), ("discord", 0.3)),
            (("research", 5), ("question_tech", 3), ("patch", 1)),
            helps=0.7, hours="student", mail="university", slack_email=0.6,
            engagement=(("regular", 25), ("casual", 45), ("newcomer", 15), ("at_risk", 5), ("dormant", 10))),
)
PERSONA_BY_KIND = {p.kind: p for p in PERSONAS}

#: (starts, replies) ranges per engagement level; replies are scaled by the persona's ``helps``.
BUDGETS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "core": ((22, 34), (45, 70)),
    "regular": ((4, 9), (8, 20)),
    "casual": ((1, 2), (0, 4)),
    "newcomer": ((1, 3), (0, 3)),
    "at_risk": ((4, 8), (8, 16)),
    "dormant": ((1, 2), (0, 1)),
}

#: Core maintainers: (purpose, organisation kind or None, organisation size, address kind).
MAINTAINERS = (
    ("volunteer", None, "n/a", "free"),
    ("business", "device_maker", "large", "company"),
    ("volunteer", None, "n/a", "free"),
    ("business", "service_provider", "sme", "company"),
    ("academic", None, "n/a", "university"),
)


@dataclass(frozen=True, slots=True)
class BotSpec:
    """An automated account; it must be flagged as a bot and kept apart from the people."""

    key: str
    platform: str
    name: str
    handle: str
    topic: str  # conversation kind it posts
    posts: int  # how many posts over the twelve weeks


BOTS = (
    BotSpec("bot-mail-ci", "mail", "Syncwell CI", "ci", "ci", 36),
    BotSpec("bot-slack-ci", "slack", "Syncwell CI", "syncwell-ci", "ci", 40),
    BotSpec("bot-discord-ci", "discord", "Buildbot", "buildbot", "ci", 30),
    BotSpec("bot-discord-welcome", "discord", "Syncwell Helper", "syncwell-helper", "welcome", 0),
)
