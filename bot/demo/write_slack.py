"""The Slack workspace as a standard export folder: channels.json, users.json, <channel>/<day>.json.

It holds what exports hold: profiles with titles, time zones and (for some) e-mail
addresses, threads through ``thread_ts``, reactions, ``channel_join`` messages for
newcomers, and a bot user whose posts are ``bot_message``s.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bot.demo.people import Person
from bot.demo.plan import Plan, Post, Thread
from bot.demo.script import chat_greeting
from bot.demo.world import END, SLACK_TEAM, SLACK_VENUES, START, zone

BOT_ID = "B0SYNCWELL1"
APP_ID = "A0SYNCWELLC"


@dataclass(frozen=True, slots=True)
class SlackExport:
    files: dict[str, bytes]  # relative path -> content
    messages: int  # posts (bots included), without channel_join
    joins: int
    reactions: int


def _ts(post_at: float, seq: int) -> str:
    return f"{int(post_at)}.{seq % 1_000_000:06d}"


def _dump(data: Any) -> bytes:
    return json.dumps(data, indent=4, ensure_ascii=True).encode() + b"\n"


class SlackWriter:
    def __init__(self, rng: random.Random, plan: Plan) -> None:
        self._rng = rng
        self._plan = plan
        self._users = [p for p in plan.people if "slack" in p.platforms]
        self._maintainer = next(p for p in plan.people if p.persona == "core_maintainer")

    def write(self) -> SlackExport:
        files: dict[str, bytes] = {"slack/users.json": _dump([self._user(p) for p in self._users])}
        days: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        members: dict[str, list[str]] = {v.name: [] for v in SLACK_VENUES}
        messages = reactions = joins = 0
        for thread in self._plan.threads:
            if thread.platform != "slack":
                continue
            threaded = len(thread.posts) > 1 and self._rng.random() < 0.85
            root_ts = _ts(thread.posts[0].at.timestamp(), thread.posts[0].seq)
            for post in thread.posts:
                entry = self._message(post, thread, threaded=threaded, root_ts=root_ts)
                days[(thread.venue.name, f"{post.at:%Y-%m-%d}")].append(entry)
                messages += 1
                reactions += sum(len(r["users"]) for r in entry.get("reactions", ()))
                if post.author.slack_id not in members[thread.venue.name]:
                    members[thread.venue.name].append(post.author.slack_id)
        for i, join in enumerate(j for j in self._plan.joins if j.venue.platform == "slack"):
            person = join.person
            days[(join.venue.name, f"{join.at:%Y-%m-%d}")].append({
                "type": "message", "subtype": "channel_join", "ts": _ts(join.at.timestamp(), 900_000 + i),
                "user": person.slack_id, "text": f"<@{person.slack_id}> has joined the channel",
            })
            joins += 1
            if person.slack_id not in members[join.venue.name]:
                members[join.venue.name].append(person.slack_id)
        for (channel, day), entries in sorted(days.items()):
            entries.sort(key=lambda e: (float(e["ts"]), e["ts"]))
            files[f"slack/{channel}/{day}.json"] = _dump(entries)
        files["slack/channels.json"] = _dump([self._channel(v.name, v.native_id, v.topic, members[v.name])
                                              for v in SLACK_VENUES])
        return SlackExport(files=dict(sorted(files.items())), messages=messages, joins=joins,
                           reactions=reactions)

    def _channel(self, name: str, cid: str, topic: str, members: list[str]) -> dict[str, Any]:
        created = int((START.timestamp()) - 86400 * 700)
        return {
            "id": cid, "name": name, "created": created, "creator": self._maintainer.slack_id,
            "is_archived": False, "is_general": name == "general", "members": sorted(members),
            "pins": [],
            "topic": {"value": topic, "creator": self._maintainer.slack_id, "last_set": created},
            "purpose": {"value": topic, "creator": self._maintainer.slack_id, "last_set": created},
        }

    def _user(self, p: Person) -> dict[str, Any]:
        if p.is_bot:
            return {
                "id": p.slack_id, "team_id": SLACK_TEAM, "name": p.slack_handle, "deleted": False,
                "real_name": p.name, "is_bot": True, "is_app_user": False, "updated": int(START.timestamp()),
                "profile": {"bot_id": BOT_ID, "api_app_id": APP_ID, "always_active": True,
                            "real_name": p.name,
                            "real_name_normalized": p.name, "display_name": "", "team": SLACK_TEAM},
            }
        offset = zone(p.tz).utcoffset(END.replace(tzinfo=None))
        seconds = int(offset.total_seconds()) if offset is not None else 0
        profile: dict[str, Any] = {
            "title": p.title if p.title and self._rng.random() < 0.75 else "",
            "phone": "", "skype": "",
            "real_name": p.name, "real_name_normalized": p.name,
            "display_name": self._rng.choice((p.first, p.slack_handle, "")),
            "first_name": p.first, "last_name": p.name[len(p.first):].strip(),
            "avatar_hash": f"g{self._rng.getrandbits(44):011x}",
            "image_72": f"https://secure.gravatar.com/avatar/{self._rng.getrandbits(64):016x}.jpg?s=72",
            "team": SLACK_TEAM,
        }
        if p.slack_email:
            profile["email"] = p.slack_email
        return {
            "id": p.slack_id, "team_id": SLACK_TEAM, "name": p.slack_handle, "deleted": False,
            "color": f"{self._rng.getrandbits(24):06x}", "real_name": p.name, "tz": p.tz,
            "tz_label": p.tz.split("/")[-1].replace("_", " ") + " Time", "tz_offset": seconds,
            "profile": profile, "is_admin": p.persona == "core_maintainer", "is_owner": False,
            "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False, "is_bot": False,
            "is_app_user": False, "updated": int(START.timestamp()),
        }

    def _text(self, post: Post) -> str:
        line = post.line
        text = line.text if post.author.is_bot else chat_greeting(self._rng, post.role) + line.text
        if post.role == "thanks" and post.parent is not None and self._rng.random() < 0.6:
            helper = post.parent.author
            text = text.replace(helper.first, f"<@{helper.slack_id}>", 1)
        if line.patch:
            text += (f"\nPR: https://github.com/syncwell/syncwell/pull/{1000 + post.seq % 9000}"
                     f"\n```{line.patch}```")
        if line.code:
            text += f"\n```{line.code}```"
        return text

    def _message(self, post: Post, thread: Thread, *, threaded: bool, root_ts: str) -> dict[str, Any]:
        author = post.author
        ts = _ts(post.at.timestamp(), post.seq)
        entry: dict[str, Any]
        if author.is_bot:
            entry = {
                "type": "message", "subtype": "bot_message", "text": self._text(post), "ts": ts,
                "user": author.slack_id, "bot_id": BOT_ID, "username": author.name,
                "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": author.name, "deleted": False,
                                "team_id": SLACK_TEAM},
            }
        else:
            entry = {
                "client_msg_id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                "type": "message", "text": self._text(post), "user": author.slack_id, "ts": ts,
                "team": SLACK_TEAM, "user_team": SLACK_TEAM, "source_team": SLACK_TEAM,
                "user_profile": {"first_name": author.first, "real_name": author.name,
                                 "display_name": author.slack_handle, "team": SLACK_TEAM,
                                 "name": author.slack_handle, "is_restricted": False,
                                 "is_ultra_restricted": False},
            }
        if threaded:
            entry["thread_ts"] = root_ts
            if post is thread.posts[0]:
                replies = thread.posts[1:]
                entry["reply_count"] = len(replies)
                entry["reply_users_count"] = len({r.author.slack_id for r in replies})
                entry["latest_reply"] = _ts(replies[-1].at.timestamp(), replies[-1].seq)
                entry["reply_users"] = list(dict.fromkeys(r.author.slack_id for r in replies))
                entry["replies"] = [{"user": r.author.slack_id, "ts": _ts(r.at.timestamp(), r.seq)}
                                    for r in replies]
            else:
                entry["parent_user_id"] = thread.posts[0].author.slack_id
        if post.reactions:
            grouped: dict[str, list[str]] = {}
            for who, emoji in post.reactions:
                grouped.setdefault(emoji, []).append(who.slack_id)
            entry["reactions"] = [{"name": name, "users": users, "count": len(users)}
                                  for name, users in grouped.items()]
        return entry
