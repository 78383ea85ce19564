"""The demo population: organisations and members drawn from a seeded Faker and Random.

Each member gets a persona, a country and zone, an address whose domain fits the persona
(free-mail, company, university), accounts on one to three platforms, an engagement level
with the window in which they are active, and a budget of posts the planner spends.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from faker import Faker

from bot.demo.personas import BOTS, BUDGETS, MAINTAINERS, PERSONA_BY_KIND, PERSONAS, BotSpec, Persona
from bot.demo.world import COUNTRIES, COUNTRY_BY_CODE, END, NEWCOMER_DAYS, START, Country, university

_ORG_WORDS = {
    "device_maker": ("Devices", "Embedded", "Electronics", "Semiconductor", "Systems", "Robotics"),
    "isv": ("Software", "Labs", "Apps", "Digital", "Technologies"),
    "system_integrator": ("Consulting", "Solutions", "IT Services", "Integration"),
    "service_provider": ("Cloud", "Hosting", "Networks", "Telecom", "Datacenter"),
    "end_user_org": ("Logistics", "Insurance", "Clinic", "Bank", "Retail", "Engineering", "School District",
                     "Law Firm", "Foods", "Manufacturing"),
}
_LEGAL = {
    "DE": ("GmbH", "AG"), "FR": ("SAS", "SA"), "GB": ("Ltd", "plc"), "NL": ("B.V.", "N.V."),
    "US": ("LLC", "Inc."), "IN": ("Pvt Ltd", "Ltd"), "BR": ("Ltda", "S.A."), "JP": ("K.K.", "Corporation"),
    "CN": ("Co., Ltd.", "Group"), "PL": ("Sp. z o.o.", "S.A."), "CA": ("Inc.", "Corp."),
    "AU": ("Pty Ltd", "Limited"), "ES": ("S.L.", "S.A."), "IT": ("S.r.l.", "S.p.A."), "SE": ("AB", "AB"),
    "FI": ("Oy", "Oyj"), "CZ": ("s.r.o.", "a.s."),
}
_ENGINEER_TITLES = {
    "it_pro": ("Systems Administrator", "IT Manager", "DevOps Engineer", "Infrastructure Engineer",
               "Sysadmin"),
    "integrator": ("Solutions Architect", "Senior Consultant", "Integration Engineer",
                   "Technical Consultant"),
    "isv": ("Software Engineer", "Backend Developer", "Lead Developer", "CTO", "Staff Engineer"),
    "device_maker": ("Firmware Engineer", "Embedded Software Engineer", "BSP Engineer", "Hardware Engineer"),
    "service_provider": ("Site Reliability Engineer", "Platform Engineer", "Cloud Architect", "NOC Engineer"),
}
_MANAGER_TITLES = ("Product Manager", "Head of Partnerships", "Business Development Manager",
                   "Account Director")
_ACADEMIC_TITLES = ("PhD student", "Research Assistant", "Postdoctoral Researcher", "Professor",
                    "MSc student")
_AGENTS = {
    "free": ("Mozilla Thunderbird", "Mutt/2.2.13", "K-9 Mail for Android", None, None, "Apple Mail (2.3774)"),
    "company": ("Microsoft Outlook 16.0", "Microsoft Outlook 16.0", "Mozilla Thunderbird", "Evolution 3.52",
                None),
    "university": ("Mozilla Thunderbird", "Mutt/2.2.13", "Roundcube Webmail/1.6.9", "Alpine 2.26"),
}


@dataclass(frozen=True, slots=True)
class Org:
    name: str
    domain: str
    kind: str  # ground truth org_type
    size: str  # "large" or "sme"
    country: str


@dataclass(frozen=True, slots=True)
class Person:
    """One member of the demo community (or a bot) with the ground truth about them."""

    key: str
    persona: str
    name: str
    first: str
    country: str
    tz: str
    email: str
    skill: str
    purpose: str
    org_type: str
    org_size: str
    engagement: str
    platforms: tuple[str, ...]
    org: Org | None = None
    institution: str | None = None
    title: str | None = None
    manager: bool = False
    slack_id: str = ""
    slack_handle: str = ""
    slack_email: str | None = None
    discord_id: str = ""
    discord_handle: str = ""
    discord_nick: str | None = None
    active_from: datetime = START
    active_until: datetime = END
    starts: int = 0
    replies: int = 0
    signature: str = ""
    mail_agent: str | None = None
    is_bot: bool = False

    @property
    def hours(self) -> str:
        return "anytime" if self.is_bot else PERSONA_BY_KIND[self.persona].hours


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only: for addresses and handles built from names."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in norm.lower() if ch.isascii() and ch.isalnum())


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([value for value, _ in pairs], weights=[weight for _, weight in pairs])[0]


def snowflake(at: datetime, counter: int, *, worker: int = 1, millis: int = 0) -> str:
    """A Discord id for a moment: milliseconds since Discord's epoch, shifted, plus worker and counter."""
    ms = int(at.timestamp() * 1000) + millis - 1_420_070_400_000
    return str((ms << 22) | ((worker & 0x1F) << 17) | (counter & 0xFFF))


