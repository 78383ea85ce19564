"""Time segmentation at scale: ``classify --all`` and incremental updates on a generated community.

Generates 50,000 members and 1,000,000 activities (deterministic; varied personas: code,
logs, questions, thanks, replies, company/free-mail/academic addresses) straight into a
SQLite file through the store's batched ingest, then measures:
- ``rebuild`` (``classify --all``) over everything;
- incremental ``update`` after each of N single new activities (median and p95 ms).
Prints JSON. Usage: .venv/bin/python bench/classify.py [--members N] [--activities N] [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.clock import FrozenClock
from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, ReactionAdded, event_uid
from bot.store import open_store
from bot.store.ingest import Ingestor
from segmentation.config import load_config
from segmentation.engine import SegmentationEngine
from segmentation.rules import RULE_NAMES

END = datetime(2026, 10, 1, tzinfo=UTC)
DOMAINS = [
    "gmail.com",
    "intel.com",
    "redhat.com",
    "cs.example.edu",
    "acme-devices.de",
    "web.de",
    "hosting.example",
]
TEXTS = [
    "How do I install this on my phone? The app keeps crashing.",
    "Here is what I tried:\n```\n$ make\ncc -O2 -c foo.c\nfoo.c:12:3: error: unknown type\n```",
    "Thanks, that worked! Much appreciated.",
    "You need to pass --force and check the superblock with mdadm --examine /dev/sdb1.",
    "We ship boards with this firmware and our customers see the resync stall.",
    "For my thesis I benchmark the kernel driver under load; the latency doubles.",
    "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\nKeyError: 'id'",
    "Just a hobby setup at home, a small NAS with four disks.",
    "Looks good to me.\n\nReviewed-by: Someone <someone@intel.com>",
    "Great meetup yesterday, see you all next month!",
]


def events(members: int, activities: int, seed: int = 7):
    rnd = random.Random(seed)
    places = [PlaceRef("slack", f"C{i}", f"channel-{i}") for i in range(20)]
    actors = [
        ActorRef(
            "mail" if i % 3 == 0 else "slack",
            f"u{i}@{DOMAINS[i % len(DOMAINS)]}" if i % 3 == 0 else f"U{i}",
            f"Person {i}",
            email=f"u{i}@{DOMAINS[i % len(DOMAINS)]}",
        )
        for i in range(members)
    ]
    # Activity is skewed: a few people write most of it, as in real communities.
    weights = [1 / (1 + (i % 500)) for i in range(members)]
    cumulative = list(itertools.accumulate(weights))
    population = range(members)
    recent: list[str] = []
    span = timedelta(days=200).total_seconds()
    for n in range(activities):
        actor = actors[rnd.choices(population, cum_weights=cumulative)[0]] if n % 10 else actors[n % members]
        at = END - timedelta(seconds=span * (1 - n / activities))
        uid = event_uid(actor.platform, f"m{n}")
        if n % 17 == 0 and recent:
            yield ReactionAdded(
                uid=uid, actor=actor, target_uid=rnd.choice(recent), emoji="+1", occurred_at=at
            )
            continue
        reply = rnd.choice(recent) if recent and n % 3 == 0 else None
        yield MessagePosted(
            uid=uid,
            actor=actor,
            place=places[n % len(places)],
            occurred_at=at,
            text=MessageText(own=TEXTS[rnd.randrange(len(TEXTS))]),
            native_id=f"m{n}",
            reply_to=reply,
        )
        recent.append(uid)
        if len(recent) > 200:
            recent.pop(0)


async def run(db: Path, members: int, activities: int, incremental: int) -> dict[str, object]:
    store = await open_store(f"sqlite+aiosqlite:///{db}")
    ingestor = Ingestor()
    t0 = time.perf_counter()
    batch = []
    for ev in events(members, activities):
        batch.append(ev)
        if len(batch) >= 5000:
            async with store.connection() as conn:
                await ingestor.ingest(conn, batch)
            batch = []
    if batch:
        async with store.connection() as conn:
            await ingestor.ingest(conn, batch)
    generated = time.perf_counter() - t0
    engine = SegmentationEngine(store, config=load_config(known_rules=RULE_NAMES), clock=FrozenClock(END))
    report = await engine.rebuild()
    # Incremental: one new activity at a time, each followed by the engine's update.
    timings = []
    people = [ActorRef("mail", f"u{i}@gmail.com", f"Person {i}") for i in range(0, 3000, 3)]
    for i in range(incremental):
        ev = MessagePosted(
            uid=event_uid("mail", f"inc{i}"),
            actor=people[i % len(people)],
            place=PlaceRef("mail", "list"),
            occurred_at=END + timedelta(seconds=i),
            text=MessageText(own=TEXTS[i % len(TEXTS)]),
            native_id=f"inc{i}",
        )
        async with store.connection() as conn:
            await ingestor.ingest(conn, [ev])
        started = time.perf_counter()
        await engine.update()
        timings.append((time.perf_counter() - started) * 1000)
    await store.close()
    timings.sort()
    return {
        "members": members,
        "activities": activities,
        "generate_and_ingest_seconds": round(generated, 1),
        "classify_all_seconds": round(report.seconds, 1),
        "classify_all_target_seconds": 60,
        "classified_members": report.members,
        "incremental_updates": incremental,
        "incremental_median_ms": round(statistics.median(timings), 2) if timings else None,
        "incremental_p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2) if timings else None,
        "incremental_target_median_ms": 2,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--incremental", type=int, default=500)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "classify.db"
        print(json.dumps(asyncio.run(run(db, args.members, args.activities, args.incremental)), indent=2))


if __name__ == "__main__":
    main()
