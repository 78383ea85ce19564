"""The fixed facts of the demo world: its calendar, its countries, its project, its places.

Everything here is constant so that the generator's only sources of variation are the
seed and the member count; no wall-clock time may leak into the archives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: The demo's "today": the archives end here and the demo clock stands here.
END = datetime(2026, 11, 2, tzinfo=UTC)
WEEKS = 12
START = END - timedelta(weeks=WEEKS)
#: Newcomers joined within this many days before END (the design's "last 30 days").
NEWCOMER_DAYS = 30

PROJECT = "Syncwell"
LIST_HOST = "lists.syncwell.org"
PROJECT_DOMAIN = "syncwell.org"
SLACK_TEAM = "T0SYNCWELL"
DISCORD_GUILD_ID = "940118623571234816"
DISCORD_GUILD_NAME = "Syncwell Community"


@dataclass(frozen=True, slots=True)
class Country:
    code: str  # ISO 3166-1 alpha-2, the ground truth for ``location``
    locale: str  # Faker locale for names and cities
    zones: tuple[str, ...]  # IANA zones people there live in
    weight: int  # how many members come from there, relatively
    freemail: tuple[str, ...]  # providers people there use privately
    tld: str  # company domains' top-level domain
    romanized: bool = False  # Faker's native names are not Latin script


COUNTRIES: tuple[Country, ...] = (
    Country("US", "en_US", ("America/New_York", "America/Chicago", "America/Los_Angeles"), 20,
            ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"), "com"),
    Country("DE", "de_DE", ("Europe/Berlin",), 14,
            ("gmx.de", "web.de", "posteo.de", "gmail.com", "mailbox.org"), "de"),
    Country("IN", "en_IN", ("Asia/Kolkata",), 10,
            ("gmail.com", "yahoo.co.in", "rediffmail.com", "outlook.com"), "in"),
    Country("GB", "en_GB", ("Europe/London",), 8,
            ("gmail.com", "outlook.com", "btinternet.com", "proton.me"), "co.uk"),
    Country("FR", "fr_FR", ("Europe/Paris",), 7,
            ("free.fr", "orange.fr", "gmail.com", "laposte.net"), "fr"),
    Country("BR", "pt_BR", ("America/Sao_Paulo",), 6,
            ("gmail.com", "uol.com.br", "bol.com.br", "hotmail.com"), "com.br"),
    Country("NL", "nl_NL", ("Europe/Amsterdam",), 5,
            ("gmail.com", "ziggo.nl", "xs4all.nl", "outlook.com"), "nl"),
    Country("PL", "pl_PL", ("Europe/Warsaw",), 4,
            ("wp.pl", "o2.pl", "gmail.com", "interia.pl"), "pl"),
    Country("JP", "ja_JP", ("Asia/Tokyo",), 4,
            ("gmail.com", "yahoo.co.jp", "outlook.jp"), "co.jp", romanized=True),
    Country("CN", "zh_CN", ("Asia/Shanghai",), 4,
            ("qq.com", "163.com", "gmail.com", "126.com"), "cn", romanized=True),
    Country("CA", "en_CA", ("America/Toronto", "America/Vancouver"), 3,
            ("gmail.com", "outlook.com", "shaw.ca"), "ca"),
    Country("AU", "en_AU", ("Australia/Sydney", "Australia/Perth"), 3,
            ("gmail.com", "bigpond.com", "outlook.com"), "com.au"),
    Country("ES", "es_ES", ("Europe/Madrid",), 3,
            ("gmail.com", "hotmail.es", "yahoo.es"), "es"),
    Country("IT", "it_IT", ("Europe/Rome",), 3,
            ("gmail.com", "libero.it", "virgilio.it"), "it"),
    Country("SE", "sv_SE", ("Europe/Stockholm",), 2,
            ("gmail.com", "telia.com", "outlook.com"), "se"),
    Country("FI", "fi_FI", ("Europe/Helsinki",), 2,
            ("gmail.com", "kolumbus.fi", "outlook.com"), "fi"),
    Country("CZ", "cs_CZ", ("Europe/Prague",), 2,
            ("seznam.cz", "gmail.com", "email.cz"), "cz"),
)
COUNTRY_BY_CODE = {c.code: c for c in COUNTRIES}

_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    """IANA zones, cached; DST is real, so offsets in the archive change in late October."""
    found = _ZONES.get(name)
    if found is None:
        found = _ZONES[name] = ZoneInfo(name)
    return found


def university(country: str, city: str) -> tuple[str, str]:
    """A fictional university of that country: (name, mail domain) in the country's usual style."""
    slug = "".join(ch for ch in city.lower() if ch.isalnum() and ch.isascii())[:14] or "central"
    styles = {
        "US": (f"{city} State University", f"{slug}state.edu"),
        "CA": (f"University of {city}", f"u{slug}.ca"),
        "GB": (f"University of {city}", f"{slug}.ac.uk"),
        "DE": (f"Technische Universität {city}", f"tu-{slug}.de"),
        "FR": (f"Université de {city}", f"univ-{slug}.fr"),
        "NL": (f"Universiteit {city}", f"uni{slug}.nl"),
        "IN": (f"{city} Institute of Technology", f"{slug}it.ac.in"),
        "BR": (f"Universidade Federal de {city}", f"uf{slug[:6]}.edu.br"),
        "JP": (f"{city} University", f"{slug}-u.ac.jp"),
        "CN": (f"{city} University of Technology", f"{slug}ut.edu.cn"),
        "AU": (f"University of {city}", f"{slug}.edu.au"),
        "PL": (f"Politechnika {city}", f"p{slug}.edu.pl"),
        "ES": (f"Universidad de {city}", f"u{slug}.es"),
        "IT": (f"Università di {city}", f"uni{slug}.it"),
        "SE": (f"{city} universitet", f"{slug}.se"),
        "FI": (f"University of {city}", f"{slug}.fi"),
        "CZ": (f"Univerzita {city}", f"u{slug}.cz"),
    }
    return styles.get(country, (f"University of {city}", f"{slug}.edu"))


