"""DiscordChatExporter import: JSON and CSV, file names, replies, bots, overlaps, resume, hostile input."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from interrupting import InterruptAfter, Interrupted
from sqlalchemy import select

from adapters.imports.discord_export import discover_discord_export, read_json
from adapters.imports.discord_translate import (
    Skip,
    message_uid,
    parse_csv_date,
    place_from_file_name,
    reaction_uid,
)
from adapters.imports.json_stream import JsonWindow, MalformedJson
from bot.core.errors import ImportFailure
from bot.core.events import MessagePosted, ReactionAdded, content_uid
from bot.importing import import_sources
from bot.store import Store, open_store
from bot.store.models import Activity, Identity, Place

ALICE = {"id": "101", "name": "alice", "discriminator": "0000", "nickname": "Alice", "isBot": False,
         "roles": [{"id": "9", "name": "Member", "color": None, "position": 1}]}
BOB = {"id": "102", "name": "bob", "discriminator": "4242", "nickname": None, "isBot": False, "roles": []}
CAROL = {"id": "103", "name": "carol", "discriminator": "0000", "nickname": "Carol", "isBot": False}
CIBOT = {"id": "199", "name": "ci", "discriminator": "0000", "nickname": "CI", "isBot": True, "roles": []}


def msg(mid: str, author: dict[str, Any], content: str, *, kind: str = "Default", minute: int = 0,
        reply_to: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": mid, "type": kind, "timestamp": f"2021-03-05T19:{minute:02d}:12.345+00:00",
        "timestampEdited": None, "callEndedTimestamp": None, "isPinned": False, "content": content,
        "author": author, "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": [],
    }
    if reply_to:
        out["reference"] = {"messageId": reply_to, "channelId": "555", "guildId": "1"}
    out.update(extra)
    return out


MESSAGES = [
    msg("1001", ALICE, "How do I flash the board?", reactions=[
        {"emoji": {"id": "", "name": "👍", "code": "thumbsup", "isAnimated": False, "imageUrl": ""},
         "count": 2, "users": [BOB, CAROL]},
        {"emoji": {"id": "777", "name": "shipit", "code": "shipit", "isAnimated": False, "imageUrl": ""},
         "count": 1, "users": [BOB]},
    ]),
    msg("1002", BOB, "> How do I flash the board?\nUse:\n```\n> make flash\n```", kind="Reply",
        minute=1, reply_to="1001", attachments=[{"id": "1", "url": "x", "fileName": "log.txt"}]),
    msg("1003", CIBOT, "build green", minute=2),
    msg("1004", CAROL, "Joined the server.", kind="GuildMemberJoin", minute=3),
    msg("1005", ALICE, "Pinned a message.", kind="ChannelPinnedMessage", minute=4),
    msg("1006", ALICE, "Started a thread.", kind="ThreadCreated", minute=5),
    msg("1007", CAROL, "hi all\n>>> everything\nafter is quoted", minute=6),
]


def export(messages: list[dict[str, Any]], *, channel_id: str = "555", channel_type: str = "GuildTextChat",
           name: str = "help") -> dict[str, Any]:
    return {
        "guild": {"id": "1", "name": "Acme", "iconUrl": ""},
        "channel": {"id": channel_id, "type": channel_type, "categoryId": "2", "category": "Dev",
                    "name": name, "topic": None},
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-01-01T00:00:00+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


async def activity_rows(store: Store) -> set[tuple[Any, ...]]:
    async with store.connection() as conn:
        rows = await conn.execute(
            select(
                Activity.event_uid, Activity.kind, Activity.own_text, Activity.quoted_lines,
                Activity.reply_to_uid, Activity.thread_uid, Activity.occurred_at, Activity.attachments,
            )
        )
        return {tuple(r) for r in rows}


async def identities(store: Store) -> dict[str, Any]:
    async with store.connection() as conn:
        rows = await conn.execute(select(Identity).where(Identity.platform == "discord"))
        return {r.external_id: r for r in rows}


async def test_json_export_messages_replies_reactions_joins_and_bots(store: Store, tmp_path: Path) -> None:
    path = write_json(tmp_path / "Acme - Dev - help [555].json", export(MESSAGES))
    summary = await import_sources(store, discover_discord_export([path]))
    by_uid = {r[0]: r for r in await activity_rows(store)}

    reply = by_uid[message_uid("1002")]
    assert reply[1] == "message" and reply[4] == message_uid("1001")
    assert reply[2] == "Use:\n```\n> make flash\n```" and reply[3] == 1  # quote out, code in
    assert reply[7] == 1
    assert by_uid[message_uid("1004")][1] == "join"
    assert by_uid[message_uid("1007")][2] == "hi all" and by_uid[message_uid("1007")][3] == 2
    assert by_uid[reaction_uid("1001", "👍", "102")][1] == "reaction"
    assert by_uid[reaction_uid("1001", "777", "102")][4] == message_uid("1001")
    assert reaction_uid("1001", "👍", "103") in by_uid
    assert message_uid("1005") not in by_uid and message_uid("1006") not in by_uid
    assert summary.skipped == {"Discord ChannelPinnedMessage notice": 1, "Discord ThreadCreated notice": 1}
    assert by_uid[message_uid("1001")][6] == datetime(2021, 3, 5, 19, 0, 12, 345000, tzinfo=UTC)

    ids = await identities(store)
    assert ids["199"].is_bot and not ids["101"].is_bot
    assert ids["101"].display_name == "Alice" and ids["101"].username == "alice"
    assert ids["102"].username == "bob#4242" and ids["102"].display_name == "bob"
    async with store.connection() as conn:
        place = (await conn.execute(select(Place).where(Place.channel_id == "555"))).one()
    assert (place.name, place.category, place.container) == ("help", "Dev", "Acme")


async def test_thread_export_links_messages_to_the_starter(store: Store, tmp_path: Path) -> None:
    data = export([msg("777", ALICE, "starter copy"), msg("778", BOB, "in the thread", minute=1)],
                  channel_id="777", channel_type="GuildPublicThread", name="flashing")
    await import_sources(store, discover_discord_export([write_json(tmp_path / "t.json", data)]))
    by_uid = {r[0]: r for r in await activity_rows(store)}
    assert by_uid[message_uid("778")][5] == message_uid("777")
    assert by_uid[message_uid("777")][5] is None  # the starter is the root, not in a thread of itself


CSV_COMMA = (
    "AuthorID,Author,Date,Content,Attachments,Reactions\n"
    '"101","alice","2021-03-05T19:41:00.000+00:00","first line\nsecond line, with a comma","",""\n'
    '"102","bob#4242","2021-03-05T19:42:00.000+01:00","> quoted\nanswer ""in quotes""",'
    '"https://x/a.png,https://x/b.png","👍 (2)"\n'
    '"103","carol","2021-03-05T19:43:00.000+00:00","Joined the server.","",""\n'
    '"103","carol","2021-03-05T19:44:00.000+00:00","Pinned a message.","",""\n'
)
CSV_SEMICOLON = (
    "AuthorID;Author;Date;Content;Attachments;Reactions\n"
    '"101";"alice";"05-Mar-21 07:41 PM";"semi; colon";"";""\n'
    '"102";"bob#4242";"05-Mar-21 07:42 AM";"morning";"";""\n'
)


