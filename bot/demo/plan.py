"""The conversation plan: who starts what, where and when, and who answers.

The plan is platform-neutral (threads of posts in venues); the writers turn it into
archive files. Every member opens at least one conversation on each platform they use,
so every account appears in the archives; answers are cast from people active at that
moment, weighted by their remaining reply budget and by how well they fit the topic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.demo import talk_social, talk_tech, talk_users
from bot.demo.people import Person
from bot.demo.personas import PERSONA_BY_KIND
from bot.demo.script import Line, Script, Voice
from bot.demo.timing import awake, opening_time, reply_delay
from bot.demo.world import END, ROUTES, START, Venue, venue

CHAT_EMOJI = ("thumbsup", "pray", "tada", "heart", "white_check_mark", "eyes", "rocket")


@dataclass(slots=True)
class Post:
    seq: int
    author: Person
    at: datetime
    line: Line
    role: str  # opener, answer, followup, thanks, chatter, closing, welcome
    subject: str
    parent: Post | None = None
    reactions: list[tuple[Person, str]] = field(default_factory=list)


@dataclass(slots=True)
class Thread:
    venue: Venue
    kind: str
    posts: list[Post]

    @property
    def platform(self) -> str:
        return self.venue.platform


@dataclass(frozen=True, slots=True)
class Join:
    person: Person
    venue: Venue
    at: datetime


@dataclass(slots=True)
class Plan:
    people: list[Person]
    threads: list[Thread]
    joins: list[Join]


class Planner:
    def __init__(self, rng: random.Random, people: list[Person]) -> None:
        self._rng = rng
        self._people = people
        self._voice = Voice(rng)
        self._budget = {p.key: p.replies for p in people}
        self._seq = 0
        self._by_platform = {
            platform: [p for p in people if platform in p.platforms and not p.is_bot]
            for platform in ("mail", "slack", "discord")
        }

    def plan(self) -> Plan:
        rng = self._rng
        seeds: list[tuple[datetime, int, Person, str, str]] = []
        for person in self._people:
            if person.is_bot:
                continue
            for i in range(person.starts):
                platform = person.platforms[i] if i < len(person.platforms) else rng.choice(person.platforms)
                kind = self._kind(person, platform, first=i < len(person.platforms))
                at = opening_time(rng, person)
                seeds.append((at, len(seeds), person, platform, kind))
        seeds.sort(key=lambda s: (s[0], s[1]))
        threads = [self._thread(person, platform, kind, at) for at, _, person, platform, kind in seeds]
        threads.extend(self._bot_threads())
        joins, welcomes = self._joins()
        threads.extend(welcomes)
        threads.sort(key=lambda t: (t.posts[0].at, t.posts[0].seq))
        return Plan(people=self._people, threads=threads, joins=joins)

    # -- choosing ------------------------------------------------------------------------

    def _kind(self, person: Person, platform: str, *, first: bool) -> str:
        rng = self._rng
        if person.engagement == "newcomer" and first and rng.random() < 0.5:
            return "intro"
        topics = PERSONA_BY_KIND[person.persona].topics
        if person.manager:
            topics = (("business", 5), ("product", 1))
        allowed = [(k, w) for k, w in topics if ROUTES[k][platform] is not None]
        return rng.choices([k for k, _ in allowed], weights=[w for _, w in allowed])[0]

    def _script(self, kind: str, person: Person, at: datetime) -> Script:
        rng = self._rng
        if kind == "question_basic":
            return talk_users.basic_question(rng)
        if kind == "question_tech":
            return talk_tech.tech_question(rng, at)
        if kind == "deployment":
            return talk_tech.deployment(rng, at)
        if kind == "hardware":
            return talk_tech.hardware(rng, at)
        if kind == "patch":
            return talk_tech.patch(rng)
        if kind == "product":
            return talk_social.product(rng)
        if kind == "business":
            return talk_social.business(rng)
        if kind == "research":
            return talk_social.research(rng)
        if kind == "intro":
            return talk_social.intro(rng, person, self._voice)
        if kind == "showcase":
            return talk_social.showcase(rng)
        if kind == "announcement":
            return talk_social.announcement(rng)
        return talk_social.chat(rng)

    def _post(self, author: Person, at: datetime, line: Line, role: str, subject: str,
              parent: Post | None) -> Post:
        self._seq += 1
        return Post(seq=self._seq, author=author, at=at, line=line, role=role, subject=subject, parent=parent)

    def _helper(self, platform: str, at: datetime, script: Script, exclude: set[str]) -> Person | None:
        rng = self._rng
        pool = []
        weights = []
        for p in self._by_platform[platform]:
            if p.key in exclude or not (p.active_from <= at < p.active_until):
                continue
            if script.technical and p.skill != "technical":
                continue
            if script.kind == "patch" and p.persona not in script.helpers:
                continue  # only maintainers review and apply patches
            if script.kind == "question_basic" and p.persona == "end_user" and p.engagement != "regular":
                continue
            fit = 4.0 if p.persona in script.helpers else 1.0
            budget = self._budget[p.key]
            weight = budget * fit if budget > 0 else (0.3 if p.persona == "core_maintainer" else 0.0)
            if weight > 0:
                pool.append(p)
                weights.append(weight)
        if not pool:
            return None
        chosen = rng.choices(pool, weights=weights)[0]
        self._budget[chosen.key] -= 1
        return chosen

    def _after(self, person: Person, previous: datetime, platform: str) -> datetime | None:
        at = awake(self._rng, person, previous + reply_delay(self._rng, platform))
        if at <= previous:
            at = previous + timedelta(minutes=1)
        return at if at < min(person.active_until, END) else None

    # -- threads -------------------------------------------------------------------------

    def _thread(self, asker: Person, platform: str, kind: str, at: datetime) -> Thread:
        rng = self._rng
        place = venue(platform, ROUTES[kind][platform] or "general")
        script = self._script(kind, asker, at)
        opener_line = script.opener
        if kind not in ("intro", "patch", "announcement", "chat", "showcase"):
            opener_line = self._voice.flavour_opener(opener_line, asker)
        root = self._post(asker, at, opener_line, "opener", script.subject, None)
        posts = [root]
        if not script.answers or (kind not in ("patch", "intro") and rng.random() < 0.1):
            return Thread(place, kind, posts)  # some questions never get an answer
        helper = self._helper(platform, at, script, {asker.key})
        if helper is None:
            return Thread(place, kind, posts)
        last = root
        when = self._after(helper, at, platform)
        if when is None:
            return Thread(place, kind, posts)
        answer = replace(script.answers[0], text=script.answers[0].text.replace("{asker}", asker.first))
        last = self._post(helper, when, self._voice.flavour_reply(answer, helper), "answer", script.subject,
                          root)
        posts.append(last)
        self._chatter(script, platform, posts, root, {asker.key, helper.key})
        for i, followup in enumerate(script.followups):
            if rng.random() > (0.95 if kind == "patch" else 0.7):
                break
            when = self._after(asker, last.at, platform)
            if when is None:
                break
            asked = self._post(asker, when, followup, "followup", script.subject, last)
            posts.append(asked)
            if i + 1 < len(script.answers):
                when = self._after(helper, asked.at, platform)
                if when is None:
                    break
                last = self._post(helper, when, script.answers[i + 1], "answer", script.subject, asked)
                posts.append(last)
            else:
                last = asked
        if script.closing is not None and last.author is asker and rng.random() < 0.8:
            when = self._after(helper, last.at, platform)
            if when is not None:
                last = self._post(helper, when, script.closing, "closing", script.subject, last)
                posts.append(last)
        if script.thanks and last.author is helper and rng.random() < 0.7:
            when = self._after(asker, last.at, platform)
            if when is not None:
                text = rng.choice(script.thanks).replace("{helper}", helper.first)
                posts.append(self._post(asker, when, Line(text), "thanks", script.subject, last))
                if platform != "mail" and rng.random() < 0.6:
                    last.reactions.append((asker, rng.choice(("thumbsup", "pray", "white_check_mark"))))
        self._react(platform, posts)
        posts.sort(key=lambda p: (p.at, p.seq))
        return Thread(place, kind, posts)

    def _chatter(self, script: Script, platform: str, posts: list[Post], root: Post,
                 exclude: set[str]) -> None:
        rng = self._rng
        if not script.chatter or rng.random() > 0.3:
            return
        who = self._helper(platform, root.at, replace(script, helpers=()), exclude)
        if who is None:
            return
        when = self._after(who, root.at, platform)
        if when is None:
            return
        posts.append(self._post(who, when, Line(rng.choice(script.chatter)), "chatter", script.subject, root))
        posts.sort(key=lambda p: (p.at, p.seq))

    def _react(self, platform: str, posts: list[Post]) -> None:
        rng = self._rng
        if platform == "mail":
            return
        people = self._by_platform[platform]
        for post in posts:
            if rng.random() < 0.25:
                for _ in range(rng.randint(1, 3)):
                    who = rng.choice(people)
                    if who.active_from <= post.at < who.active_until and who is not post.author and all(
                        r[0] is not who for r in post.reactions
                    ):
                        post.reactions.append((who, rng.choice(CHAT_EMOJI)))

    def _bot_threads(self) -> list[Thread]:
        rng = self._rng
        threads: list[Thread] = []
        for bot in (p for p in self._people if p.is_bot and p.starts):
            platform = bot.platforms[0]
            place = venue(platform, ROUTES["ci"][platform] or "general")
            step = (END - START) / bot.starts
            for i in range(bot.starts):
                # Nightly builds, a little after two, spread evenly over the twelve weeks.
                jitter = timedelta(hours=2, minutes=rng.randrange(0, 50))
                at = (START + step * i + jitter).replace(microsecond=0)
                script = talk_social.ci_notice(rng, at, 4100 + i * 3 + rng.randrange(3))
                root = self._post(bot, at, script.opener, "opener", script.subject, None)
                posts = [root]
                if script.answers and rng.random() < 0.7:
                    helper = self._helper(platform, at, script, set())
                    when = self._after(helper, at, platform) if helper is not None else None
                    if helper is not None and when is not None:
                        posts.append(self._post(helper, when, script.answers[0], "answer", script.subject,
                                                root))
                threads.append(Thread(place, "ci", posts))
        return threads

    def _joins(self) -> tuple[list[Join], list[Thread]]:
        """Newcomers join #general on Slack and the server on Discord, where a bot welcomes them."""
        rng = self._rng
        joins: list[Join] = []
        welcomes: list[Thread] = []
        welcome_bot = next((p for p in self._people if p.key == "bot-discord-welcome"), None)
        for person in self._people:
            if person.engagement != "newcomer":
                continue
            at = (person.active_from - timedelta(minutes=rng.randrange(5, 90))).replace(microsecond=0)
            if "slack" in person.platforms:
                joins.append(Join(person, venue("slack", "general"), at))
            if "discord" in person.platforms:
                place = venue("discord", "welcome")
                joins.append(Join(person, place, at))
                if welcome_bot is not None:
                    text = (f"Welcome @{person.discord_nick or person.discord_handle}! 👋 Have a look at "
                            "#announcements and ask anything in #support.")
                    post = self._post(welcome_bot, at + timedelta(seconds=rng.randrange(2, 20)), Line(text),
                                      "welcome", "", None)
                    welcomes.append(Thread(place, "welcome", [post]))
        return joins, welcomes
