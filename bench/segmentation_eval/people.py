"""Enumerate the people in the shared archives and print one person's own messages.

This is the reading aid behind the hand-labelled segmentation set: it lists the people of each
source under their pseudonymous key (see ``keys.py``) with a few neutral counts, and prints what a
given person wrote (own text first, quoted text dropped, patches cut short) so a labeller, or a
later reviewer, can re-derive every label from the same material. It reads the archives in
``/work/shared/data`` (or ``$COHORTBOT_SHARED_DATA``) and never writes into the repository; the
parsed mailing list is cached in the temp directory because parsing 170 MB of mbox takes a while.

Usage (from the repository root)::

    .venv/bin/python bench/segmentation_eval/people.py list mail --min-posts 1
    .venv/bin/python bench/segmentation_eval/people.py list slack-qa
    .venv/bin/python bench/segmentation_eval/people.py list gitter
    .venv/bin/python bench/segmentation_eval/people.py show mail:0123456789abcdef --max 8

``list`` prints one JSON object per person (key, source, counts, and for mail the domain only);
``show`` prints the person's messages as plain text for reading, so its output holds personal
data and must not be committed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import pickle
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keys import gitter_key, mail_key, slackqa_key

MBOX = Path("mail-linux-raid") / "linux-raid.mbox.gz"
SLACK_DIR = Path("slack-qa-chats") / "data"
GITTER_DIR = Path("gitter-chats") / "data" / "raw"

_FROM_LINE = re.compile(rb"^From \S+ ")
_ESCAPED_FROM = re.compile(rb"^>(>*From )")
_GITTER_LINE = re.compile(r"^\[(?P<ts>[^\]]+)\] <(?P<user>[^>]+)> ?(?P<text>.*)$")
_ATTRIBUTION = re.compile(r"^(On .*wrote:|.*\bwrote:\s*$|Am .*schrieb.*:|Le .*a écrit\s*:)")
_PATCH_START = re.compile(r"^(diff --git |--- a/|Index: |\+\+\+ b/)")


def shared_data() -> Path:
    """Where the shared archives live (same convention as the tests)."""
    env = os.environ.get("COHORTBOT_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclass(frozen=True, slots=True)
class Post:
    """One message as the labeller needs it: who, when, where, and what they wrote themselves."""

    key: str
    source: str
    place: str
    when: str
    subject: str
    own: str
    signature: str = ""
    patch_lines: int = 0
    quoted_lines: int = 0


@dataclass(slots=True)
class Person:
    """Neutral per-person counts used to stratify the sample."""

    key: str
    source: str
    posts: int = 0
    patches: int = 0
    thread_starts: int = 0
    domain: str = ""
    places: set[str] = field(default_factory=set)
    first: str = ""
    last: str = ""


# --------------------------------------------------------------------------- mail


def _split_mboxrd(raw: bytes) -> Iterator[bytes]:
    """Split an mboxrd byte string into messages, undoing the ``>From`` escaping."""
    lines = raw.split(b"\n")
    current: list[bytes] = []
    previous_blank = True
    for line in lines:
        if previous_blank and _FROM_LINE.match(line):
            if current:
                yield b"\n".join(current)
            current = []
        else:
            current.append(_ESCAPED_FROM.sub(rb"\1", line))
        previous_blank = line.strip() == b""
    if current:
        yield b"\n".join(current)


def sender_address(msg: EmailMessage) -> str:
    """The person behind a post: ``Reply-To`` when the list or a relay rewrote ``From``."""
    name, addr = parseaddr(str(msg.get("From", "")))
    reply_to = msg.get("Reply-To")
    if reply_to and " via " in f" {name} ":
        pairs = getaddresses([str(reply_to)])
        if pairs and pairs[0][1]:
            return pairs[0][1].strip().lower()
    return addr.strip().lower()


def _text_of(msg: EmailMessage) -> str:
    parts: list[str] = []
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        if part.get_content_type() != "text/plain" or part.get_filename():
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if isinstance(content, str):
            parts.append(content)
    return "\n".join(parts)


def split_body(text: str) -> tuple[str, str, int, int]:
    """Return (own text, signature, patch line count, quoted line count) of a mail body."""
    own: list[str] = []
    signature: list[str] = []
    patch = 0
    quoted = 0
    mode = "own"
    for line in text.splitlines():
        if mode == "patch":
            patch += 1
            continue
        if mode == "own" and _PATCH_START.match(line):
            mode = "patch"
            patch += 1
            continue
        if line.rstrip() == "--":
            mode = "signature"
            continue
        if line.startswith(">"):
            quoted += 1
            continue
        if mode == "signature":
            signature.append(line)
        elif not _ATTRIBUTION.match(line):
            own.append(line)
    collapsed = re.sub(r"\n{3,}", "\n\n", "\n".join(own)).strip()
    return collapsed, "\n".join(signature[:12]).strip(), patch, quoted


def _parse_mail(path: Path) -> list[tuple[str, Post]]:
    parser = BytesParser(policy=policy.default)
    out: list[tuple[str, Post]] = []
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    for blob in _split_mboxrd(raw):
        msg = parser.parsebytes(blob)
        assert isinstance(msg, EmailMessage)
        address = sender_address(msg)
        if "@" not in address:
            continue
        own, signature, patch, quoted = split_body(_text_of(msg))
        post = Post(
            key=mail_key(address),
            source="linux-raid",
            place="linux-raid",
            when=str(msg.get("Date", "")),
            subject=" ".join(str(msg.get("Subject", "")).split()),
            own=own,
            signature=signature,
            patch_lines=patch,
            quoted_lines=quoted,
        )
        out.append((address.rsplit("@", 1)[1], post))
    return out


def mail_posts() -> list[tuple[str, Post]]:
    """All list posts as (sender domain, post), cached in the temp directory between runs."""
    path = shared_data() / MBOX
    stat = path.stat()
    tag = hashlib.blake2b(f"{path}:{stat.st_size}:{stat.st_mtime_ns}:v3".encode(), digest_size=6)
    cache = Path(tempfile.gettempdir()) / f"segeval-mail-{tag.hexdigest()}.pickle"
    # Plain tuples, not Post objects: the pickle must load whether this file runs as a script
    # (``__main__``) or is imported as a module.
    if cache.exists():
        with cache.open("rb") as fh:
            rows: list[tuple[str, tuple[str | int, ...]]] = pickle.load(fh)
        return [(domain, Post(*fields)) for domain, fields in rows]  # type: ignore[arg-type]
    posts = _parse_mail(path)
    with cache.open("wb") as fh:
        pickle.dump([(domain, astuple(post)) for domain, post in posts], fh)
    return posts


# --------------------------------------------------------------------------- chats


def slack_posts() -> Iterator[Post]:
    """Slack QA messages; the community is the folder name under ``slack-qa-chats/data``."""
    root = shared_data() / SLACK_DIR
    for xml_file in sorted(root.glob("*/*/*.xml")):
        community = xml_file.relative_to(root).parts[0]
        tree = ET.parse(xml_file)
        channel = tree.findtext("channel_name") or xml_file.stem
        for message in tree.getroot().iter("message"):
            user = message.findtext("user") or ""
            if not user:
                continue
            yield Post(
                key=slackqa_key(community, user),
                source="slack-qa",
                place=f"{community}#{channel}#c{message.get('conversation_id', '')}",
                when=message.findtext("ts") or "",
                subject="",
                own=message.findtext("text") or "",
            )


def gitter_posts() -> Iterator[Post]:
    """Gitter raw log lines ``[timestamp] <user> text``; one log file is one room."""
    root = shared_data() / GITTER_DIR
    for log_file in sorted(root.glob("*.txt")):
        stem = log_file.stem
        with log_file.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                match = _GITTER_LINE.match(line.rstrip("\n"))
                if not match:
                    continue
                yield Post(
                    key=gitter_key(stem, match["user"]),
                    source="gitter",
                    place=stem,
                    when=match["ts"],
                    subject="",
                    own=match["text"].replace("\\n", "\n"),
                )


# --------------------------------------------------------------------------- people


def _posts_of(source: str) -> Iterator[tuple[str, Post]]:
    if source == "mail":
        yield from mail_posts()
    elif source == "slack-qa":
        yield from (("", p) for p in slack_posts())
    elif source == "gitter":
        yield from (("", p) for p in gitter_posts())
    else:
        raise SystemExit(f"unknown source {source!r} (mail, slack-qa, gitter)")


def people(source: str) -> dict[str, Person]:
    """Per-person counts for one source, keyed by the pseudonymous key."""
    found: dict[str, Person] = {}
    for domain, post in _posts_of(source):
        person = found.setdefault(post.key, Person(key=post.key, source=post.source, domain=domain))
        person.posts += 1
        person.patches += post.patch_lines > 0
        person.thread_starts += bool(post.subject) and not post.subject.lower().startswith("re:")
        person.places.add(post.place.split("#c")[0])
        person.first = min(person.first or post.when, post.when)
        person.last = max(person.last, post.when)
    return found


def _source_of_key(key: str) -> str:
    return {"mail": "mail", "slackqa": "slack-qa", "gitter": "gitter"}[key.split(":", 1)[0]]


def show(key: str, *, limit: int, chars: int) -> None:
    """Print up to ``limit`` of the person's messages, own text first, for reading."""
    posts = [p for _, p in _posts_of(_source_of_key(key)) if p.key == key]
    print(f"== {key}: {len(posts)} messages")
    if posts and posts[0].source != "linux-raid":
        # Chat lines are short: print them as a stream, each with its conversation.
        for post in posts[:limit]:
            print(f"[{post.when[:16]} {post.place}] {post.own[:chars]}")
        return
    for post in posts[:limit]:
        print(f"--- {post.when} | {post.subject[:100]} | patch={post.patch_lines} quoted={post.quoted_lines}")
        print(post.own[:chars])
        if post.signature:
            print("  [sig] " + post.signature.replace("\n", "\n  [sig] "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    list_cmd = sub.add_parser("list", help="one JSON line per person")
    list_cmd.add_argument("source", choices=["mail", "slack-qa", "gitter"])
    list_cmd.add_argument("--min-posts", type=int, default=1)
    show_cmd = sub.add_parser("show", help="print one person's messages (personal data: do not commit)")
    show_cmd.add_argument("key")
    show_cmd.add_argument("--max", type=int, default=10)
    show_cmd.add_argument("--chars", type=int, default=1500)
    args = parser.parse_args(argv)
    if args.command == "list":
        for person in sorted(people(args.source).values(), key=lambda p: (-p.posts, p.key)):
            if person.posts < args.min_posts:
                continue
            row = {
                "key": person.key,
                "source": person.source,
                "posts": person.posts,
                "patch_posts": person.patches,
                "thread_starts": person.thread_starts,
                "places": sorted(person.places),
            }
            if person.domain:
                row["domain"] = person.domain
            print(json.dumps(row))
    else:
        show(args.key, limit=args.max, chars=args.chars)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
