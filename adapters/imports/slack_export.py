"""Slack's standard export (zip or folder) as a resumable, streaming archive source.

Layout: ``channels.json`` (and ``groups.json``, ``dms.json``, ``mpims.json`` when the export
has private conversations), ``users.json``, and one folder per conversation holding
``YYYY-MM-DD.json`` day-files, each a small JSON array of messages. The records of the
source are ``users.json`` followed by the day-files in (folder, day) order; the resume
position counts them, so a resumed import opens no file it has already stored. Only one
day-file is in memory at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from adapters.base import ArchiveSource, ImportBatch
from adapters.imports.chat_text import clean
from adapters.imports.slack_translate import (
    PLATFORM,
    Skip,
    SlackDirectory,
    actor_from_user,
    profile_event,
    translate_message,
)
from bot.core.errors import ImportFailure
from bot.core.events import ActorRef, Event, PlaceRef

log = logging.getLogger(__name__)

_DAY_FILE = re.compile(r"^(?P<folder>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")
#: Conversation listings: the name each folder goes by in them, and whether the folder is named by id.
_LISTINGS = (("channels.json", False), ("groups.json", False), ("mpims.json", False), ("dms.json", True))
#: Other files Slack puts at the top of an export; they hold nothing we import.
_KNOWN_UNUSED = frozenset(
    {"integration_logs.json", "canvases.json", "org_users.json", "file_conversations.json", "huddles.json"}
)
#: Events per batch: big enough for fast inserts, small enough for short transactions.
BATCH_EVENTS = 5000


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str  # relative to the export root, "/"-separated
    size: int
    stamp: str  # mtime (and CRC inside a zip): part of the fingerprint


class _Tree(Protocol):
    """A folder or a zip, seen as files relative to the export's root."""

    def entries(self) -> list[_Entry]: ...

    def open(self) -> _Reader: ...


class _Reader(Protocol):
    def read(self, name: str) -> bytes: ...

    def close(self) -> None: ...


class _FolderTree:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entries(self) -> list[_Entry]:
        out: list[_Entry] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for filename in sorted(filenames):
                full = Path(dirpath) / filename
                try:
                    st = full.stat()
                except OSError:
                    continue
                rel = full.relative_to(self.root).as_posix()
                out.append(_Entry(rel, st.st_size, f"{st.st_mtime_ns}"))
        return out

    def open(self) -> _FolderReader:
        return _FolderReader(self.root)


class _FolderReader:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def close(self) -> None:
        pass


class _ZipTree:
    def __init__(self, path: Path) -> None:
        self.path = path
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        # An export zipped with its folder has every name under one prefix; find the root.
        roots = sorted(
            (str(PurePosixPath(i.filename).parent) for i in infos
             if PurePosixPath(i.filename).name in ("channels.json", "users.json")),
            key=len,
        )
        self.prefix = "" if not roots or roots[0] == "." else roots[0] + "/"
        self._infos = [i for i in infos if i.filename.startswith(self.prefix)]

    def entries(self) -> list[_Entry]:
        return [
            _Entry(i.filename[len(self.prefix):], i.file_size, f"{i.date_time}:{i.CRC:08x}")
            for i in sorted(self._infos, key=lambda i: i.filename)
        ]

    def open(self) -> _ZipReader:
        return _ZipReader(zipfile.ZipFile(self.path), self.prefix)


