"""Chat import benchmark: a generated DiscordChatExporter export through the real import path.

Generates a deterministic JSON export (several channels, thousands of authors, replies,
reactions, joins, code and quotes) in a temporary folder, then times
``bot.importing.import_sources`` into a fresh SQLite file. Generation is not timed.
Prints one JSON object: messages, events stored, seconds, rate, peak RSS.

    .venv/bin/python bench/import_chat.py [--messages 1000000] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

GUILD_ID = "800000000000000000"
GUILD = "Acme Community"
CHANNELS = [
    ("General", "general", 0.22),
    ("General", "introductions", 0.04),
    ("Development", "dev-help", 0.25),
    ("Development", "firmware", 0.12),
    ("Development", "ci-builds", 0.07),
    ("Support", "install-help", 0.18),
    ("Support", "hardware", 0.08),
    ("Off Topic", "random", 0.04),
]
_TEXT = (
    "the board boots but the kernel panics after mounting root and I tried flashing again with "
    "the latest image does anyone know which driver handles this device tree overlay build fails "
    "on arm64 thanks for the help it works now our company ships gateways with this stack we are "
    "evaluating it for a customer project students in my lab use it for research the docs say to "
    "run make menuconfig first then enable the option I think the regression came from the last "
    "release can you share the log please open an issue on the tracker great job everyone"
)
WORDS = _TEXT.split()
EMOJI = [("👍", "thumbsup"), ("🎉", "tada"), ("❤️", "heart"), ("👀", "eyes"), ("🚀", "rocket")]
CUSTOM_EMOJI = [("900000000000000001", "acme"), ("900000000000000002", "shipit")]
EPOCH_MS = 1420070400000  # Discord's epoch


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    name: str
    nickname: str
    is_bot: bool
    roles: str  # pre-rendered JSON array
    user_json: str  # pre-rendered user object without roles (reactions)


def _authors(rng: random.Random, count: int) -> list[Author]:
    roles = [
        '{"id": "700000000000000001", "name": "Member", "color": null, "position": 1}',
        '{"id": "700000000000000002", "name": "Contributor", "color": "#1F8B4C", "position": 2}',
        '{"id": "700000000000000003", "name": "Maintainer", "color": "#E67E22", "position": 3}',
    ]
    out = []
    for i in range(count):
        is_bot = i < 5
        uid = str(600000000000000000 + i * 7919)
        name = f"bot-{i}" if is_bot else f"user{i:05d}"
        nick = f"Build Bot {i}" if is_bot else f"User {i}"
        picked = ", ".join(rng.sample(roles, rng.randint(1, 2)))
        avatar = f"https://cdn.discordapp.com/avatars/{uid}/a{i:08x}.png?size=512"
        user = (
            f'{{"id": "{uid}", "name": "{name}", "discriminator": "0000", "nickname": "{nick}", '
            f'"color": null, "isBot": {"true" if is_bot else "false"}, "avatarUrl": "{avatar}"}}'
        )
        out.append(Author(uid, name, nick, is_bot, f"[{picked}]", user))
    return out


def _content(rng: random.Random) -> str:
    n = rng.randint(3, 40)
    text = " ".join(rng.choice(WORDS) for _ in range(n))
    roll = rng.random()
    if roll < 0.08:
        text += "\n```\n$ dmesg | tail\n[    1.234] mmc0: error -110 whilst initialising SD card\n```"
    elif roll < 0.14:
        text = "> " + " ".join(rng.choice(WORDS) for _ in range(8)) + "\n" + text
    elif roll < 0.18:
        text += " https://docs.example.org/guide#flashing"
    elif roll < 0.20:
        text = "@everyone " + text
    return text


def _message(
    rng: random.Random,
    *,
    mid: str,
    kind: str,
    at: datetime,
    author: Author,
    content: str,
    reply_to: str | None,
    channel_id: str,
    reactors: list[Author],
) -> str:
    ts = at.isoformat(timespec="milliseconds")
    attachments = "[]"
    if rng.random() < 0.03:
        url = f"https://cdn.discordapp.com/attachments/{channel_id}/{mid}/log.txt"
        attachments = (
            f'[\n        {{"id": "{mid}", "url": "{url}", '
            f'"fileName": "log.txt", "fileSizeBytes": {rng.randint(100, 90000)}}}\n      ]'
        )
    reactions = "[]"
    if reactors:
        parts = []
        pool = EMOJI + CUSTOM_EMOJI
        for emoji_id_or_name, code in rng.sample(pool, rng.randint(1, 2)):
            users = rng.sample(reactors, rng.randint(1, min(3, len(reactors))))
            if emoji_id_or_name.isdigit():
                emoji = (
                    f'{{"id": "{emoji_id_or_name}", "name": "{code}", "code": "{code}", "isAnimated": false, '
                    f'"imageUrl": "https://cdn.discordapp.com/emojis/{emoji_id_or_name}.png"}}'
                )
            else:
                emoji = (
                    f'{{"id": "", "name": "{emoji_id_or_name}", "code": "{code}", "isAnimated": false, '
                    f'"imageUrl": "https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/assets/svg/1f44d.svg"}}'
                )
            parts.append(
                f'{{\n          "emoji": {emoji},\n          "count": {len(users)},\n          "users": [\n'
                + ",\n".join("            " + u.user_json for u in users)
                + "\n          ]\n        }"
            )
        reactions = "[\n        " + ",\n        ".join(parts) + "\n      ]"
    reference = ""
    if reply_to:
        reference = (
            f',\n      "reference": {{\n        "messageId": "{reply_to}",\n'
            f'        "channelId": "{channel_id}",\n        "guildId": "{GUILD_ID}"\n      }}'
        )
    return (
        "    {\n"
        f'      "id": "{mid}",\n'
        f'      "type": "{kind}",\n'
        f'      "timestamp": "{ts}",\n'
        '      "timestampEdited": null,\n'
        '      "callEndedTimestamp": null,\n'
        '      "isPinned": false,\n'
        f'      "content": {json.dumps(content, ensure_ascii=False)},\n'
        '      "author": {\n'
        f'        "id": "{author.id}",\n'
        f'        "name": "{author.name}",\n'
        '        "discriminator": "0000",\n'
        f'        "nickname": "{author.nickname}",\n'
        '        "color": null,\n'
        f'        "isBot": {"true" if author.is_bot else "false"},\n'
        f'        "roles": {author.roles},\n'
        f'        "avatarUrl": "https://cdn.discordapp.com/avatars/{author.id}/x.png?size=512"\n'
        "      },\n"
        f'      "attachments": {attachments},\n'
        '      "embeds": [],\n'
        '      "stickers": [],\n'
        f'      "reactions": {reactions},\n'
        '      "mentions": []'
        f"{reference},\n"
        '      "inlineEmojis": []\n'
        "    }"
    )


def generate_export(folder: Path, *, messages: int, seed: int = 7, authors: int = 4000) -> list[Path]:
    """Write one DiscordChatExporter JSON file per channel; returns the files."""
    rng = random.Random(seed)
    people = _authors(rng, authors)
    # Activity is skewed: a few regulars write most messages.
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(people))]
    files = []
    start = datetime(2021, 1, 1, tzinfo=UTC)
    counter = 0
    for index, (category, name, share) in enumerate(CHANNELS):
        channel_id = str(1000000000000000000 + index)
        count = int(messages * share) if index < len(CHANNELS) - 1 else messages - counter
        path = folder / f"{GUILD} - {category} - {name} [{channel_id}].json"
        at = start
        recent: list[str] = []
        with path.open("w", encoding="utf-8") as out:
            out.write(
                "{\n"
                f'  "guild": {{\n    "id": "{GUILD_ID}",\n    "name": "{GUILD}",\n'
                '    "iconUrl": "https://cdn.discordapp.com/icons/x.png"\n  },\n'
                f'  "channel": {{\n    "id": "{channel_id}",\n    "type": "GuildTextChat",\n'
                f'    "categoryId": "{1100000000000000000 + index}",\n    "category": "{category}",\n'
                f'    "name": "{name}",\n    "topic": "Talk about {name}"\n  }},\n'
                '  "dateRange": {\n    "after": null,\n    "before": null\n  },\n'
                f'  "exportedAt": "{datetime(2024, 6, 1, tzinfo=UTC).isoformat()}",\n'
                '  "messages": [\n'
            )
            chosen = rng.choices(people, weights=weights, k=count)
            for i in range(count):
                at += timedelta(seconds=rng.randint(1, 400), milliseconds=rng.randint(0, 999))
                mid = str(((int(at.timestamp() * 1000) - EPOCH_MS) << 22) + (counter & 0x3FFFFF))
                counter += 1
                author = chosen[i]
                roll = rng.random()
                kind, content, reply_to = "Default", "", None
                if roll < 0.01:
                    kind, content = "GuildMemberJoin", "Joined the server."
                elif roll < 0.011:
                    kind, content = "ChannelPinnedMessage", "Pinned a message."
                elif roll < 0.012:
                    kind, content = "ThreadCreated", "Started a thread."
                else:
                    content = _content(rng)
                    if recent and roll < 0.22:
                        kind, reply_to = "Reply", rng.choice(recent)
                reacted = kind in ("Default", "Reply") and rng.random() < 0.10
                reactors = rng.sample(people, 6) if reacted else []
                if i:
                    out.write(",\n")
                out.write(
                    _message(
                        rng, mid=mid, kind=kind, at=at, author=author, content=content,
                        reply_to=reply_to, channel_id=channel_id, reactors=reactors,
                    )
                )
                recent.append(mid)
                if len(recent) > 200:
                    recent.pop(0)
            out.write(f'\n  ],\n  "messageCount": {count}\n}}\n')
        files.append(path)
    return files


class ThreadClock:
    """Samples per-thread CPU time of this process and the parser children's peak RSS (Linux /proc).

    The threads show which one bounds the run. Children are read from /proc because
    ``RUSAGE_CHILDREN`` reports the parent's size at fork time for a forked-then-exec'd child.
    """

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.child_peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def _sample(self) -> None:
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime and stime are fields 14 and 15 of stat; 12 and 13 after the ")".
            self.seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / self._tick
        me = f"PPid:\t{os.getpid()}\n"
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                status = (proc / "status").read_text()
            except OSError:
                continue
            if me in status:
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.child_peak_kb = max(self.child_peak_kb, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> ThreadClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def busiest(self, n: int = 4) -> list[float]:
        return sorted((round(v, 1) for v in self.seconds.values()), reverse=True)[:n]


async def _import(folder: Path, db: Path) -> tuple[Any, float]:
    from adapters.imports.discord_export import discover_discord_export
    from bot.importing import import_sources
    from bot.store import open_store

    store = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        sources = discover_discord_export([folder])
        started = time.perf_counter()
        summary = await import_sources(store, sources)
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    return summary, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cohortbot-chat-bench-"))
    folder = args.keep or work / "export"
    try:
        if not (folder.is_dir() and any(folder.glob("*.json"))):
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            generate_export(folder, messages=args.messages, seed=args.seed)
            print(f"generated in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        size = sum(p.stat().st_size for p in folder.glob("*.json"))
        before = os.times()
        with ThreadClock() as clock:
            summary, seconds = asyncio.run(_import(folder, work / "bench.db"))
        after = os.times()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(
            json.dumps(
                {
                    "messages": args.messages,
                    "export_mb": round(size / 1e6, 1),
                    "records": summary.records,
                    "events_stored": summary.imported,
                    "skipped": dict(summary.skipped),
                    "seconds": round(seconds, 2),
                    "rate": round(summary.records / seconds),
                    "peak_rss_mb": round(own, 1),
                    "peak_rss_parser_process_mb": round(clock.child_peak_kb / 1024, 1),
                    "cpu_seconds": {
                        "importer_process": round(after.user - before.user + after.system - before.system, 1),
                        "parser_processes": round(
                            after.children_user - before.children_user
                            + after.children_system - before.children_system, 1
                        ),
                        "busiest_importer_threads": clock.busiest(),
                    },
                    "load_average_1m": round(os.getloadavg()[0], 2),
                    "db_mb": round((work / "bench.db").stat().st_size / 1e6, 1),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