async def test_csv_both_delimiters_and_date_formats(store: Store, tmp_path: Path) -> None:
    comma = tmp_path / "Acme - Dev - help [555] (2021-03-01 to 2021-04-01).csv"
    comma.write_text(CSV_COMMA, encoding="utf-8")
    semi = tmp_path / "Acme - Dev - help [555] [part 2].csv"
    semi.write_text("\ufeff" + CSV_SEMICOLON, encoding="utf-8")  # with the BOM spreadsheet tools add
    summary = await import_sources(store, discover_discord_export([tmp_path]))
    rows = await activity_rows(store)
    texts = {r[2]: r for r in rows}
    assert "first line\nsecond line, with a comma" in texts
    answer = texts['answer "in quotes"']
    assert answer[3] == 1 and answer[7] == 2
    assert answer[6] == datetime(2021, 3, 5, 18, 42, tzinfo=UTC)  # +01:00 honoured
    assert texts["semi; colon"][6] == datetime(2021, 3, 5, 19, 41, tzinfo=UTC)  # no offset: taken as UTC
    assert texts["morning"][6] == datetime(2021, 3, 5, 7, 42, tzinfo=UTC)
    assert sorted(r[1] for r in rows) == ["join", "message", "message", "message", "message"]
    assert summary.skipped == {"Discord system notice": 1}
    uid = content_uid("discord", channel="555", author="101",
                      occurred_at=datetime(2021, 3, 5, 19, 41, tzinfo=UTC), text="semi; colon")
    assert uid in {r[0] for r in rows}
    ids = await identities(store)
    assert ids["102"].username == "bob#4242"
    async with store.connection() as conn:
        places = (await conn.execute(select(Place.channel_id, Place.name, Place.category))).all()
    assert places == [("555", "help", "Dev")]


