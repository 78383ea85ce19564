"""Validate the hand-labelled segmentation set and print its value counts as JSON.

The evaluator trusts ``labels.jsonl`` blindly, so this script is the gate: it checks the field
set and value vocabulary, the cross-dimension rules of ``rubric.md`` (volunteer/academic imply
``n/a`` organisation, unknown purpose implies unknown organisation), the key format of
``keys.py``, that no key is labelled twice or also listed in ``excluded.jsonl``, and that the
free-text ``basis`` carries no address, URL or quotation. With ``--resolve`` it also re-reads the
shared archives (slow: parses the mailing list) and checks that every key names a real sender.

Usage (from the repository root)::

    .venv/bin/python bench/segmentation_eval/check_labels.py [--resolve]

Exit status 1 and a list of problems when anything is wrong; the counts go to stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ("key", "source", "skill", "purpose", "org_type", "org_size", "confidence", "basis")
VALUES: dict[str, set[str]] = {
    "source": {"linux-raid", "slack-qa", "gitter"},
    "skill": {"technical", "non_technical", "unknown"},
    "purpose": {"business", "volunteer", "academic", "unknown"},
    "org_type": {
        "device_maker",
        "isv",
        "system_integrator",
        "service_provider",
        "end_user_org",
        "n/a",
        "unknown",
    },
    "org_size": {"large", "sme", "n/a", "unknown"},
    "confidence": {"high", "medium"},
}
DIMENSIONS = ("skill", "purpose", "org_type", "org_size")
KEY_PATTERN = {
    "linux-raid": re.compile(r"^mail:[0-9a-f]{16}$"),
    "slack-qa": re.compile(r"^slackqa:[a-z]+:[0-9a-f]{16}$"),
    "gitter": re.compile(r"^gitter:[A-Za-z0-9_.-]+:[0-9a-f]{16}$"),
}
# Personal data must not leak into the committed basis text.
FORBIDDEN_IN_BASIS = re.compile(r"[\"@<>]|https?://|www\.|\b[\w-]+\.(com|org|net|de|uk|fr|cn|io)\b")


def _read_jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def problems_of(row: dict[str, str]) -> list[str]:
    """Everything wrong with one label row, as human-readable strings."""
    found: list[str] = []
    if tuple(row) != FIELDS:
        found.append(f"fields {tuple(row)} != {FIELDS}")
        return found
    for name, allowed in VALUES.items():
        if row[name] not in allowed:
            found.append(f"{name}={row[name]!r} not in {sorted(allowed)}")
    pattern = KEY_PATTERN.get(row["source"])
    if pattern and not pattern.match(row["key"]):
        found.append("key does not match the source's key format")
    purpose, org_type, org_size = row["purpose"], row["org_type"], row["org_size"]
    if purpose in {"volunteer", "academic"} and (org_type, org_size) != ("n/a", "n/a"):
        found.append("volunteer/academic needs org_type and org_size n/a")
    if purpose == "unknown" and (org_type, org_size) != ("unknown", "unknown"):
        found.append("unknown purpose needs unknown org_type and org_size")
    if purpose == "business" and "n/a" in (org_type, org_size):
        found.append("business cannot have an n/a organisation")
    if not row["basis"].strip() or FORBIDDEN_IN_BASIS.search(row["basis"]):
        found.append("basis empty or contains an address, URL, domain or quotation")
    return found


def _known_keys() -> set[str]:
    sys.path.insert(0, str(HERE))
    import people  # heavy: imported only when --resolve asks for it

    keys = {post.key for _, post in people.mail_posts()}
    keys.update(post.key for post in people.slack_posts())
    keys.update(post.key for post in people.gitter_posts())
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resolve", action="store_true", help="also check keys against the archives")
    args = parser.parse_args(argv)

    labels = _read_jsonl(HERE / "labels.jsonl")
    excluded = _read_jsonl(HERE / "excluded.jsonl")
    problems: list[str] = []
    for row in labels:
        problems.extend(f"{row.get('key')}: {p}" for p in problems_of(row))
    counts = Counter(row["key"] for row in labels)
    problems.extend(f"{key}: labelled {n} times" for key, n in counts.items() if n > 1)
    problems.extend(f"{e['key']}: both labelled and excluded" for e in excluded if e["key"] in counts)
    if args.resolve:
        known = _known_keys()
        all_keys = [row["key"] for row in labels] + [e["key"] for e in excluded]
        problems.extend(f"{key}: not found in the archives" for key in all_keys if key not in known)

    summary = {
        "people": len(labels),
        "excluded": len(excluded),
        "by_source": dict(Counter(row["source"] for row in labels)),
        "confidence": dict(Counter(row["confidence"] for row in labels)),
        "counts": {
            dim: {
                source: dict(Counter(r[dim] for r in labels if source in (r["source"], "all")).most_common())
                for source in ("linux-raid", "slack-qa", "gitter", "all")
            }
            for dim in DIMENSIONS
        },
        "problems": problems,
    }
    print(json.dumps(summary, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
