"""Slack export import: zip and folder, threads, bots, joins, edits, overlaps, resume, hostile text."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from interrupting import InterruptAfter, Interrupted
from sqlalchemy import select

from adapters.imports.slack_export import discover_slack_export
from adapters.imports.slack_translate import (
    Skip,
    SlackDirectory,
    message_uid,
    reaction_uid,
    translate_message,
)
from bot.core.errors import ImportFailure
from bot.core.events import MemberJoined, MessagePosted, PlaceRef
from bot.importing import import_sources
from bot.store import Store, open_store
from bot.store.models import Activity, Identity, Member

USERS = [
    {
        "id": "U1",
        "name": "alice",
        "real_name": "Alice Example",
        "updated": 1577836800,
        "profile": {
            "display_name": "alice",
            "real_name": "Alice Example",
            "title": "Firmware engineer",
            "email": "Alice@Example.com",
        },
    },
    {"id": "U2", "name": "bob", "profile": {"real_name": "Bob Sample", "title": ""}},
    {"id": "U3", "name": "gone", "deleted": True, "profile": {"real_name": "Gone User"}},
    {"id": "UB", "name": "ci-bot", "is_bot": True, "profile": {"real_name": "CI"}},
    {"id": "UA", "name": "helper-app", "is_app_user": True, "profile": {"real_name": "Helper"}},
]
CHANNELS = [{"id": "C1", "name": "general"}, {"id": "C2", "name": "dev"}]
GROUPS = [{"id": "G1", "name": "core-team"}]
DMS = [{"id": "D1", "members": ["U1", "U2"]}]

ROOT_TS = "1577880000.000100"
DAY1 = [
    {
        "type": "message",
        "user": "U1",
        "ts": ROOT_TS,
        "thread_ts": ROOT_TS,
        "reply_count": 1,
        "text": "How do I flash the board?",
        "reactions": [{"name": "eyes", "users": ["U2", "UB"], "count": 2}],
    },
    {
        "type": "message",
        "user": "U2",
        "ts": "1577880060.000200",
        "thread_ts": ROOT_TS,
        "text": "&gt; How do I flash the board?\nUse this &amp; reboot:\n```\n&gt; make flash\n```",
    },
    {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B9",
        "username": "Deploy bot",
        "ts": "1577880120.000300",
        "text": "deployed",
    },
    {
        "type": "message",
        "subtype": "channel_join",
        "user": "U3",
        "ts": "1577880180.000400",
        "text": "<@U3> has joined the channel",
    },
    {"type": "message", "user": "UB", "ts": "1577880240.000500", "text": "build green"},
    {"type": "message", "subtype": "channel_topic", "user": "U1", "ts": "1577880300.000600", "text": "topic"},
]
DAY2 = [
    {
        "type": "message",
        "user": "U2",
        "ts": "1577966400.000100",
        "text": "second day",
        "files": [{"id": "F1"}],
    },
]
DEV_DAY1 = [
    {"type": "message", "user": "U1", "ts": "1577880000.000900", "text": "first draft"},
    {"type": "message", "user": "U2", "ts": "1577880001.000900", "text": "to be removed"},
    {
        "type": "message",
        "subtype": "message_changed",
        "ts": "1577880100.000000",
        "message": {"type": "message", "user": "U1", "ts": "1577880000.000900", "text": "final text"},
    },
    {
        "type": "message",
        "subtype": "message_deleted",
        "ts": "1577880200.000000",
        "deleted_ts": "1577880001.000900",
    },
    {"type": "message", "subtype": "channel_leave", "user": "U2", "ts": "1577880300.000000"},
]


def export_files(days: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, bytes]:
    files: dict[str, Any] = {
        "users.json": USERS,
        "channels.json": CHANNELS,
        "groups.json": GROUPS,
        "dms.json": DMS,
        "general/2020-01-01.json": DAY1,
        "general/2020-01-02.json": DAY2,
        "dev/2020-01-01.json": DEV_DAY1,
        "core-team/2020-01-01.json": [
            {"type": "message", "user": "U1", "ts": "1577880000.5", "text": "psst"}
        ],
        "D1/2020-01-01.json": [{"type": "message", "user": "U2", "ts": "1577880000.7", "text": "hi"}],
    }
    if days is not None:
        files = {k: v for k, v in files.items() if "/" not in k} | days
    out = {name: json.dumps(value).encode() for name, value in files.items()}
    out["README.txt"] = b"not part of the export"
    return out


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes], *, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return path


async def activity_rows(store: Store) -> set[tuple[Any, ...]]:
    async with store.connection() as conn:
        rows = await conn.execute(
            select(
                Activity.event_uid,
                Activity.kind,
                Activity.own_text,
                Activity.quoted_lines,
                Activity.reply_to_uid,
                Activity.thread_uid,
                Activity.occurred_at,
                Activity.attachments,
            )
        )
        return {tuple(r) for r in rows}


async def identities(store: Store) -> dict[str, Any]:
    async with store.connection() as conn:
        rows = await conn.execute(select(Identity).where(Identity.platform == "slack"))
        return {r.external_id: r for r in rows}


async def test_folder_export_imports_messages_threads_bots_and_profiles(store: Store, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "export", export_files())
    [source] = discover_slack_export(root)
    summary = await import_sources(store, [source])

    rows = await activity_rows(store)
    by_uid = {r[0]: r for r in rows}
    root_uid = message_uid("C1", ROOT_TS)
    reply = by_uid[message_uid("C1", "1577880060.000200")]
    assert reply[1] == "message"
    assert reply[4] == root_uid and reply[5] == root_uid
    # Quoted line out, code kept as the author's own words, entities decoded.
    assert reply[2] == "Use this & reboot:\n```\n> make flash\n```"
    assert reply[3] == 1
    assert by_uid[root_uid][4] is None and by_uid[root_uid][5] is None
    assert by_uid[message_uid("C1", "1577880180.000400")][1] == "join"
    assert by_uid[message_uid("C2", "1577880300.000000")][1] == "leave"
    assert by_uid[reaction_uid("C1", ROOT_TS, "eyes", "U2")][1] == "reaction"
    assert by_uid[reaction_uid("C1", ROOT_TS, "eyes", "U2")][4] == root_uid
    assert by_uid[message_uid("C1", "1577966400.000100")][7] == 1  # one file
    # message_changed rewrote the text; message_deleted removed the row.
    assert by_uid[message_uid("C2", "1577880000.000900")][2] == "final text"
    assert message_uid("C2", "1577880001.000900") not in by_uid
    # Private channel and DM folders map to their ids.
    assert message_uid("G1", "1577880000.5") in by_uid
    assert message_uid("D1", "1577880000.7") in by_uid
    kinds = sorted(r[1] for r in rows)
    assert kinds.count("message") == 8 and kinds.count("reaction") == 2
    assert summary.skipped["Slack channel_topic notice"] == 1
    assert summary.skipped["not a Slack export file (txt)"] == 1
    assert summary.skipped["message deleted later in the export"] == 1

    ids = await identities(store)
    assert ids["U1"].title == "Firmware engineer" and ids["U1"].email == "alice@example.com"
    assert ids["U2"].title is None and ids["U2"].display_name == "Bob Sample"
    assert "U3" in ids  # deleted users keep an identity
    assert ids["UB"].is_bot and ids["UA"].is_bot and ids["B9"].is_bot
    assert ids["B9"].display_name == "Deploy bot"
    assert not ids["U1"].is_bot
    async with store.connection() as conn:
        bot_members = set(
            (await conn.execute(select(Member.display_name).where(Member.is_bot.is_(True)))).scalars()
        )
    assert {"CI", "Helper", "Deploy bot"} <= bot_members


async def test_zip_with_root_folder_equals_folder(store: Store, tmp_path: Path) -> None:
    files = export_files()
    archive = write_zip(tmp_path / "export.zip", files, prefix="Acme Slack export Jan 1 2020/")
    [source] = discover_slack_export(archive)
    await import_sources(store, [source])
    from_zip = await activity_rows(store)

    folder = write_folder(tmp_path / "export", files)
    [folder_source] = discover_slack_export(folder)
    summary = await import_sources(store, [folder_source])
    assert summary.imported == 0  # the same export again adds nothing
    assert len(from_zip) == 12  # 8 messages, 2 reactions, a join and a leave
    assert from_zip == await activity_rows(store)


async def test_malformed_day_file_is_skipped_with_its_name(store: Store, tmp_path: Path) -> None:
    files = export_files()
    files["general/2020-01-02.json"] = b'[{"type": "message", "user": '
    files["general/2020-01-03.json"] = b'{"not": "an array"}'
    [source] = discover_slack_export(write_folder(tmp_path / "export", files))
    summary = await import_sources(store, [source])
    assert summary.skipped["malformed JSON in general/2020-01-02.json"] == 1
    assert summary.skipped["day-file is not a JSON array (general/2020-01-03.json)"] == 1
    assert message_uid("C2", "1577880000.000900") in {r[0] for r in await activity_rows(store)}


async def test_overlapping_exports_store_each_message_once(store: Store, tmp_path: Path) -> None:
    first = export_files({"general/2020-01-01.json": DAY1, "general/2020-01-02.json": DAY2})
    later = [*DAY2, {"type": "message", "user": "U1", "ts": "1578052800.000100", "text": "third day"}]
    second = export_files({"general/2020-01-02.json": later})
    a = discover_slack_export(write_zip(tmp_path / "a.zip", first))
    b = discover_slack_export(write_folder(tmp_path / "b", second))
    summary = await import_sources(store, a + b)
    messages = [r for r in await activity_rows(store) if r[1] == "message"]
    assert len(messages) == 6  # 4 on day 1, day 2's once, day 3's
    assert summary.duplicates == 1


async def test_reimport_adds_nothing(store: Store, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "export", export_files())
    await import_sources(store, discover_slack_export(root))
    before = await activity_rows(store)
    again = await import_sources(store, discover_slack_export(root))
    assert again.unchanged == 1 and again.imported == 0
    rescanned = await import_sources(store, discover_slack_export(root), rescan=True)
    assert rescanned.imported == 0 and rescanned.duplicates > 0
    assert await activity_rows(store) == before


async def test_resume_after_interruption_gives_the_same_rows(store: Store, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "export", export_files())
    [source] = discover_slack_export(root, batch_events=1)  # one day-file per batch
    positions = [b.position for b in source.batches()]
    assert positions == sorted(positions) and positions[-1] == 6  # users.json + 5 day-files
    assert [b.position for b in source.batches(start=3)] == [4, 5, 6]

    with pytest.raises(Interrupted):
        await import_sources(store, [InterruptAfter(source, 3)])
    partial = await activity_rows(store)
    resumed = await import_sources(store, discover_slack_export(root, batch_events=1))
    assert resumed.resumed == 1
    assert resumed.records == 3  # the three day-files not committed before
    rows = await activity_rows(store)
    assert partial < rows

    # The same export imported in one go yields exactly these rows.
    reference = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}")
    try:
        await import_sources(reference, discover_slack_export(root))
        assert rows == await activity_rows(reference)
    finally:
        await reference.close()


def test_missing_path_and_non_export_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ImportFailure, match="no such file"):
        discover_slack_export(tmp_path / "nope.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportFailure, match="not a Slack export"):
        discover_slack_export(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImportFailure, match="not a Slack export"):
        discover_slack_export(tmp_path / "x.txt")


def test_bot_message_without_user_uses_bot_id_or_username() -> None:
    place = PlaceRef(platform="slack", channel_id="C1")
    directory = SlackDirectory(users={})
    [by_id] = translate_message(
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "ts": "1.0", "text": "x"},
        place=place,
        directory=directory,
    )
    [by_name] = translate_message(
        {"type": "message", "subtype": "bot_message", "username": "Owl", "ts": "2.0", "text": "y"},
        place=place,
        directory=directory,
    )
    assert isinstance(by_id, MessagePosted) and by_id.actor.external_id == "B1" and by_id.actor.is_bot
    assert isinstance(by_name, MessagePosted) and by_name.actor.external_id == "Owl" and by_name.actor.is_bot
    with pytest.raises(Skip, match="without author"):
        translate_message({"type": "message", "ts": "3.0", "text": "?"}, place=place, directory=directory)


def _perceval_slack(shared_data: Path) -> Path:
    folder = shared_data / "perceval-fixtures" / "tests" / "data" / "slack"
    if not folder.is_dir():
        pytest.skip("shared data absent: perceval slack fixtures")
    return folder


async def test_perceval_web_api_messages_import_as_an_export(
    store: Store, tmp_path: Path, shared_data: Path
) -> None:
    """Perceval's Slack Web API fixtures: the history messages have the day-file shape."""
    folder = _perceval_slack(shared_data)
    info = json.loads((folder / "slack_info.json").read_text())["channel"]
    users = [json.loads((folder / f"slack_user_U000{i}.json").read_text())["user"] for i in (1, 2, 3)]
    history = json.loads((folder / "slack_history.json").read_text())["messages"]
    older = json.loads((folder / "slack_history_20150323.json").read_text())["messages"]
    files = {
        "users.json": json.dumps(users).encode(),
        "channels.json": json.dumps([info]).encode(),
        f"{info['name']}/2017-02-13.json": json.dumps(history).encode(),
        f"{info['name']}/2015-03-23.json": json.dumps(older).encode(),
    }
    [source] = discover_slack_export(write_folder(tmp_path / "export", files))
    summary = await import_sources(store, [source])
    rows = await activity_rows(store)
    # history: file comment, bot, join, 4 messages; the older file adds "Owl Capone" (others overlap).
    assert sorted(r[1] for r in rows).count("message") == 7
    assert sorted(r[1] for r in rows).count("join") == 1
    assert summary.duplicates == 4
    ids = await identities(store)
    assert ids["U0001"].email == "acs@example.com"
    assert ids["B0001"].is_bot and ids["Owl Capone"].is_bot
    assert ids["U0003"].display_name  # from the profile


