"""The Discord server as DiscordChatExporter JSON, one file per channel.

Discord gives no e-mail addresses, so these accounts can only ever be matched by name,
which the bot must not do; replies carry ``reference.messageId``, newcomers appear as
``GuildMemberJoin`` system messages and two accounts are bots.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from bot.demo.people import Person, snowflake
from bot.demo.plan import Plan, Post, Thread
from bot.demo.script import chat_greeting
from bot.demo.world import DISCORD_GUILD_ID, DISCORD_GUILD_NAME, DISCORD_VENUES, END, Venue

EMOJI = {"thumbsup": "👍", "pray": "🙏", "tada": "🎉", "heart": "❤️", "white_check_mark": "✅", "eyes": "👀",
         "rocket": "🚀"}
ROLES = {
    "core_maintainer": {"id": "940118623571234901", "name": "Maintainer", "color": "#E67E22", "position": 3},
    "bot": {"id": "940118623571234902", "name": "Bots", "color": "#95A5A6", "position": 2},
    "regular": {"id": "940118623571234903", "name": "Contributor", "color": "#3498DB", "position": 1},
}


@dataclass(frozen=True, slots=True)
class DiscordExport:
    files: dict[str, bytes]
    messages: int  # posts (bots included), without GuildMemberJoin
    joins: int
    reactions: int


def _discriminator(user_id: str) -> str:
    """Most accounts have moved to unique names ("0000"); a few keep a legacy four-digit tag."""
    n = int(user_id)
    return "0000" if n % 5 else str(n % 9000 + 1000)


def _stamp(post: Post) -> str:
    return f"{post.at:%Y-%m-%dT%H:%M:%S}.{post.seq % 1000:03d}+00:00"


class DiscordWriter:
    def __init__(self, rng: random.Random, plan: Plan) -> None:
        self._rng = rng
        self._plan = plan
        self._ids: dict[int, str] = {}

    def write(self) -> DiscordExport:
        files: dict[str, bytes] = {}
        messages = joins = reactions = 0
        for place in DISCORD_VENUES:
            entries: list[tuple[float, int, dict[str, Any]]] = []
            for thread in self._plan.threads:
                if thread.venue != place:
                    continue
                plain = self._rng.random() < 0.3  # some conversations run without the reply button
                for post in thread.posts:
                    self._ids[post.seq] = snowflake(post.at, post.seq, worker=2, millis=post.seq % 1000)
                    entry = self._message(post, thread, place, plain=plain)
                    entries.append((post.at.timestamp(), post.seq, entry))
                    messages += 1
                    reactions += sum(r["count"] for r in entry["reactions"])
            for i, join in enumerate(j for j in self._plan.joins if j.venue == place):
                entries.append((join.at.timestamp(), -1 - i, {
                    "id": snowflake(join.at, i, worker=3), "type": "GuildMemberJoin",
                    "timestamp": f"{join.at:%Y-%m-%dT%H:%M:%S}.000+00:00", "timestampEdited": None,
                    "callEndedTimestamp": None, "isPinned": False, "content": "",
                    "author": self._author(join.person), "attachments": [], "embeds": [], "stickers": [],
                    "reactions": [], "mentions": [], "inlineEmojis": [],
                }))
                joins += 1
            entries.sort(key=lambda e: (e[0], e[1]))
            name = f"discord/{DISCORD_GUILD_NAME} - {place.category} - {place.name} [{place.native_id}].json"
            files[name] = json.dumps(self._export(place, [e for _, _, e in entries]), indent=2,
                                     ensure_ascii=False).encode() + b"\n"
        return DiscordExport(files=files, messages=messages, joins=joins, reactions=reactions)

    def _export(self, place: Venue, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "guild": {"id": DISCORD_GUILD_ID, "name": DISCORD_GUILD_NAME,
                      "iconUrl": "https://cdn.discordapp.com/embed/avatars/0.png"},
            "channel": {"id": place.native_id, "type": "GuildTextChat",
                        "categoryId": str(int(place.native_id) - 100), "category": place.category,
                        "name": place.name, "topic": place.topic},
            "dateRange": {"after": None, "before": None},
            "exportedAt": f"{END:%Y-%m-%dT%H:%M:%S}.000+00:00",
            "messages": messages,
            "messageCount": len(messages),
        }

    def _author(self, p: Person) -> dict[str, Any]:
        roles = []
        if p.is_bot:
            roles.append(ROLES["bot"])
        elif p.persona == "core_maintainer":
            roles.append(ROLES["core_maintainer"])
        elif p.engagement == "regular":
            roles.append(ROLES["regular"])
        return {
            "id": p.discord_id, "name": p.discord_handle,
            "discriminator": _discriminator(p.discord_id),
            "nickname": p.discord_nick or p.discord_handle, "color": roles[0]["color"] if roles else None,
            "isBot": p.is_bot, "roles": roles,
            "avatarUrl": f"https://cdn.discordapp.com/embed/avatars/{int(p.discord_id) % 6}.png",
        }

    def _message(self, post: Post, thread: Thread, place: Venue, *, plain: bool) -> dict[str, Any]:
        line = post.line
        content = line.text if post.author.is_bot else chat_greeting(self._rng, post.role) + line.text
        mentions: list[dict[str, Any]] = []
        if post.role == "thanks" and post.parent is not None and self._rng.random() < 0.5:
            helper = post.parent.author
            content = content.replace(helper.first, f"@{helper.discord_nick or helper.discord_handle}", 1)
            mentions.append(self._author(helper))
        if line.patch:
            content += (f"\nPR: <https://github.com/syncwell/syncwell/pull/{1000 + post.seq % 9000}>"
                        f"\n```diff\n{line.patch}\n```")
        if line.code:
            content += f"\n```\n{line.code}\n```"
        reply = post.parent is not None and not plain
        grouped: dict[str, list[Person]] = {}
        for who, emoji in post.reactions:
            grouped.setdefault(emoji, []).append(who)
        entry: dict[str, Any] = {
            "id": self._ids[post.seq], "type": "Reply" if reply else "Default", "timestamp": _stamp(post),
            "timestampEdited": None, "callEndedTimestamp": None, "isPinned": False, "content": content,
            "author": self._author(post.author), "attachments": [], "embeds": [], "stickers": [],
            "reactions": [
                {"emoji": {"id": "", "name": EMOJI[name], "code": name, "isAnimated": False,
                           "imageUrl": f"https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/assets/svg/{name}.svg"},
                 "count": len(users), "users": [self._author(u) for u in users]}
                for name, users in grouped.items()
            ],
            "mentions": mentions, "inlineEmojis": [],
        }
        if reply and post.parent is not None:
            entry["reference"] = {"messageId": self._ids[post.parent.seq], "channelId": place.native_id,
                                  "guildId": DISCORD_GUILD_ID}
        return entry
