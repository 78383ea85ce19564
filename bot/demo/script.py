"""What a conversation will say, before anyone is cast in it; and each persona's way of speaking.

A ``Script`` holds the opener, the answers, the asker's follow-ups and thanks for one
conversation. The planner casts people into it; the ``Voice`` adds what gives a person
away (``our servers``, ``we ship boards``, ``my thesis``) to some of their messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from bot.demo.people import Person

COUNTRY_NAMES = {
    "US": "the US", "DE": "Germany", "IN": "India", "GB": "the UK", "FR": "France", "BR": "Brazil",
    "NL": "the Netherlands", "PL": "Poland", "JP": "Japan", "CN": "China", "CA": "Canada", "AU": "Australia",
    "ES": "Spain", "IT": "Italy", "SE": "Sweden", "FI": "Finland", "CZ": "the Czech Republic",
}


@dataclass(frozen=True, slots=True)
class Line:
    """One message's content, platform-neutral; writers add greetings, quotes and signatures."""

    text: str
    code: str = ""  # a log, trace or config shown as a block
    patch: str = ""  # a unified diff; inline in mail, a fenced block in chat
    diffstat: str = ""


@dataclass(frozen=True, slots=True)
class Script:
    kind: str
    subject: str
    opener: Line
    answers: tuple[Line, ...] = ()  # answers[0] answers the opener, answers[i+1] answers followups[i]
    followups: tuple[Line, ...] = ()
    thanks: tuple[str, ...] = ()  # "{helper}" is the helper's first name
    chatter: tuple[str, ...] = ()  # others chiming in
    technical: bool = True  # only technical people answer
    helpers: tuple[str, ...] = ()  # persona kinds preferred as helpers; empty: anyone fitting
    closing: Line | None = None  # the helper's last word (a maintainer's "applied, thanks")


def pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def chat_greeting(rng: random.Random, post_role: str) -> str:
    """Chat openers sometimes start with a hello; mail greetings are the mail writer's business."""
    if post_role != "opener" or rng.random() < 0.7:
        return ""
    return rng.choice(("Hi all! ", "Hey folks! ", "Hello 👋 ", "hi! ", "Good evening! "))


class Voice:
    """Persona-specific phrases; used sparingly so that no single message gives everything away."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def cue(self, person: Person) -> str:
        """A sentence that reveals who the person is; empty for people with nothing to reveal."""
        rng = self._rng
        n = rng.choice((40, 80, 150, 300, 1200, 3500))
        size = ""
        if person.org is not None and rng.random() < 0.5:
            size = (pick(rng, f" We're a big organisation, around {rng.randrange(3, 40) * 1000} employees.",
                         f" Across all {rng.randrange(12, 90)} of our sites worldwide.",
                         " Our group has offices on three continents.")
                    if person.org_size == "large"
                    else pick(rng, f" We're a small team of {rng.randrange(6, 45)} people.",
                              " We're a small company, so I wear many hats.",
                              f" Small shop here, {rng.randrange(3, 30)} people."))
        cues = {
            "it_pro": (f"We run Syncwell on our servers for about {n} staff.", "On our servers at work",
                       "Our IT department rolled Syncwell out last year.", "In our company network"),
            "integrator": ("We deploy Syncwell for clients.", "One of our customers asked us about this.",
                           "We do Syncwell roll-outs for our customers.",
                           f"We've deployed it for {rng.randrange(5, 40)} clients so far."),
            "isv": ("We build our product on top of Syncwell.", "Our app embeds the Syncwell SDK.",
                    "Our customers use our product, which uses Syncwell underneath.",
                    "We build a document management product on top of the Syncwell API."),
            "device_maker": ("We ship boards with the Syncwell agent in our firmware.",
                             "Our OEM customers want Syncwell on the device.",
                             "We're evaluating the agent for our next SoC.",
                             f"We ship about {rng.randrange(20, 900)}k units a year with the agent."),
            "service_provider": (f"We host Syncwell for about {n} customers.", "In our cloud",
                                 "We offer Syncwell as a managed service.",
                                 "Our hosting platform runs Syncwell."),
            "academic": ("For my thesis I'm looking at sync protocols.", "Our research group uses Syncwell.",
                         "In our lab we run a Syncwell instance for experiments.",
                         "My supervisor suggested I ask here."),
            "hobbyist": ("On my home server", "I run it on a Raspberry Pi at home.", "In my spare time",
                         "Weekend project:"),
            "end_user": ("I'm not very technical, sorry.", "My son set this up for me.",
                         "I use it for family photos.", "I'm new to all of this."),
        }
        options: tuple[str, ...] | None = cues.get(person.persona)
        if not options:
            return ""
        if person.manager:
            options = ("I'm on the business side, not an engineer.", "I'm not technical myself.",
                       "Our engineering team is evaluating Syncwell.")
        return rng.choice(options) + size

    def flavour_opener(self, line: Line, person: Person, *, chance: float = 0.6) -> Line:
        if self._rng.random() >= chance:
            return line
        cue = self.cue(person)
        if not cue:
            return line
        if cue.endswith((".", "!", "?")):
            return replace(line, text=f"{cue} {line.text}")
        return replace(line, text=f"{cue}: {line.text[0].lower()}{line.text[1:]}")

    def flavour_reply(self, line: Line, person: Person) -> Line:
        """Helpers from companies often frame answers by their own setup."""
        rng = self._rng
        if person.persona in ("end_user", "core_maintainer") or rng.random() >= 0.35:
            return line
        frames = {
            "it_pro": "We had the same on our servers.",
            "integrator": "We see this at customers a lot.",
            "isv": "We hit this in our product too.",
            "device_maker": "Same on our boards.",
            "service_provider": "We ran into this in our cloud.",
            "academic": "We had this in our lab setup.",
            "hobbyist": "Had this on my home server.",
        }
        frame = frames.get(person.persona)
        return replace(line, text=f"{frame} {line.text}") if frame else line

    def intro_line(self, person: Person) -> str:
        rng = self._rng
        where = COUNTRY_NAMES.get(person.country, "")
        origin = f" from {where}" if where and rng.random() < 0.7 else ""
        if person.org is not None:
            job = f"I'm {person.first}{origin}, {person.title or 'working'} at {person.org.name}."
        elif person.institution is not None:
            job = f"I'm {person.first}{origin}, {person.title or 'student'} at {person.institution}."
        else:
            job = f"I'm {person.first}{origin}."
        return job
