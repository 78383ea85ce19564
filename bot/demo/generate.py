"""Generate the demo community's archives and its ground-truth manifest, deterministically.

The same seed and member count give byte-identical files: all randomness flows from one
``random.Random(seed)`` and seeded Faker instances, times are fixed to a twelve-week window
ending at ``world.END``, and nothing reads the wall clock. Files are only rewritten when
their content changes, so a second run leaves them (and their fingerprints) alone.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigurationError
from bot.demo.defaults import DEFAULT_MEMBERS, DEFAULT_SEED
from bot.demo.people import Person, Population
from bot.demo.plan import Plan, Planner
from bot.demo.world import END, PROJECT, START, WEEKS
from bot.demo.write_discord import DiscordWriter
from bot.demo.write_mail import MailWriter, dmarc_senders
from bot.demo.write_slack import SlackWriter

log = logging.getLogger(__name__)


MANIFEST = "manifest.json"
GENERATOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """Where the archives are, what they hold, and how many files this run (re)wrote."""

    root: Path
    mbox: tuple[Path, ...]
    slack: Path
    discord: tuple[Path, ...]
    manifest: dict[str, Any]
    written: int = 0
    paths: tuple[str, ...] = field(default=())

    @property
    def messages(self) -> dict[str, int]:
        return dict(self.manifest["counts"]["messages"])


def build_demo(*, seed: int = DEFAULT_SEED, members: int = DEFAULT_MEMBERS) -> dict[str, bytes]:
    """Every file of the demo, by relative path, in memory."""
    rng = random.Random(seed)
    people = Population(rng, seed=seed).build(members)
    plan = Planner(rng, people).plan()
    mail = MailWriter(random.Random(seed + 1), plan).write()
    slack = SlackWriter(random.Random(seed + 2), plan).write()
    discord = DiscordWriter(random.Random(seed + 3), plan).write()
    files: dict[str, bytes] = {a.path: a.data for a in mail}
    files.update(slack.files)
    files.update(discord.files)
    counts = {
        "messages": {"mail": sum(a.messages for a in mail), "slack": slack.messages,
                     "discord": discord.messages},
        "joins": {"mail": 0, "slack": slack.joins, "discord": discord.joins},
        "reactions": {"mail": 0, "slack": slack.reactions, "discord": discord.reactions},
        "per_place": {f"{a.venue.platform}:{a.venue.name}": a.messages for a in mail}
        | _per_place(plan, "slack") | _per_place(plan, "discord"),
    }
    manifest = _manifest(plan, seed=seed, members=members, counts=counts, files=sorted(files))
    files[MANIFEST] = json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"
    return files


def generate_demo(out_dir: Path, *, seed: int = DEFAULT_SEED, members: int = DEFAULT_MEMBERS) -> DemoFiles:
    """Write the demo into ``out_dir``; files whose content is unchanged are left untouched."""
    out_dir = Path(out_dir)
    _check_ours(out_dir)
    files = build_demo(seed=seed, members=members)
    previous = _previous_files(out_dir)
    written = 0
    for rel, data in files.items():
        target = out_dir / rel
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        written += 1
    for rel in sorted(previous - set(files)):
        stale = out_dir / rel
        if stale.is_file():
            stale.unlink()  # left over from another seed or size; an importer must not read it
    manifest = json.loads(files[MANIFEST])
    log.info("demo files in %s: %d written, %d unchanged", out_dir, written, len(files) - written)
    return DemoFiles(
        root=out_dir,
        mbox=tuple(out_dir / rel for rel in sorted(files) if rel.endswith(".mbox")),
        slack=out_dir / "slack",
        discord=tuple(out_dir / rel for rel in sorted(files) if rel.startswith("discord/")),
        manifest=manifest,
        written=written,
        paths=tuple(sorted(files)),
    )


def _check_ours(out_dir: Path) -> None:
    """Refuse to write into a folder that holds anything but a previous demo."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigurationError(f"{out_dir} exists and is not a folder")
    if (out_dir / MANIFEST).is_file():
        return
    foreign = [p.name for p in out_dir.iterdir() if not p.name.startswith("demo.db")]
    if foreign:
        raise ConfigurationError(
            f"{out_dir} is not empty and holds no demo {MANIFEST} ({', '.join(sorted(foreign)[:3])} ...); "
            "choose an empty or new folder for the demo"
        )


