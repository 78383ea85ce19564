"""Build segmentation/data/orgs.json from the permissively licensed sets in ../shared/data/org-labels.

Only the MIT (BigBang) and Apache-2.0 (stackalytics) sets are used; the GPL gitdm maps are
not shipped with this Apache-2.0 project. University and college domains come from the
swot package (MIT), whose wheel carries ~7,400 of them as data files; the script downloads
that wheel with pip when none is given. Run after updating the shared data:
    .venv/bin/python scripts/build_org_data.py [--swot-wheel PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import tldextract

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "org-labels"
OUT = ROOT / "segmentation" / "data"

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

# BigBang category words -> our org_type. First match wins, in this order.
_CATEGORY_TYPES = (
    ("chipmaker", "device_maker"),
    ("hardware", "device_maker"),
    ("networking equipment", "device_maker"),
    ("consumer hardware", "device_maker"),
    ("cloud provider", "service_provider"),
    ("telecommunications provider", "service_provider"),
    ("networking service provider", "service_provider"),
    ("satellite communications", "service_provider"),
    ("content distribution", "service_provider"),
    ("content provider", "service_provider"),
    ("internet registry", "service_provider"),
    ("infrastructure company", "service_provider"),
    ("consulting", "system_integrator"),
    ("software provider", "isv"),
    ("cybersecurity", "isv"),
    ("database provider", "isv"),
    ("financial institution", "end_user_org"),
    ("research institution", "academic"),
    ("regulatory body", "government"),
    ("law enforcement", "government"),
    ("space agency", "government"),
)
_ACADEMIC_NAME = re.compile(r"universit|institute of technology|college|école|hochschule|academy of", re.I)


def _registrable(domain: str) -> str | None:
    domain = domain.strip().lower().strip(".")
    if not domain or " " in domain:
        return None
    ext = _EXTRACT(domain)
    if not ext.domain or not ext.suffix:
        return None  # a bare public suffix such as "ac.th" names nobody
    return domain


def _type_for(category: str, group: str, name: str) -> str:
    cat = category.lower()
    for word, kind in _CATEGORY_TYPES:
        if word in cat:
            return kind
    group = group.strip().lower()
    if group.startswith("academ") or _ACADEMIC_NAME.search(name):
        return "academic"
    if group.startswith("gov") or group.startswith("intergov"):
        return "government"
    if group.startswith("technical comm") or group.startswith("civil"):
        return "project"
    return "company"


def _swot_domains(wheel: Path | None) -> list[str]:
    """Academic domains from the swot wheel's ``lib/domains/<tld>/.../<name>.txt`` files."""
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, "swot==1.0.1"],
                check=True,
            )
            wheel = next(Path(tmp).glob("swot-*.whl"))
        found = set()
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                marker = "/lib/domains/"
                if marker in name and name.endswith(".txt"):
                    parts = name.split(marker, 1)[1][: -len(".txt")].split("/")
                    found.add(".".join(reversed(parts)).lower())
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--swot-wheel", type=Path, help="a downloaded swot wheel (default: pip download it)")
    args = parser.parse_args()
    if not SRC.is_dir():
        sys.exit(f"org-labels not found at {SRC}")
    orgs: dict[str, dict[str, str]] = {}
    classes: dict[str, str] = {}

    with (SRC / "bigbang/bigbang/datasets/domains/domain_categories.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            domain = _registrable(row["domain"])
            if domain:
                classes[domain] = {"generic": "freemail", "personal": "personal"}.get(
                    row["category"], row["category"]
                )

    with (SRC / "bigbang/bigbang/datasets/organizations/organization_categories.csv").open(
        encoding="utf-8"
    ) as f:
        for row in csv.DictReader(f):
            kind = _type_for(row["category"], row["stakeholdergroup"], row["name"])
            for raw in re.split(r"[,;\s]+", row["email domain names"] or ""):
                domain = _registrable(raw)
                if domain:
                    orgs[domain] = {"name": row["name"].strip(), "type": kind, "source": "bigbang"}

    data = json.loads((SRC / "stackalytics/default_data.json").read_text(encoding="utf-8"))
    for company in data.get("companies", []):
        name = company.get("company_name", "")
        if name.startswith("*"):
            continue  # "*independent": not an organisation
        kind = "academic" if _ACADEMIC_NAME.search(name) else "company"
        for raw in company.get("domains", []):
            domain = _registrable(raw)
            if domain and domain not in orgs:
                orgs[domain] = {"name": name, "type": kind, "source": "stackalytics"}

    academic = _swot_domains(args.swot_wheel)
    for domain in academic:
        classes.setdefault(domain, "academic")
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "about": "Organisations and domain classes from BigBang (MIT), stackalytics (Apache-2.0) and "
        "swot (MIT, academic domains); see licenses/ and NOTICE.",
        "orgs": dict(sorted(orgs.items())),
        "domain_classes": dict(sorted(classes.items())),
    }
    (OUT / "orgs.json").write_text(json.dumps(payload, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    lic = OUT / "licenses"
    lic.mkdir(exist_ok=True)
    shutil.copy(SRC / "bigbang/LICENSE", lic / "bigbang-MIT.txt")
    shutil.copy(SRC / "stackalytics/LICENSE", lic / "stackalytics-Apache-2.0.txt")
    print(
        f"{len(orgs)} organisations, {len(classes)} classified domains "
        f"({len(academic)} academic from swot) -> {OUT / 'orgs.json'}"
    )


if __name__ == "__main__":
    main()