class Population:
    """Draws organisations and members; call ``build`` once per seed."""

    def __init__(self, rng: random.Random, *, seed: int) -> None:
        self._rng = rng
        self._fakers: dict[str, Faker] = {}
        self._seed = seed
        self._emails: set[str] = set()
        self._handles: set[str] = set()
        self._domains: set[str] = set()
        self._orgs: dict[tuple[str, str], list[Org]] = {}
        self._count = 0
        self._discord_counter = 0

    def city(self, country: Country) -> str:
        # Faker's it_IT city() draws from a set, whose order changes with PYTHONHASHSEED.
        if country.code == "IT":
            return self._rng.choice(("Ferrara", "Pavia", "Trento", "Udine", "Salerno", "Perugia", "Lecce"))
        return str(self.faker(country.locale).city())

    def faker(self, locale: str) -> Faker:
        fake = self._fakers.get(locale)
        if fake is None:
            fake = Faker(locale)
            # Derived from the seed and the locale's position, never from hash(): stable across runs.
            fake.seed_instance(self._seed * 1009 + sum(ord(c) for c in locale) * 7 + len(self._fakers))
            self._fakers[locale] = fake
        return fake

    def build(self, members: int) -> list[Person]:
        rng = self._rng
        humans = max(members - len(BOTS), len(MAINTAINERS) + 10)
        people = [self._maintainer(i, spec) for i, spec in enumerate(MAINTAINERS)]
        rest = humans - len(people)
        shares = [(p, p.share) for p in PERSONAS if p.share]
        total = sum(s for _, s in shares)
        counts = [rest * s // total for _, s in shares]
        for i in range(rest - sum(counts)):
            counts[i % len(counts)] += 1
        for (persona, _), count in zip(shares, counts, strict=True):
            people.extend(self._member(persona) for _ in range(count))
        order = list(range(len(people)))
        rng.shuffle(order)
        people = [people[i] for i in order]
        people.extend(self._bot(spec) for spec in BOTS)
        return people

    # -- members -------------------------------------------------------------------------

    def _next_key(self) -> str:
        self._count += 1
        return f"m{self._count:03d}"

    def _country(self) -> Country:
        return self._rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]

    def _name(self, country: Country) -> tuple[str, str, str]:
        fake = self.faker(country.locale)
        if country.romanized:
            first, last = fake.first_romanized_name(), fake.last_romanized_name()
        else:
            first, last = fake.first_name(), fake.last_name()
        return first, last, f"{first} {last}"

    def _unique_email(self, local: str, domain: str) -> str:
        candidate = f"{local}@{domain}"
        n = 2
        while candidate.lower() in self._emails:
            candidate = f"{local}{n}@{domain}"
            n += 1
        self._emails.add(candidate.lower())
        return candidate

    def _free_address(self, country: Country, first: str, last: str) -> str:
        f, s = ascii_slug(first) or "user", ascii_slug(last) or "mail"
        style = self._rng.randrange(5)
        local = (f"{f}.{s}", f"{f}{s}{self._rng.randrange(10, 99)}", f"{f[0]}{s}", f"{s}.{f}",
                 f"{f}_{self._rng.randrange(1970, 2006)}")[style]
        return self._unique_email(local, self._rng.choice(country.freemail))

    def _org(self, kind: str, country: Country, *, size: str | None = None) -> Org:
        """Reuse an organisation of that kind and country now and then, so colleagues share a domain."""
        pool = self._orgs.setdefault((kind, country.code), [])
        if size is None and pool and self._rng.random() < 0.35:
            return self._rng.choice(pool)
        fake = self.faker(country.locale)
        if size is None:
            size = "large" if self._rng.random() < (0.3 if kind != "device_maker" else 0.45) else "sme"
        word = self._rng.choice(_ORG_WORDS[kind])
        legal = _LEGAL.get(country.code, ("Ltd", "Ltd"))[1 if size == "large" else 0]
        for attempt in range(20):
            surname = fake.last_romanized_name() if country.romanized else fake.last_name()
            root = ascii_slug(surname).capitalize() or "Nordwind"
            if attempt >= 10:
                root += str(attempt)
            domain = f"{root.lower()}-{ascii_slug(word)}.{country.tld}"
            if domain not in self._domains:
                break
        self._domains.add(domain)
        name = f"{root} {word} {legal}"
        org = Org(name=name, domain=domain, kind=kind, size=size, country=country.code)
        pool.append(org)
        return org

    def _platforms(self, persona: Persona) -> tuple[str, ...]:
        chosen = tuple(p for p, chance in persona.platforms if self._rng.random() < chance)
        if chosen:
            return chosen
        return (_weighted(self._rng, persona.platforms),)

    def _window(self, engagement: str) -> tuple[datetime, datetime]:
        rng = self._rng
        if engagement == "newcomer":
            return END - timedelta(days=rng.uniform(2, NEWCOMER_DAYS - 1)), END
        if engagement == "at_risk":
            return START, END - timedelta(days=rng.uniform(26, 40))
        if engagement == "dormant":
            return START, START + timedelta(days=rng.uniform(10, 24))
        return START, END

    def _budget(self, engagement: str, helps: float) -> tuple[int, int]:
        (s_lo, s_hi), (r_lo, r_hi) = BUDGETS[engagement]
        return self._rng.randint(s_lo, s_hi), round(self._rng.randint(r_lo, r_hi) * helps)

    def _member(self, persona: Persona) -> Person:
        rng = self._rng
        key = self._next_key()
        engagement = _weighted(rng, persona.engagement)
        country = self._country()
        first, last, name = self._name(country)
        org: Org | None = None
        institution: str | None = None
        title: str | None = None
        manager = rng.random() < persona.manager_share
        skill = "non_technical" if manager else persona.skill
        if persona.mail == "company":
            org = self._org(persona.org_type or "end_user_org", country)
            # A few people at companies write from a private address: the domain is evidence, not truth.
            if rng.random() < 0.12:
                email = self._free_address(country, first, last)
            else:
                f, s = ascii_slug(first) or "x", ascii_slug(last) or "y"
                email = self._unique_email(rng.choice((f"{f}.{s}", f"{f[0]}{s}", f"{f}")), org.domain)
            title = rng.choice(_MANAGER_TITLES if manager else _ENGINEER_TITLES[persona.kind])
        elif persona.mail == "university":
            institution, domain = university(country.code, self.city(country))
            f, s = ascii_slug(first) or "x", ascii_slug(last) or "y"
            email = self._unique_email(rng.choice((f"{f}.{s}", f"{s}", f"{f[0]}.{s}")), rng.choice(
                (domain, f"cs.{domain}", f"inf.{domain}")))
            title = rng.choice(_ACADEMIC_TITLES)
        else:
            email = self._free_address(country, first, last)
            if persona.kind == "hobbyist" and rng.random() < 0.3:
                title = rng.choice(("Hobbyist", "Tinkerer", "Student", "Retired engineer", "Open source fan"))
        return self._finish(
            key=key, persona=persona, engagement=engagement, country=country, first=first, name=name,
            email=email, org=org, institution=institution, title=title, manager=manager, skill=skill,
            purpose=persona.purpose, platforms=self._platforms(persona),
        )

    def _maintainer(self, index: int, spec: tuple[str, str | None, str, str]) -> Person:
        purpose, org_kind, size, address = spec
        persona = PERSONA_BY_KIND["core_maintainer"]
        country = self._country()
        first, last, name = self._name(country)
        f, s = ascii_slug(first) or "x", ascii_slug(last) or "y"
        org: Org | None = None
        institution: str | None = None
        if org_kind is not None:
            org = self._org(org_kind, country, size=size)
            email = self._unique_email(f"{f}.{s}", org.domain)
            title = "Principal Engineer"
        elif address == "university":
            institution, domain = university(country.code, self.city(country))
            email = self._unique_email(f"{f}.{s}", domain)
            title = "Professor"
        else:
            email = self._free_address(country, first, last)
            title = "Syncwell maintainer"
        return self._finish(
            key=self._next_key(), persona=persona, engagement="core", country=country, first=first,
            name=name, email=email, org=org, institution=institution, title=title, manager=False,
            skill="technical", purpose=purpose, platforms=("mail", "slack", "discord"),
        )

    def _finish(
        self, *, key: str, persona: Persona, engagement: str, country: Country, first: str, name: str,
        email: str, org: Org | None, institution: str | None, title: str | None, manager: bool, skill: str,
        purpose: str, platforms: tuple[str, ...],
    ) -> Person:
        rng = self._rng
        tz = rng.choice(country.zones)
        active_from, active_until = self._window(engagement)
        starts, replies = self._budget(engagement, persona.helps)
        # Starting on a platform means posting there: at least one conversation per platform.
        starts = max(starts, len(platforms))
        slack_email: str | None = None
        if "slack" in platforms and rng.random() < persona.slack_email:
            # Some type their address differently on Slack; identity matching must ignore case.
            slack_email = email if rng.random() < 0.8 else email.capitalize()
        handle = self._handle(first, name)
        discord_nick = rng.choice((None, first, name, None)) if "discord" in platforms else None
        org_type = org.kind if org is not None else (persona.org_type or "n/a")
        org_size = org.size if org is not None else "n/a"
        joined = active_from if engagement == "newcomer" else START - timedelta(days=rng.uniform(30, 900))
        self._discord_counter += 1
        return Person(
            key=key, persona=persona.kind, name=name, first=first, country=country.code, tz=tz, email=email,
            skill=skill, purpose=purpose, org_type=org_type, org_size=org_size, engagement=engagement,
            platforms=platforms, org=org, institution=institution, title=title, manager=manager,
            slack_id="U0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(9)),
            slack_handle=handle.replace("_", "."), slack_email=slack_email,
            discord_id=snowflake(joined, self._discord_counter), discord_handle=handle,
            discord_nick=discord_nick, active_from=active_from, active_until=active_until,
            starts=starts, replies=replies, signature=self._signature(name, title, org, institution, persona),
            mail_agent=rng.choice(_AGENTS[persona.mail]),
        )

    def _handle(self, first: str, name: str) -> str:
        rng = self._rng
        f = ascii_slug(first) or "user"
        words = ("pixel", "byte", "penguin", "kernel", "owl", "rust", "tux", "lambda", "fox", "void", "delta")
        for _ in range(50):
            style = rng.randrange(4)
            handle = (
                f"{f}{rng.randrange(1, 999)}",
                f"{rng.choice(words)}_{f}",
                f"{f}_{ascii_slug(name.split()[-1])[:4]}",
                f"{rng.choice(words)}{rng.choice(words)}",
            )[style]
            if handle not in self._handles:
                self._handles.add(handle)
                return handle
        raise RuntimeError("no free handle")  # pragma: no cover - 50 draws never all collide

    def _signature(
        self, name: str, title: str | None, org: Org | None, institution: str | None, persona: Persona
    ) -> str:
        rng = self._rng
        if org is not None and rng.random() < 0.75:
            lines = [name, f"{title}, {org.name}" if title else org.name]
            if rng.random() < 0.5:
                lines.append(f"https://www.{org.domain}")
            return "\n".join(lines)
        if institution is not None and rng.random() < 0.7:
            group = rng.choice(("Distributed Systems Group", "Networked Systems Lab",
                                "Software Engineering Chair",
                                "Data Management Group"))
            return "\n".join([name, f"{title}, {group}" if title else group, institution])
        if persona.kind in ("hobbyist", "core_maintainer") and rng.random() < 0.25:
            return rng.choice((f"{name}\nGPG: {rng.getrandbits(64):016X}",
                               "Sent from my toaster running Syncwell",
                               f"{name.split()[0]} -- https://{ascii_slug(name)}.dev"))
        return ""

    # -- bots ---------------------------------------------------------------------------

    def _bot(self, spec: BotSpec) -> Person:
        self._count += 1
        self._discord_counter += 1
        email = f"{spec.handle}@builds.syncwell.org" if spec.platform == "mail" else ""
        return Person(
            key=spec.key, persona="bot", name=spec.name, first=spec.name, country="unknown", tz="UTC",
            email=email, skill="unknown", purpose="unknown", org_type="unknown", org_size="unknown",
            engagement="bot", platforms=(spec.platform,), slack_id="U0SYNCWELLCI", slack_handle=spec.handle,
            discord_id=snowflake(START - timedelta(days=400 + self._discord_counter), self._discord_counter),
            discord_handle=spec.handle, discord_nick=spec.name, starts=spec.posts, is_bot=True,
        )


def country_of(person: Person) -> Country | None:
    return COUNTRY_BY_CODE.get(person.country)