def _previous_files(out_dir: Path) -> set[str]:
    try:
        old = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        return {str(p) for p in old.get("files", []) if isinstance(p, str) and ".." not in p}
    except (OSError, ValueError, AttributeError):
        return set()


def _per_place(plan: Plan, platform: str) -> dict[str, int]:
    counter: Counter[str] = Counter()
    for thread in plan.threads:
        if thread.platform == platform:
            counter[f"{platform}:{thread.venue.name}"] += len(thread.posts)
    return dict(sorted(counter.items()))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _manifest(
    plan: Plan, *, seed: int, members: int, counts: dict[str, Any], files: list[str]
) -> dict[str, Any]:
    dmarc = dmarc_senders(plan.people)
    per_person: dict[str, Counter[str]] = {p.key: Counter() for p in plan.people}
    # An account exists in the archives when it posted, reacted or joined there.
    present: dict[str, set[str]] = {p.key: set() for p in plan.people}
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for thread in plan.threads:
        for post in thread.posts:
            key = post.author.key
            per_person[key][thread.platform] += 1
            present[key].add(thread.platform)
            for who, _ in post.reactions:
                present[who.key].add(thread.platform)
            first[key] = min(first.get(key, post.at), post.at)
            last[key] = max(last.get(key, post.at), post.at)
    for join in plan.joins:
        present[join.person.key].add(join.venue.platform)
    entries = []
    expected_members = merged = 0
    accounts: Counter[str] = Counter()
    for p in plan.people:
        platforms = tuple(x for x in p.platforms if x in present[p.key])
        merge = _merges(p, platforms)
        expected_members += len(platforms) - (1 if merge else 0)
        merged += 1 if merge else 0
        accounts.update(platforms)
        entries.append({
            "key": p.key, "name": p.name, "persona": p.persona, "is_bot": p.is_bot,
            "truth": {"skill": p.skill, "purpose": p.purpose, "org_type": p.org_type, "org_size": p.org_size,
                      "location": p.country, "engagement": p.engagement},
            "organisation": p.org.name if p.org else None, "institution": p.institution, "title": p.title,
            "time_zone": p.tz, "accounts": _accounts(p, platforms, dmarc), "merged_by_email": merge,
            "messages": dict(sorted(per_person[p.key].items())),
            "first_seen": _iso(first.get(p.key)), "last_seen": _iso(last.get(p.key)),
            "active_from": _iso(p.active_from), "active_until": _iso(p.active_until),
        })
    return {
        "generator": {"name": "cohortbot demo", "version": GENERATOR_VERSION, "seed": seed,
                      "members": members},
        "community": PROJECT,
        "window": {"start": START.isoformat(), "end": END.isoformat(), "weeks": WEEKS},
        "counts": counts | {
            "accounts": dict(sorted(accounts.items())),
            "expected_members": expected_members,
            "multi_platform_members": merged,
            "bots": [p.key for p in plan.people if p.is_bot and present[p.key]],
            "people": sum(1 for p in plan.people if not p.is_bot and present[p.key]),
        },
        "files": files,
        "members": [e for e in entries if e["accounts"]],
    }


def _merges(p: Person, platforms: tuple[str, ...]) -> bool:
    """The store merges a Slack account into the mail one when the profile shows the same address."""
    return ("mail" in platforms and "slack" in platforms and p.slack_email is not None
            and p.slack_email.lower() == p.email.lower())


def _accounts(p: Person, platforms: tuple[str, ...], dmarc: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "mail" in platforms:
        out["mail"] = {"external_id": p.email.lower(), "address": p.email, "dmarc_rewritten": p.key in dmarc}
    if "slack" in platforms:
        out["slack"] = {"external_id": p.slack_id, "username": p.slack_handle, "email": p.slack_email}
    if "discord" in platforms:
        out["discord"] = {"external_id": p.discord_id, "username": p.discord_handle,
                          "nickname": p.discord_nick}
    return out