@dataclass(frozen=True, slots=True)
class Venue:
    """A place messages land: one mailing list or channel on one platform."""

    platform: str
    key: str  # our name for it, stable across seeds
    name: str  # channel or list name as the platform shows it
    native_id: str  # list id, Slack channel id, Discord channel id
    category: str | None = None
    topic: str = ""


MAIL_USERS = Venue("mail", "users", "syncwell-users", f"syncwell-users.{LIST_HOST}",
                   topic="Syncwell users")
MAIL_DEVEL = Venue("mail", "devel", "syncwell-devel", f"syncwell-devel.{LIST_HOST}",
                   topic="Syncwell development")

SLACK_VENUES = (
    Venue("slack", "general", "general", "C01GENERAL0", topic="Everything Syncwell. Be kind."),
    Venue("slack", "help", "help", "C01HELP0000", topic="Ask anything, someone will answer"),
    Venue("slack", "dev", "dev", "C01DEV00000", topic="Hacking on Syncwell itself"),
    Venue("slack", "deployments", "deployments", "C01DEPLOY00", topic="Running Syncwell in production"),
    Venue("slack", "hardware", "hardware", "C01HARDWARE", topic="The embedded agent, boards and firmware"),
    Venue("slack", "random", "random", "C01RANDOM00", topic="Off-topic"),
)

DISCORD_VENUES = (
    Venue("discord", "welcome", "welcome", "940118623571234820", "Start here", "Say hi!"),
    Venue("discord", "announcements", "announcements", "940118623571234821", "Start here",
          "Releases and news"),
    Venue("discord", "support", "support", "940118623571234822", "Help", "Ask for help here"),
    Venue("discord", "development", "development", "940118623571234823", "Contributing",
          "Patches, reviews and design"),
    Venue("discord", "showcase", "showcase", "940118623571234824", "Community", "Show what you built"),
    Venue("discord", "off-topic", "off-topic", "940118623571234825", "Community", "Anything goes"),
)

#: Where a kind of conversation happens on each platform (None: not on that platform).
ROUTES: dict[str, dict[str, str | None]] = {
    "question_basic": {"mail": "users", "slack": "help", "discord": "support"},
    "question_tech": {"mail": "users", "slack": "help", "discord": "support"},
    "deployment": {"mail": "users", "slack": "deployments", "discord": "support"},
    "patch": {"mail": "devel", "slack": "dev", "discord": "development"},
    "hardware": {"mail": "devel", "slack": "hardware", "discord": "development"},
    "product": {"mail": "devel", "slack": "dev", "discord": "development"},
    "business": {"mail": "users", "slack": "general", "discord": "support"},
    "research": {"mail": "devel", "slack": "dev", "discord": "development"},
    "intro": {"mail": "users", "slack": "general", "discord": "welcome"},
    "showcase": {"mail": "users", "slack": "random", "discord": "showcase"},
    "announcement": {"mail": "devel", "slack": "general", "discord": "announcements"},
    "chat": {"mail": None, "slack": "random", "discord": "off-topic"},
    "ci": {"mail": "devel", "slack": "dev", "discord": "development"},
}


def venue(platform: str, key: str) -> Venue:
    for v in (MAIL_USERS, MAIL_DEVEL, *SLACK_VENUES, *DISCORD_VENUES):
        if v.platform == platform and v.key == key:
            return v
    raise KeyError(f"{platform}:{key}")
