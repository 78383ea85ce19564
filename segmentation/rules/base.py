"""What every rule works with: the context it reads, the finding it returns, its settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from segmentation.domains import DomainInfo
from segmentation.features import MemberFeatures, Profile

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


def _peers(ctx: RuleContext, domain: str) -> int:
    return ctx.profile.domain_members.get(domain, 1)


def _personal_looking(domain: str) -> bool:
    labels = domain.split(".")
    return labels[-1] in _PERSONAL_TLDS or (len(labels) >= 3 and labels[-2] in ("me", "name", "org"))


_PERSONAL_TLDS = frozenset(("org", "net", "name", "me", "info", "nu", "cc", "xyz", "eu", "ws"))
#: A domain used by this few members may still be one person's (several addresses) or family's.
_FEW = 3


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
