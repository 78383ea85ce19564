"""Event uids for Discord records, shared by the live adapter and the ``discord-export`` importer.

A message's uid depends only on its snowflake, so a live message, a back-filled one and the
same message read from a DiscordChatExporter file are one stored activity. Pure: no discord.py.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.events import event_uid

PLATFORM = "discord"


def message_uid(message_id: str) -> str:
    return event_uid(PLATFORM, message_id)


def reaction_uid(message_id: str, emoji_key: str, user_id: str) -> str:
    """``emoji_key`` is the custom emoji's id, else the unicode emoji itself (as the gateway gives it)."""
    return event_uid(PLATFORM, f"{message_id}:reaction:{emoji_key}:{user_id}")


def interaction_uid(interaction_id: str) -> str:
    """A slash command or a button click: Discord never delivers one interaction id twice on purpose."""
    return event_uid(PLATFORM, f"interaction:{interaction_id}")


def membership_uid(guild_id: str, user_id: str, kind: str, at: datetime) -> str:
    """A join or leave seen on the gateway (no message id exists for it): one per member and moment."""
    return event_uid(PLATFORM, f"{guild_id}:{kind}:{user_id}:{at.isoformat()}")
