"""The mailing lists as mboxrd files, one per list, as a list archive would hand them out.

Messages carry what real list mail carries and importers must cope with: local-time
``Date`` headers, threading by ``In-Reply-To``/``References``, ``List-Id``, quoted replies
(bottom- and top-posted), inline ``git format-patch`` patches, ``-- `` signatures,
RFC 2047 encoded names, and DMARC-rewritten ``From`` with the person in ``Reply-To``.
"""

from __future__ import annotations

import quopri
import random
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

from bot.demo.people import Person
from bot.demo.plan import Plan, Post, Thread
from bot.demo.world import LIST_HOST, MAIL_DEVEL, MAIL_USERS, Venue, zone

_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Providers whose DMARC policy makes the list rewrite From (as Mailman's dmarc_moderation_action=munge).
DMARC_STRICT = ("yahoo.com", "yahoo.co.in", "yahoo.co.jp", "yahoo.es", "aol.com")


@dataclass(frozen=True, slots=True)
class MailArchive:
    """One list's mbox and what went into it."""

    venue: Venue
    path: str  # relative to the demo directory
    data: bytes
    messages: int


def dmarc_senders(people: list[Person]) -> set[str]:
    """Whose posts the list rewrites: strict-DMARC domains, plus one company so there is always one."""
    chosen = {p.key for p in people if "mail" in p.platforms and p.email.split("@")[1] in DMARC_STRICT}
    first_company = next((p for p in people if "mail" in p.platforms and p.org is not None
                          and p.email.endswith("@" + p.org.domain)), None)
    if first_company is not None:
        chosen.add(first_company.key)
    return chosen


class MailWriter:
    def __init__(self, rng: random.Random, plan: Plan) -> None:
        self._rng = rng
        self._plan = plan
        self._dmarc = dmarc_senders(plan.people)
        self._ids: dict[int, str] = {}

    def write(self) -> list[MailArchive]:
        archives = []
        for place in (MAIL_USERS, MAIL_DEVEL):
            threads = [t for t in self._plan.threads if t.venue == place]
            posts = sorted(((p, t) for t in threads for p in t.posts), key=lambda pt: (pt[0].at, pt[0].seq))
            for post, _ in posts:
                self._ids[post.seq] = self._message_id(post)
            chunks = [self._mbox_entry(post, thread) for post, thread in posts]
            archives.append(MailArchive(place, f"mail/{place.name}.mbox", b"".join(chunks), len(chunks)))
        return archives

    # -- one message ---------------------------------------------------------------------

    def _message_id(self, post: Post) -> str:
        domain = post.author.email.split("@")[1] if post.author.email else LIST_HOST
        if domain in ("gmail.com",):
            domain = "mail.gmail.com"
        return f"<{post.at:%Y%m%d%H%M%S}.{post.seq:05d}.{self._rng.getrandbits(40):010x}@{domain}>"

    def _mbox_entry(self, post: Post, thread: Thread) -> bytes:
        raw = self._message(post, thread)
        raw = _FROM_LINE.sub(rb">\1", raw)  # mboxrd: body lines that look like separators gain a '>'
        envelope = post.author.email or f"{thread.venue.name}@{LIST_HOST}"
        if not raw.endswith(b"\n"):
            raw += b"\n"
        return f"From {envelope} {envelope_time(post.at)}\n".encode() + raw + b"\n"

    def _message(self, post: Post, thread: Thread) -> bytes:
        """Headers and body written out directly: the email package's header objects are too slow here."""
        author = post.author
        place = thread.venue
        list_addr = f"{place.name}@{LIST_HOST}"
        person = formataddr((author.name, author.email), charset="utf-8")
        headers: list[tuple[str, str]] = []
        if author.key in self._dmarc:
            headers.append(("From", formataddr((f"{author.name} via {place.name}", list_addr),
                                               charset="utf-8")))
            headers.append(("Reply-To", person))
        else:
            headers.append(("From", person))
        headers.append(("To", list_addr))
        subject = f"[{place.name}] {post.subject}"
        headers.append(("Subject", _encode_words(subject if post.parent is None else f"Re: {subject}")))
        headers.append(("Date", format_datetime(post.at.astimezone(zone(author.tz)))))
        headers.append(("Message-ID", self._ids[post.seq]))
        if post.parent is not None:
            headers.append(("In-Reply-To", self._ids[post.parent.seq]))
            headers.append(("References", " ".join(self._ids[p.seq] for p in _ancestry(post.parent))))
        headers.append(("List-Id", f"{place.topic} <{place.native_id}>"))
        headers.append(("List-Post", f"<mailto:{list_addr}>"))
        headers.append(("List-Unsubscribe", f"<mailto:{place.name}-leave@{LIST_HOST}>"))
        headers.append(("Precedence", "list"))
        if author.is_bot:
            headers.append(("Auto-Submitted", "auto-generated"))
            headers.append(("X-Mailer", "syncwell-ci-notify/1.2"))
        elif author.mail_agent:
            header = "X-Mailer" if author.mail_agent.startswith("Microsoft") else "User-Agent"
            headers.append((header, author.mail_agent))
        body = self._body(post)
        data = body.encode("utf-8")
        if body.isascii():
            cte = "7bit"
        elif self._rng.random() < 0.4:
            cte = "quoted-printable"
            data = quopri.encodestring(data)
        else:
            cte = "8bit"
        headers.append(("MIME-Version", "1.0"))
        headers.append(("Content-Type", 'text/plain; charset="utf-8"'))
        headers.append(("Content-Transfer-Encoding", cte))
        head = "".join(_fold(name, value) for name, value in headers)
        return head.encode("ascii") + b"\n" + data

    def _body(self, post: Post) -> str:
        rng = self._rng
        author = post.author
        line = post.line
        if author.is_bot:
            return line.text + "\n"
        if post.role == "opener" and line.patch:
            return (f"{_wrap(line.text)}\n\nSigned-off-by: {author.name} <{author.email}>\n---\n"
                    f"{line.diffstat}\n\n{line.patch}\n-- \n2.47.1\n")
        own = _wrap(line.text)
        if line.code:
            own += "\n\n" + line.code
        greeting = ""
        if post.role in ("opener", "followup") or rng.random() < 0.4:
            parent_first = post.parent.author.first if post.parent is not None else ""
            greeting = rng.choice(("Hi all,", "Hello,", "Hi,",
                                   f"Hi {parent_first}," if parent_first else "Hi,"))
            greeting = greeting + "\n\n"
        closing = ""
        if rng.random() < 0.75:
            farewell = rng.choice(("Thanks,", "Best regards,", "Cheers,", "Regards,", "Thanks!"))
            closing = f"\n\n{farewell}\n{author.first}"
        text = greeting + own + closing
        if post.parent is not None and rng.random() < 0.8:
            quote = self._quote(post.parent)
            top_post = (author.mail_agent or "").startswith("Microsoft")
            text = f"{text}\n\n{quote}" if top_post else f"{quote}\n\n{text}"
        if author.signature and rng.random() < 0.85:
            text += f"\n\n-- \n{author.signature}"
        return text + "\n"

    def _quote(self, parent: Post) -> str:
        local = parent.at.astimezone(zone(parent.author.tz))
        head = f"On {format_datetime(local)}, {parent.author.name} wrote:"
        if parent.line.patch:
            lines = [ln for ln in parent.line.patch.splitlines() if ln.startswith(("+", "-", "@@"))
                     and not ln.startswith(("+++", "---"))][:4]
        else:
            lines = _wrap(parent.line.text).splitlines()[:5]
        return head + "\n" + "\n".join(f"> {ln}".rstrip() for ln in lines)


def _encode_words(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


def _fold(name: str, value: str) -> str:
    """``Name: value`` folded at spaces before column 78, as mail user agents do."""
    words = value.split(" ")
    lines: list[str] = []
    current = f"{name}:"
    for word in words:
        if len(current) + 1 + len(word) > 78 and current.strip() and not current.endswith(":"):
            lines.append(current)
            current = f" {word}"
        else:
            current = f"{current} {word}"
    lines.append(current)
    return "\n".join(lines) + "\n"


def _ancestry(post: Post) -> list[Post]:
    chain = []
    node: Post | None = post
    while node is not None:
        chain.append(node)
        node = node.parent
    return list(reversed(chain))


def _wrap(text: str) -> str:
    return "\n\n".join(textwrap.fill(p, width=72, break_long_words=False, break_on_hyphens=False)
                       for p in text.split("\n\n"))


def envelope_time(at: datetime) -> str:
    """The ``From_`` line's date, locale-free: strftime's %a/%b would follow the process locale."""
    return f"{_DAYS[at.weekday()]} {_MONTHS[at.month - 1]} {at.day:2d} {at:%H:%M:%S %Y}"
