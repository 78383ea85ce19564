"""The demo community: deterministic files, imported by the real importers with the counts it promises."""

from __future__ import annotations

import io
import json
import mailbox
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import func, select

from bot.core.errors import ConfigurationError
from bot.demo.generate import build_demo, generate_demo
from bot.demo.run import run_demo
from bot.store import Store
from bot.store.models import Activity, Identity, Member

REPO = Path(__file__).resolve().parents[1]


def _quiet() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=140), buf


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "manifest.json").read_text(encoding="utf-8"))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_even_in_another_process(tmp_path: Path) -> None:
    here = tmp_path / "here"
    there = tmp_path / "there"
    generate_demo(here)
    # Another interpreter with another hash seed: set ordering or hash() in the generator would show here.
    code = "import sys; from pathlib import Path; from bot.demo.generate import generate_demo; " \
           "generate_demo(Path(sys.argv[1]))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code, str(there)], check=True, cwd=REPO, env=env, timeout=120)
    mine, theirs = _tree(here), _tree(there)
    assert sorted(mine) == sorted(theirs)
    assert [name for name in mine if mine[name] != theirs[name]] == []
    assert build_demo(seed=7, members=80) != build_demo(seed=8, members=80)


def test_archives_have_what_real_archives_have(tmp_path: Path) -> None:
    files = generate_demo(tmp_path / "demo")
    manifest = files.manifest
    mbox_text = b"".join(p.read_bytes() for p in files.mbox).decode("utf-8", "replace")
    assert "diff --git a/" in mbox_text and "\n-- \n" in mbox_text and "\n> " in mbox_text
    assert " via syncwell-" in mbox_text and "Reply-To: " in mbox_text
    offsets: Counter[str] = Counter()
    threaded = 0
    for path in files.mbox:
        for msg in mailbox.mbox(path):
            assert msg["Message-ID"] and msg["List-Id"] and msg["Date"]
            offsets[msg["Date"].rsplit(" ", 1)[-1]] += 1
            threaded += 1 if msg["In-Reply-To"] else 0
    assert len(offsets) >= 8 and threaded > 300
    assert sum(offsets.values()) == manifest["counts"]["messages"]["mail"]

    users = json.loads((files.slack / "users.json").read_text())
    assert any(u["profile"].get("email") for u in users) and any(u["profile"].get("title") for u in users)
    assert [u["id"] for u in users if u["is_bot"]] == ["U0SYNCWELLCI"]
    days = [json.loads(p.read_text()) for p in files.slack.glob("*/*.json")]
    slack_msgs = [m for day in days for m in day]
    assert any(m.get("subtype") == "bot_message" for m in slack_msgs)
    assert any(m.get("subtype") == "channel_join" for m in slack_msgs)
    assert any(m.get("thread_ts") and m["thread_ts"] != m["ts"] for m in slack_msgs)

    exports = [json.loads(p.read_text(encoding="utf-8")) for p in files.discord]
    discord_msgs = [m for e in exports for m in e["messages"]]
    assert {e["guild"]["name"] for e in exports} == {"Syncwell Community"}
    assert any(m["type"] == "Reply" and m["reference"]["messageId"] for m in discord_msgs)
    assert any(m["author"]["isBot"] for m in discord_msgs)
    posts = sum(m["type"] != "GuildMemberJoin" for m in discord_msgs)
    assert posts == manifest["counts"]["messages"]["discord"]


def test_manifest_ground_truth_matches_the_behaviour(tmp_path: Path) -> None:
    manifest = generate_demo(tmp_path / "demo").manifest
    end = datetime.fromisoformat(manifest["window"]["end"])
    people = [m for m in manifest["members"] if not m["is_bot"]]
    personas = {m["persona"] for m in people}
    assert personas >= {"hobbyist", "end_user", "it_pro", "integrator", "isv", "device_maker",
                        "service_provider", "academic", "core_maintainer"}
    assert 250 <= len(people) <= 300
    for m in people:
        first, last = datetime.fromisoformat(m["first_seen"]), datetime.fromisoformat(m["last_seen"])
        if m["truth"]["engagement"] == "newcomer":
            assert end - first <= timedelta(days=30), m["key"]
        if m["truth"]["engagement"] == "at_risk":
            assert end - last >= timedelta(days=21), m["key"]
    assert any(m["accounts"].get("mail", {}).get("dmarc_rewritten") for m in people)
    assert all("email" not in (m["accounts"].get("discord") or {}) for m in people)
    assert any(len(m["accounts"]) == 3 for m in people)


