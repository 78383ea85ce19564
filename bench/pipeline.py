"""Live pipeline benchmark: events through ``simulate``'s pipeline (the real app, recorders) on SQLite.

Generates a deterministic stream of simulate input lines for a busy community — people
with personas (developers posting patches and traces, end users asking, integrators
writing from company addresses, helpers answering, lurkers reacting), joins, reactions,
replies to questions, and a few commands and clicks — arriving at ``--rate`` events per
second of virtual time, the load the target names. Generation is not timed; the run is:
parsing, ingest, segmentation, planning, the hero loop, points, outbox enqueue and the
worker's drain into recorders, on a fresh SQLite file.

Prints one JSON object: events, seconds, events/s, the latency from an event entering
the pipeline to the commit of the decisions it caused (p50/p99/max over every event, and
p99 over the events of batches that enqueued a message), messages that would leave, peak RSS.

    .venv/bin/python bench/pipeline.py [--events 100000] [--people 5000] [--rate 2000] [--batch 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import Settings
from bot.sim_events import to_line
from bot.simulate import simulate
from bot.store import open_store

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

PATCH = (
    "Fix a NULL dereference in the sync parser; backtrace:\n```\n"
    "#0 parse_header (p=0x0) at parser.c:42\n```\n"
    "```diff\n--- a/parser.c\n+++ b/parser.c\n@@ -40,3 +40,4 @@\n+  if (!p) return -1;\n```\n"
    "Signed-off-by: {name}"
)
TRACE = (
    "Crash on startup:\n```\nTraceback (most recent call last):\n"
    "  File \"sync.py\", line 12\nKeyError: 'uid'\n```"
)
QUESTIONS = (
    "How do I install the app on my phone?",
    "Why does my calendar not sync after the update?",
    "Is there a way to back up my contacts to the server?",
    "Where do I change the password for my account?",
)
ANSWERS = (
    "Open Settings > Accounts and enable sync, then restart the app.",
    "You need the 2.3 release; older servers drop the calendar field.",
    "Run the exporter from the admin page, it writes a vCard file.",
)
INTEGRATOR = (
    "We deploy this for our customers; the LDAP connector needs a timeout option.",
    "Our clients run it behind our integration layer, here is the config we ship.",
)
CHAT = ("thanks, that worked!", "great release everyone", "anyone at the meetup next week?", "+1 from me")


def generate(n_events: int, n_people: int, rate: float, seed: int) -> list[str]:
    rnd = random.Random(seed)
    personas = rnd.choices(["dev", "user", "integrator", "helper", "lurker"], [25, 35, 5, 10, 25], k=n_people)
    people: list[dict[str, Any]] = []
    for i, persona in enumerate(personas):
        platform = rnd.choice(["discord", "slack", "mail"])
        name = f"{persona}{i}"
        if platform == "mail":
            domain = "accenture.com" if persona == "integrator" else rnd.choice(["gmail.com", "example.org"])
            uid = f"{name}@{domain}"
            people.append(
                {"platform": platform, "user": {"id": uid, "name": name, "email": uid}, "p": persona}
            )
        else:
            uid = f"U{i:07d}" if platform == "slack" else str(10**17 + i)
            people.append({"platform": platform, "user": {"id": uid, "name": name}, "p": persona})
    joined: set[int] = set()
    questions: dict[str, list[str]] = {"discord": [], "slack": [], "mail": []}
    lines: list[str] = []
    step = 1.0 / rate
    for n in range(n_events):
        at = START + timedelta(seconds=n * step)
        who = rnd.randrange(n_people)
        person = people[who]
        platform, user, persona = person["platform"], person["user"], person["p"]
        mid = f"m{n}" if platform != "mail" else f"<m{n}@bench.example>"
        channel = {"discord": "dev", "slack": "C0DEV", "mail": "dev@lists.example.org"}[platform]
        roll = rnd.random()
        if who not in joined and platform != "mail":
            joined.add(who)
            lines.append(to_line(at, platform, "join", user, channel=channel))
            continue
        if roll < 0.004:
            lines.append(
                to_line(at, platform, "command", user, text=rnd.choice(["whyme", "programmes", "optin"]))
            )
            continue
        if roll < 0.12 and questions[platform]:
            target = rnd.choice(questions[platform][-50:])
            lines.append(
                to_line(at, platform, "reaction", user, channel=channel, reply_to=target, emoji="+1")
            )
            continue
        if persona == "dev":
            text = PATCH.replace("{name}", user["name"]) if rnd.random() < 0.5 else TRACE
        elif persona == "user":
            text = rnd.choice(QUESTIONS)
        elif persona == "integrator":
            text = rnd.choice(INTEGRATOR)
        elif persona == "helper" and questions[platform]:
            target = rnd.choice(questions[platform][-20:])
            lines.append(
                to_line(
                    at,
                    platform,
                    "message",
                    user,
                    channel=channel,
                    message_id=mid,
                    reply_to=target,
                    text=rnd.choice(ANSWERS),
                    subject="Re: help",
                )
            )
            continue
        else:
            text = rnd.choice(CHAT)
        lines.append(
            to_line(at, platform, "message", user, channel=channel, message_id=mid, text=text, subject="help")
        )
        if persona == "user":
            questions[platform].append(mid)
    return lines


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lines = generate(args.events, args.people, args.rate, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        started = time.perf_counter()
        report, actions = await simulate(
            lines, settings=Settings(), store=store, batch=args.batch, keep_latencies=True
        )
        seconds = time.perf_counter() - started
        await store.close()
    lat = report.latencies
    return {
        "benchmark": "pipeline",
        "events": report.events,
        "people": args.people,
        "virtual_rate": args.rate,
        "batch": args.batch,
        "seconds": round(seconds, 2),
        "events_per_second": round(report.events / seconds, 1),
        "latency_ms": {
            "p50": round(_percentile(lat, 0.50) * 1000, 1),
            "p99": round(_percentile(lat, 0.99) * 1000, 1),
            "max": round(max(lat, default=0.0) * 1000, 1),
            "p99_batches_that_enqueued": round(_percentile(report.enqueuing_latencies, 0.99) * 1000, 1),
            "events_in_batches_that_enqueued": len(report.enqueuing_latencies),
        },
        "messages_out": report.actions,
        "by_template": _count(a["template"] for a in actions),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=2_000.0, help="virtual arrival rate, events/s")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
