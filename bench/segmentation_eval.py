"""Score the classifier against the hand-labelled people in bench/segmentation_eval/labels.jsonl.

Imports the real archives the labels were made from — the linux-raid mbox through the
product's own importer, the Slack QA and Gitter chats through the reading script of the
labelling set — into a fresh SQLite database, runs ``classify --all``, and prints JSON
with precision, recall and F1 per dimension and value, counting an ``unknown`` answer as
a miss. People a labeller could not judge (gold ``unknown``) are left out of that
dimension's score. Usage:

    .venv/bin/python bench/segmentation_eval.py [--db PATH] [--details]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "segmentation_eval"))
sys.path.insert(0, str(HERE.parent))

from keys import mail_key  # noqa: E402
from people import Post, gitter_posts, shared_data, slack_posts  # noqa: E402

from adapters.base import ImportBatch  # noqa: E402
from adapters.imports.mbox import discover_mbox  # noqa: E402
from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, event_uid  # noqa: E402
from bot.importing import import_sources  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.store.models import Identity  # noqa: E402
from bot.store.queries import member_views  # noqa: E402
from segmentation.config import load_config  # noqa: E402
from segmentation.engine import SegmentationEngine  # noqa: E402
from segmentation.rules import RULE_NAMES  # noqa: E402

DIMENSIONS = ("skill", "purpose", "org_type", "org_size")
TARGETS = {"skill": 0.85, "purpose": 0.80, "org_type": 0.65}
_REPLY_WINDOW = timedelta(minutes=15)


def _when(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class ChatSource:
    """The labelling set's chat posts as an ArchiveSource; the person's key is their external id.

    Slack QA threads come from the researchers' conversation ids (a reply answers the
    conversation's first message); Gitter rooms have no threads, so a message answers the
    latest message of someone else in the room within a quarter of an hour.
    """

    def __init__(self, name: str, posts: Iterable[Post]) -> None:
        self._name = name
        self._posts = posts

    key = property(lambda self: f"eval:{self._name}")
    fingerprint = property(lambda self: "eval")
    size = property(lambda self: 0)

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        events: list[MessagePosted] = []
        roots: dict[str, tuple[str, str]] = {}
        last_in_room: dict[str, tuple[str, str, datetime]] = {}
        n = 0
        for n, post in enumerate(self._posts, start=1):
            at = _when(post.when)
            uid = event_uid("slack", f"{self._name}:{n}")
            room, _, conversation = post.place.partition("#c")
            reply_to = None
            if conversation:
                root = roots.setdefault(post.place, (uid, post.key))
                reply_to = root[0] if root[1] != post.key else None
            else:
                prev = last_in_room.get(room)
                if prev and prev[1] != post.key and at - prev[2] <= _REPLY_WINDOW:
                    reply_to = prev[0]
                last_in_room[room] = (uid, post.key, at)
            events.append(
                MessagePosted(
                    uid=uid,
                    actor=ActorRef("slack", post.key, post.key),
                    place=PlaceRef("slack", room, room),
                    occurred_at=at,
                    text=MessageText(own=post.own),
                    native_id=f"{self._name}:{n}",
                    reply_to=reply_to,
                )
            )
            if len(events) >= 2000:
                yield ImportBatch(position=n, events=tuple(events), records=len(events), progress=0)
                events = []
        if events:
            yield ImportBatch(position=n, events=tuple(events), records=len(events), progress=0)


def _prf(gold: list[str], pred: list[str]) -> dict[str, Any]:
    values = sorted(set(gold))
    per: dict[str, dict[str, float]] = {}
    for v in values:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == v and p == v)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != v and p == v)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == v and p != v)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[v] = {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "support": sum(1 for g in gold if g == v),
        }
    macro = sum(p["f1"] for p in per.values()) / len(per) if per else 0.0
    answered = sum(1 for p in pred if p != "unknown")
    return {
        "macro_f1": round(macro, 3),
        "accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold), 3)
        if gold
        else 0.0,
        "answered": answered,
        "scored": len(gold),
        "values": per,
    }


async def evaluate(db: Path, *, details: bool) -> dict[str, Any]:
    labels = [
        json.loads(line) for line in (HERE / "segmentation_eval" / "labels.jsonl").read_text().splitlines()
    ]
    data = shared_data()
    store = await open_store(f"sqlite+aiosqlite:///{db}")
    started = time.perf_counter()
    try:
        sources = [
            *discover_mbox([data / "mail-linux-raid" / "linux-raid.mbox.gz"]),
            ChatSource("slack-qa", slack_posts()),
            ChatSource("gitter", gitter_posts()),
        ]
        summary = await import_sources(store, sources)
        imported = time.perf_counter() - started
        engine = SegmentationEngine(store, config=load_config(known_rules=RULE_NAMES))
        report = await engine.rebuild()
        predictions: dict[str, dict[str, str]] = {}
        reasons: dict[str, dict[str, Any]] = {}
        async with store.connection() as conn:
            emails = dict(
                (
                    await conn.execute(
                        select(Identity.member_id, Identity.external_id).where(Identity.platform == "mail")
                    )
                ).all()
            )
            async for view in member_views(conn):
                ident = view.identities[0] if view.identities else None
                if ident is None:
                    continue
                key = mail_key(emails[view.member_id]) if ident.platform == "mail" else ident.external_id
                predictions[key] = {d: view.dimensions.get(d, {}).get("value", "unknown") for d in DIMENSIONS}
                reasons[key] = {
                    d: [e.get("says") for e in view.dimensions.get(d, {}).get("evidence", []) if "says" in e]
                    for d in DIMENSIONS
                }
    finally:
        await store.close()
    result: dict[str, Any] = {
        "labelled_people": len(labels),
        "found": sum(1 for lab in labels if lab["key"] in predictions),
        "import": {"messages": summary.imported, "seconds": round(imported, 1)},
        "classify_seconds": round(report.seconds, 1),
        "ruleset": report.ruleset_version,
        "dimensions": {},
        "by_source": {},
    }
    for dim in DIMENSIONS:
        scored = [lab for lab in labels if lab[dim] != "unknown"]
        gold = [lab[dim] for lab in scored]
        pred = [predictions.get(lab["key"], {}).get(dim, "unknown") for lab in scored]
        result["dimensions"][dim] = _prf(gold, pred)
        if dim in TARGETS:
            result["dimensions"][dim]["target"] = TARGETS[dim]
        for source in sorted({lab["source"] for lab in labels}):
            part = [lab for lab in scored if lab["source"] == source]
            if part:
                result["by_source"].setdefault(source, {})[dim] = _prf(
                    [lab[dim] for lab in part],
                    [predictions.get(lab["key"], {}).get(dim, "unknown") for lab in part],
                )["macro_f1"]
    if details:
        confusion: dict[str, Counter[str]] = defaultdict(Counter)
        errors = []
        for lab in labels:
            for dim in DIMENSIONS:
                p = predictions.get(lab["key"], {}).get(dim, "unknown")
                if lab[dim] != "unknown":
                    confusion[dim][f"{lab[dim]} -> {p}"] += 1
                    if p != lab[dim]:
                        errors.append(
                            {
                                "key": lab["key"],
                                "dim": dim,
                                "gold": lab[dim],
                                "pred": p,
                                "basis": lab["basis"],
                                "why": reasons.get(lab["key"], {}).get(dim),
                            }
                        )
        result["confusion"] = {d: dict(c.most_common()) for d, c in confusion.items()}
        result["errors"] = errors
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="SQLite file to use (default: a temporary one)")
    parser.add_argument("--details", action="store_true", help="also print the confusion and every miss")
    args = parser.parse_args()
    if not (shared_data() / "mail-linux-raid").is_dir():
        sys.exit(f"shared data not found at {shared_data()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "eval.db"
        print(json.dumps(asyncio.run(evaluate(db, details=args.details)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