async def test_old_csv_without_author_id(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "Acme - General - chat [42].csv"
    path.write_text('Author,Date,Content,Attachments\n"dave#0001","05-Mar-21 11:05 PM","old export",""\n')
    await import_sources(store, discover_discord_export([path]))
    ids = await identities(store)
    assert "dave#0001" in ids
    [row] = await activity_rows(store)
    assert row[6] == datetime(2021, 3, 5, 23, 5, tzinfo=UTC)


async def test_overlapping_json_and_csv_exports_store_once(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_json(tmp_path / "a" / "Acme - Dev - help [555].json", export(MESSAGES[:4]))
    write_json(tmp_path / "b" / "Acme - Dev - help [555] (after 2021-03-05).json", export(MESSAGES[2:]))
    (tmp_path / "a" / "Acme - Dev - help [555].csv").write_text(CSV_COMMA)
    (tmp_path / "b" / "Acme - Dev - help [555] [part 2].csv").write_text(CSV_COMMA)
    summary = await import_sources(store, discover_discord_export([tmp_path / "a", tmp_path / "b"]))
    rows = await activity_rows(store)
    json_messages = {r[0] for r in rows if r[0] in {message_uid(m["id"]) for m in MESSAGES}}
    assert json_messages == {message_uid(i) for i in ("1001", "1002", "1003", "1004", "1007")}
    assert summary.duplicates == 2 + 3  # messages 1003-1004, and the CSV's three rows
    assert len(rows) == 5 + 3 + 3  # JSON events, reactions, CSV rows


async def test_reimport_adds_nothing(store: Store, tmp_path: Path) -> None:
    write_json(tmp_path / "Acme - Dev - help [555].json", export(MESSAGES))
    (tmp_path / "Acme - Dev - help [555].csv").write_text(CSV_COMMA)
    await import_sources(store, discover_discord_export([tmp_path]))
    before = await activity_rows(store)
    again = await import_sources(store, discover_discord_export([tmp_path]))
    assert again.unchanged == 2 and again.imported == 0
    rescanned = await import_sources(store, discover_discord_export([tmp_path]), rescan=True)
    assert rescanned.imported == 0 and rescanned.duplicates == len(before)
    assert await activity_rows(store) == before


@pytest.mark.parametrize("suffix", ["json", "csv"])
async def test_resume_after_interruption_gives_the_same_rows(
    store: Store, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"Acme - Dev - help [555].{suffix}"
    if suffix == "json":
        write_json(path, export(MESSAGES))
    else:
        path.write_text(CSV_COMMA + CSV_COMMA.replace("2021", "2022").split("\n", 1)[1])
    [source] = discover_discord_export([path], batch_events=1)
    positions = [b.position for b in source.batches()]
    assert positions == sorted(set(positions)) and positions[-1] == (7 if suffix == "json" else 8)
    assert [b.position for b in source.batches(start=positions[1])] == positions[2:]

    with pytest.raises(Interrupted):
        await import_sources(store, [InterruptAfter(source, 2)])
    partial = await activity_rows(store)
    resumed = await import_sources(store, discover_discord_export([path], batch_events=1))
    assert resumed.resumed == 1
    rows = await activity_rows(store)
    assert partial < rows

    reference = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}")
    try:
        await import_sources(reference, discover_discord_export([path]))
        assert rows == await activity_rows(reference)
    finally:
        await reference.close()


def test_child_process_reader_matches_the_in_thread_reader(tmp_path: Path) -> None:
    path = write_json(tmp_path / "Acme - Dev - help [555].json", export(MESSAGES * 3))
    [inline] = discover_discord_export([path], parallel=False, batch_events=4)
    [child] = discover_discord_export([path], parallel=True, batch_events=4)
    assert list(inline.batches(start=2)) == list(child.batches(start=2))
    path.unlink()
    with pytest.raises(ImportFailure, match="FileNotFoundError"):
        list(child.batches())


@pytest.mark.parametrize("interpreter", ["/nonexistent/python", "/bin/false"])
def test_parser_process_that_cannot_start_falls_back_to_parsing_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str
) -> None:
    path = write_json(tmp_path / "Acme - Dev - help [555].json", export(MESSAGES))
    [inline] = discover_discord_export([path], parallel=False)
    expected = list(inline.batches())
    monkeypatch.setattr(sys, "executable", interpreter)
    [child] = discover_discord_export([path], parallel=True)
    assert list(child.batches()) == expected


def test_truncated_and_foreign_json_are_skipped_with_a_reason(tmp_path: Path) -> None:
    text = json.dumps(export(MESSAGES), indent=2)
    cut = text[: text.index('"id": "1003"')]
    (tmp_path / "cut.json").write_text(cut)
    batches = list(read_json(str(tmp_path / "cut.json"), 0, 100))
    events = [ev for b in batches for ev in b.events]
    posted = {ev.uid for ev in events if isinstance(ev, MessagePosted)}
    assert posted == {message_uid("1001"), message_uid("1002")}
    assert batches[-1].skipped == {"malformed JSON in cut.json after message 2": 1}
    assert batches[-1].position == 2
    (tmp_path / "list.json").write_text("[1, 2, 3]")
    (tmp_path / "other.json").write_text('{"users": []}')
    for name in ("list.json", "other.json"):
        [batch] = read_json(str(tmp_path / name), 0, 100)
        assert batch.skipped == {f"not a DiscordChatExporter JSON export ({name})": 1}
        assert batch.events == ()


def test_invalid_utf8_nul_and_lone_surrogates_are_cleaned(tmp_path: Path) -> None:
    data = json.dumps(export([msg("1", ALICE, "a\x00b\ud800c"), msg("2", BOB, "PLACEHOLDER")]))
    raw = data.replace("PLACEHOLDER", "bad \\u00e9 byte:").encode().replace(b"byte:", b"byte:\xff\xfe")
    path = tmp_path / "x [9].json"
    path.write_bytes(raw)
    events = [ev for b in read_json(str(path), 0, 100) for ev in b.events]
    texts = [ev.text.own for ev in events if isinstance(ev, MessagePosted)]
    assert texts == ["ab\ufffdc", "bad é byte:\ufffd\ufffd"]


async def test_hostile_strings_import_without_error(store: Store, tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "bad-input" / "chat-hostile" / "chat_hostile_strings.json"
    if not path.is_file():
        pytest.skip("shared data absent: chat_hostile_strings.json")
    hostile = [entry["input"] for entry in json.loads(path.read_text())]
    people = [{"id": str(500 + i), "name": text[:50], "nickname": text[:80], "isBot": False}
              for i, text in enumerate(hostile)]
    messages = [msg(str(2000 + i), people[i], text, minute=i % 60) for i, text in enumerate(hostile)]
    data = export(messages, name=hostile[0])
    data["guild"]["name"] = hostile[-1]
    (tmp_path / "hostile.json").write_text(json.dumps(data, indent=2))  # \ud800 stays an escape
    rows = ["AuthorID,Author,Date,Content,Attachments,Reactions"]
    for i, text in enumerate(hostile):
        quoted = text.replace("\x00", "").replace('"', '""').encode("utf-8", "replace").decode()
        rows.append(f'"{700 + i}","user{i}","2021-03-05T19:{i % 60:02d}:00+00:00","{quoted}","",""')
    (tmp_path / "Acme - Dev - hostile [556].csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    summary = await import_sources(store, discover_discord_export([tmp_path]))
    assert summary.imported == 2 * len(hostile)
    for text in {r[2] for r in await activity_rows(store)}:
        assert "\x00" not in text
        text.encode("utf-8")  # raises on a lone surrogate


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_json_window_reads_values_across_chunk_edges(tmp_path: Path, chunk: int) -> None:
    doc = {"guild": {"id": "1"}, "n": 12345678901234, "f": 1.5e10, "t": True, "messages": [
        {"id": str(i), "content": "é" * i + "\"}]", "v": [None, False, i * 1000003]} for i in range(40)
    ], "messageCount": 40}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    with path.open("rb") as raw:
        window = JsonWindow(raw, chunk=chunk)
        header, found = window.members_until("messages")
        assert found and header == {"guild": {"id": "1"}, "n": 12345678901234, "f": 1.5e10, "t": True}
        assert list(window.array_items()) == doc["messages"]
        assert dict(window.rest_items()) == {"messageCount": 40}


def test_json_window_reports_garbage_after_a_record(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text('{"messages": [{"id": "1"} {"id": "2"}]}')
    with path.open("rb") as raw:
        window = JsonWindow(raw)
        window.members_until("messages")
        items = window.array_items()
        assert next(items) == {"id": "1"}
        with pytest.raises(MalformedJson):
            next(items)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-05T19:41:12.345+00:00", datetime(2021, 3, 5, 19, 41, 12, 345000, tzinfo=UTC)),
        ("2021-03-05T21:41:12.3450000+02:00", datetime(2021, 3, 5, 19, 41, 12, 345000, tzinfo=UTC)),
        ("2021-03-05 19:41", datetime(2021, 3, 5, 19, 41, tzinfo=UTC)),
        ("05-Mar-21 07:41 PM", datetime(2021, 3, 5, 19, 41, tzinfo=UTC)),
        ("05-Mar-21 12:05 AM", datetime(2021, 3, 5, 0, 5, tzinfo=UTC)),
        ("05-mar-2021 12:05 pm", datetime(2021, 3, 5, 12, 5, tzinfo=UTC)),
        ("05-Mar-21 07:41 PM +02:00", datetime(2021, 3, 5, 17, 41, tzinfo=UTC)),
        ("3/5/2021 7:41 PM", datetime(2021, 3, 5, 19, 41, tzinfo=UTC)),
        ("05/03/2021 19:41", datetime(2021, 3, 5, 19, 41, tzinfo=UTC)),
    ],
)
def test_csv_dates(text: str, expected: datetime) -> None:
    assert parse_csv_date(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "32-Mar-21 07:41 PM", "05-Foo-21 07:41 PM", "05-Mar-21 13:41 PM"]
)
def test_unreadable_csv_dates_are_skips(text: str) -> None:
    with pytest.raises(Skip, match="unreadable"):
        parse_csv_date(text)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("Acme - Dev - help [555]", ("555", "help", "Dev", "Acme")),
        ("Acme - Dev - help [555] [part 2]", ("555", "help", "Dev", "Acme")),
        ("Acme - Dev - help [555] (2021-01-01 to 2021-02-01) [part 12]", ("555", "help", "Dev", "Acme")),
        ("Acme - Dev - help [555] (after 2021-01-01)", ("555", "help", "Dev", "Acme")),
        ("Direct Messages - Private - bob [777]", ("777", "bob", "Private", "Direct Messages")),
        ("A - B - c - d [8]", ("8", "c - d", "B", "A")),
    ],
)
def test_file_names(stem: str, expected: tuple[str, str, str, str]) -> None:
    place = place_from_file_name(stem)
    assert place is not None
    assert (place.channel_id, place.name, place.category, place.container) == expected