class _ZipReader:
    def __init__(self, zf: zipfile.ZipFile, prefix: str) -> None:
        self.zf = zf
        self.prefix = prefix

    def read(self, name: str) -> bytes:
        return self.zf.read(self.prefix + name)

    def close(self) -> None:
        self.zf.close()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the export holds, from its listing alone (no file opened)."""

    users: _Entry | None
    days: list[_Entry]  # sorted by (folder, day)
    listings: list[_Entry]
    unknown: list[_Entry]


def _plan(entries: list[_Entry]) -> _Plan:
    users = None
    days: list[_Entry] = []
    listings: list[_Entry] = []
    unknown: list[_Entry] = []
    listing_names = {name for name, _ in _LISTINGS}
    for entry in entries:
        if entry.name == "users.json":
            users = entry
        elif entry.name in listing_names:
            listings.append(entry)
        elif _DAY_FILE.match(entry.name):
            days.append(entry)
        elif entry.name not in _KNOWN_UNUSED:
            unknown.append(entry)
    days.sort(key=lambda e: e.name)
    return _Plan(users=users, days=days, listings=listings, unknown=unknown)


def _load_json(reader: _Reader, name: str) -> Any:
    """Parsed JSON, or ``Skip`` with the file named: a bad file is reported, never a traceback."""
    try:
        return json.loads(reader.read(name).decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        raise Skip(f"malformed JSON in {name}") from exc
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise Skip(f"unreadable file {name}") from exc


class SlackExportSource:
    """One Slack export; implements ``adapters.base.ArchiveSource``."""

    def __init__(self, path: Path, tree: _Tree, *, batch_events: int = BATCH_EVENTS) -> None:
        self.path = path
        self._batch_events = batch_events
        self._tree = tree
        self._entries = tree.entries()
        self._plan = _plan(self._entries)
        if self._plan.users is None and not self._plan.listings and not self._plan.days:
            raise ImportFailure(f"{path}: not a Slack export (no users.json, channels.json or day-files)")

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        for entry in self._entries:
            h.update(f"{entry.name}\t{entry.size}\t{entry.stamp}\n".encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    @property
    def size(self) -> int:
        return sum(e.size for e in self._records())

    def _records(self) -> list[_Entry]:
        return ([self._plan.users] if self._plan.users else []) + self._plan.days

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        reader = self._tree.open()
        try:
            yield from self._read(reader, start)
        finally:
            reader.close()

    def _read(self, reader: _Reader, start: int) -> Iterator[ImportBatch]:
        skipped: Counter[str] = Counter()
        if start == 0:
            for entry in self._plan.unknown:
                skipped[f"not a Slack export file ({_kind(entry.name)})"] += 1
        places = self._places(reader, skipped)
        seen_at = self._export_time()
        users, profiles = self._users(reader, skipped, seen_at)
        directory = SlackDirectory(users=users)
        events: list[Event] = []
        records = 0
        progress = 0
        position = 0
        for index, entry in enumerate(self._records()):
            position = index + 1
            progress += entry.size
            if index < start:
                continue
            records += 1
            if entry is self._plan.users:
                events.extend(profiles)
            else:
                events.extend(self._day(reader, entry, places, directory, skipped))
            if len(events) >= self._batch_events:
                yield ImportBatch(position, tuple(events), records, progress, dict(skipped))
                events, records = [], 0
                skipped.clear()
        if events or records or skipped:
            yield ImportBatch(position, tuple(events), records, progress, dict(skipped))

    def _export_time(self) -> datetime:
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        except OSError:
            return datetime.now(UTC)

    def _users(
        self, reader: _Reader, skipped: Counter[str], seen_at: datetime
    ) -> tuple[dict[str, ActorRef], list[Event]]:
        if self._plan.users is None:
            return {}, []
        try:
            data = _load_json(reader, "users.json")
        except Skip as skip:
            skipped[skip.reason] += 1
            return {}, []
        users: dict[str, ActorRef] = {}
        profiles: list[Event] = []
        for user in data if isinstance(data, list) else []:
            if not isinstance(user, Mapping) or not isinstance(user.get("id"), str) or not user["id"]:
                skipped["users.json entry without id"] += 1
                continue
            users[user["id"]] = actor_from_user(user)
            profiles.append(profile_event(user, seen_at=seen_at))
        return users, profiles

    def _places(self, reader: _Reader, skipped: Counter[str]) -> dict[str, PlaceRef]:
        """Folder name -> place, from every conversation listing the export has."""
        present = {e.name for e in self._plan.listings}
        places: dict[str, PlaceRef] = {}
        for filename, by_id in _LISTINGS:
            if filename not in present:
                continue
            try:
                data = _load_json(reader, filename)
            except Skip as skip:
                skipped[skip.reason] += 1
                continue
            for conv in data if isinstance(data, list) else []:
                if not isinstance(conv, Mapping) or not isinstance(conv.get("id"), str):
                    continue
                cid = clean(conv["id"])
                name = clean(conv["name"]) if isinstance(conv.get("name"), str) else cid
                folder = cid if by_id else name
                places[folder] = PlaceRef(platform=PLATFORM, channel_id=cid, name=name)
        return places

    def _day(
        self,
        reader: _Reader,
        entry: _Entry,
        places: dict[str, PlaceRef],
        directory: SlackDirectory,
        skipped: Counter[str],
    ) -> list[Event]:
        folder = entry.name.split("/", 1)[0]
        place = places.get(folder)
        if place is None:
            # A folder no listing names: its name stands in for the id (and won't meet live events).
            log.warning("slack export %s: folder %r is in no channel listing", self.path, folder)
            place = places[folder] = PlaceRef(platform=PLATFORM, channel_id=clean(folder), name=clean(folder))
        try:
            data = _load_json(reader, entry.name)
        except Skip as skip:
            skipped[skip.reason] += 1
            return []
        if not isinstance(data, list):
            skipped[f"day-file is not a JSON array ({entry.name})"] += 1
            return []
        # A message the same day-file deletes is never stored, so a re-import stores nothing new.
        deleted = {
            m.get("deleted_ts")
            for m in data
            if isinstance(m, Mapping) and m.get("subtype") == "message_deleted"
        }
        events: list[Event] = []
        for msg in data:
            if deleted and isinstance(msg, Mapping) and not msg.get("subtype") and msg.get("ts") in deleted:
                skipped["message deleted later in the export"] += 1
                continue
            try:
                events.extend(translate_message(msg, place=place, directory=directory))
            except Skip as skip:
                skipped[skip.reason] += 1
        return events


def _kind(name: str) -> str:
    suffix = PurePosixPath(name).suffix
    return suffix.lstrip(".") or "no extension"


def _export_root(folder: Path) -> Path:
    """The folder itself, or the one folder inside it that holds the export (an unzipped archive)."""
    if (folder / "channels.json").exists() or (folder / "users.json").exists():
        return folder
    inner = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if len(inner) == 1 and ((inner[0] / "channels.json").exists() or (inner[0] / "users.json").exists()):
        return inner[0]
    return folder


def discover_slack_export(
    path: str | os.PathLike[str], *, batch_events: int = BATCH_EVENTS
) -> list[ArchiveSource]:
    """A Slack export zip or folder as one source; ``ImportFailure`` when it cannot be one."""
    p = Path(path).expanduser()
    try:
        p = p.resolve(strict=True)
    except OSError as exc:
        raise ImportFailure(f"{path}: no such file or folder") from exc
    try:
        if p.is_dir():
            root = _export_root(p)
            return [SlackExportSource(root, _FolderTree(root), batch_events=batch_events)]
        if zipfile.is_zipfile(p):
            return [SlackExportSource(p, _ZipTree(p), batch_events=batch_events)]
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFailure(f"{path}: cannot read the export: {exc}") from exc
    raise ImportFailure(f"{path}: not a Slack export (expected a .zip or a folder)")