async def test_hostile_strings_import_without_error(store: Store, tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "bad-input" / "chat-hostile" / "chat_hostile_strings.json"
    if not path.is_file():
        pytest.skip("shared data absent: chat_hostile_strings.json")
    hostile = [entry["input"] for entry in json.loads(path.read_text())]
    day = [
        {
            "type": "message",
            "user": f"U{i}",
            "ts": f"1577880000.{i:06d}",
            "text": text,
            "user_profile": {"real_name": text[:80], "name": text[:40]},
        }
        for i, text in enumerate(hostile)
    ]
    users = [{"id": "U0", "name": hostile[-1], "profile": {"title": hostile[-2], "real_name": hostile[-1]}}]
    files = {
        "users.json": json.dumps(users).encode(),
        "channels.json": json.dumps([{"id": "C1", "name": hostile[0]}]).encode(),
        f"{hostile[0]}/2020-01-01.json": json.dumps(day).encode(),
    }
    [source] = discover_slack_export(write_folder(tmp_path / "export", files))
    summary = await import_sources(store, [source])
    assert summary.imported == len(hostile)
    texts = {r[2] for r in await activity_rows(store)}
    assert not any("\x00" in t for t in texts)
    for t in texts:
        t.encode("utf-8")  # raises on a lone surrogate
    assert "<!channel>" in texts  # &lt;!channel&gt; decoded once, not twice
    assert "&lt;!channel&gt;" not in texts


def test_join_translation_keeps_the_slack_uid() -> None:
    place = PlaceRef(platform="slack", channel_id="C7")
    [event] = translate_message(
        {"type": "message", "subtype": "channel_join", "user": "U1", "ts": "10.5"},
        place=place,
        directory=SlackDirectory(users={}),
    )
    assert isinstance(event, MemberJoined) and event.uid == message_uid("C7", "10.5")