async def test_demo_imports_the_counts_it_promises_and_a_second_run_adds_nothing(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    console, buf = _quiet()
    first = await run_demo(db_url=db_url, out_dir=out, console=console)
    manifest = _manifest(out)
    counts = manifest["counts"]
    assert first.summary.skipped_total == 0

    async with store.connection() as conn:
        per_platform = {
            platform: (
                await conn.execute(
                    select(func.count()).where(
                        Activity.kind == "message", Activity.event_uid.like(f"{platform}:%")
                    )
                )
            ).scalar_one()
            for platform in ("mail", "slack", "discord")
        }
        identities = dict(
            (await conn.execute(select(Identity.platform, func.count()).group_by(Identity.platform))).all()
        )
        members = (await conn.execute(select(func.count()).select_from(Member))).scalar_one()
        owner = {
            (platform, external_id): member_id
            for platform, external_id, member_id in (
                await conn.execute(select(Identity.platform, Identity.external_id, Identity.member_id))
            )
        }
        bot_members = set((await conn.execute(select(Member.id).where(Member.is_bot))).scalars())

    assert per_platform == counts["messages"]
    assert identities == counts["accounts"]
    assert members == counts["expected_members"]
    assert first.overview.multi_platform == counts["multi_platform_members"]

    for m in manifest["members"]:
        accounts = m["accounts"]
        ids = {owner[(platform, a["external_id"])] for platform, a in accounts.items()}
        if m["is_bot"]:
            assert ids <= bot_members, m["key"]
            continue
        assert not ids & bot_members, m["key"]
        member_of = {platform: owner[(platform, a["external_id"])] for platform, a in accounts.items()}
        if m["merged_by_email"]:
            assert member_of["mail"] == member_of["slack"], m["key"]
        elif "mail" in accounts and "slack" in accounts:
            assert member_of["mail"] != member_of["slack"], m["key"]
        if "discord" in accounts:  # no e-mail there, and names never merge
            others = [member for platform, member in member_of.items() if platform != "discord"]
            assert member_of["discord"] not in others, m["key"]
    assert len(bot_members) == len(counts["bots"])
    assert "Imported" in buf.getvalue() and "Bots" in buf.getvalue()

    console2, buf2 = _quiet()
    second = await run_demo(db_url=db_url, out_dir=out, console=console2)
    assert second.files.written == 0
    assert (second.summary.imported, second.summary.new_members) == (0, 0)
    assert second.overview.members == members
    assert "Nothing new to import" in buf2.getvalue()

    # The simulated week: invitations went out through the outbox, none to a bot, and a
    # second run shows the same week (invitations are once per member and programme).
    assert first.week is not None and second.week is not None
    assert first.week.sent and first.week.sent == second.week.sent
    bot_names = {m["name"] for m in manifest["members"] if m["is_bot"]}
    assert not {s["member"] for s in first.week.sent} & bot_names
    assert all(s["programme"] and s["segment"] for s in first.week.sent)
    assert "A simulated week of the live bot" in buf.getvalue()
    # ... and the week's digest, as HTML and Markdown beside the database.
    assert first.digest_files is not None
    html_path, md_path = first.digest_files
    assert html_path.parent == out.resolve()
    assert (html_path.suffix, md_path.suffix) == (".html", ".md")
    assert "<svg" in html_path.read_text(encoding="utf-8")
    assert str(html_path) in buf.getvalue().replace("\n", "")


def test_generator_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="not empty"):
        generate_demo(tmp_path, members=40)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_regenerating_with_another_seed_removes_the_old_files(tmp_path: Path) -> None:
    old = generate_demo(tmp_path, seed=1, members=60)
    new = generate_demo(tmp_path, seed=2, members=60)
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == {*new.paths, "manifest.json"}
    assert set(old.paths) - set(new.paths), "the seeds should differ in at least one Slack day-file"