def test_file_name_without_channel_id() -> None:
    assert place_from_file_name("my export") is None


def test_discovery(tmp_path: Path) -> None:
    with pytest.raises(ImportFailure, match="no such file"):
        discover_discord_export([tmp_path / "missing.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportFailure, match=r"no DiscordChatExporter \.json or \.csv"):
        discover_discord_export([tmp_path / "empty"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ImportFailure, match="not a DiscordChatExporter export"):
        discover_discord_export([tmp_path / "notes.txt"])
    folder = tmp_path / "exports"
    (folder / "Acme - Dev - help [555].json_Files").mkdir(parents=True)
    (folder / "Acme - Dev - help [555].json_Files" / "emoji.json").write_text("{}")
    write_json(folder / "Acme - Dev - help [555].json", export(MESSAGES))
    (folder / "Acme - Dev - help [555].csv").write_text(CSV_COMMA)
    sources = discover_discord_export([folder])
    names = [Path(s.key).name for s in sources]
    assert names == ["Acme - Dev - help [555].csv", "Acme - Dev - help [555].json"]


def test_reaction_events_are_deterministic(tmp_path: Path) -> None:
    path = write_json(tmp_path / "r.json", export(MESSAGES[:1]))
    first = [ev for b in read_json(str(path), 0, 100) for ev in b.events if isinstance(ev, ReactionAdded)]
    second = [ev for b in read_json(str(path), 0, 100) for ev in b.events if isinstance(ev, ReactionAdded)]
    assert first == second and len(first) == 3
    assert {ev.emoji for ev in first} == {"👍", "shipit"}
