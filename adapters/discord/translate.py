"""discord.py objects to kernel events: pure functions, no I/O, no client.

Every message uid comes from ``adapters.discord.uids`` and the text goes through the same
``split_markdown`` as the DiscordChatExporter importer, so a message seen live, back-filled
after an outage, or imported from an export is one stored activity with the same words.

Places follow the importer too: a message's ``PlaceRef.container`` is the guild's *name*
(what the exporter writes), and a thread is its own place whose ``thread`` uid is its
starter message. Commands and clicks are different: their ``container`` is the guild *id*
(``""`` in a DM), because the command core checks it against configuration, and names can
be copied.

A member's join or leave has no message id on the gateway, so it gets a uid of its own
(guild, member, moment). The "X joined the server" system message is skipped here: the
gateway's join event already says it, and counting both would count the join twice.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import discord

from adapters.discord.uids import PLATFORM, interaction_uid, membership_uid, message_uid, reaction_uid
from adapters.imports.chat_text import clean, split_markdown
from bot.core.events import (
    ActionClicked,
    ActorRef,
    CommandInvoked,
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageText,
    PlaceRef,
    ProfileSeen,
    ReactionAdded,
)
from bot.core.outbound import Button

#: Message types that carry a member's words (the exporter's Default, Reply and command types).
MESSAGE_TYPES = frozenset(
    {
        discord.MessageType.default,
        discord.MessageType.reply,
        discord.MessageType.chat_input_command,
        discord.MessageType.context_menu_command,
        discord.MessageType.thread_starter_message,
    }
)

#: Component custom ids: ``cb:<action>:<value>``; Discord allows 100 characters.
CUSTOM_ID_PREFIX = "cb"
CUSTOM_ID_MAX = 100

#: The slash command that carries every manager's command as free text.
ADMIN_COMMAND = "cohort-admin"


# ---------------------------------------------------------------------------------------- people


def actor(user: discord.abc.User) -> ActorRef:
    """The server nickname as display name (what members see), the account name as username."""
    name = clean(user.name)
    disc = user.discriminator
    return ActorRef(
        platform=PLATFORM,
        external_id=str(user.id),
        display_name=clean(user.display_name) or name,
        username=(f"{name}#{disc}" if disc and disc.strip("0") else name) or None,
        is_bot=user.bot,
    )


def _bare_actor(user_id: int) -> ActorRef:
    """Who reacted in a DM: the gateway gives only the id there."""
    return ActorRef(platform=PLATFORM, external_id=str(user_id))


def role_ids(user: discord.abc.User) -> tuple[str, ...]:
    """The member's role ids without @everyone (whose id is the guild's); none outside a guild."""
    if not isinstance(user, discord.Member):
        return ()
    return tuple(str(role.id) for role in user.roles if not role.is_default())


# ---------------------------------------------------------------------------------------- places


def place(channel: object) -> PlaceRef:
    """A channel, thread or DM as the importer names it (guild *name* as the container)."""
    cid = str(getattr(channel, "id", ""))
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        return PlaceRef(
            platform=PLATFORM,
            channel_id=cid,
            name=clean(channel.name),
            category=clean(parent.name) if parent is not None else None,
            container=clean(channel.guild.name) or None,
        )
    if isinstance(channel, discord.abc.GuildChannel):
        category = channel.category
        return PlaceRef(
            platform=PLATFORM,
            channel_id=cid,
            name=clean(channel.name),
            category=clean(category.name) if category is not None else None,
            container=clean(channel.guild.name) or None,
        )
    return PlaceRef(platform=PLATFORM, channel_id=cid, name="DM")


def _guild_place(guild: discord.Guild) -> PlaceRef:
    """Where joins and leaves happen: the system channel when there is one, else the guild itself."""
    channel = guild.system_channel
    if channel is not None:
        return place(channel)
    return PlaceRef(platform=PLATFORM, channel_id=str(guild.id), name=clean(guild.name),
                    container=clean(guild.name) or None)


def _command_place(interaction: discord.Interaction[Any]) -> PlaceRef:
    """Guild *id* as the container so the command core can check it; ``""`` in a DM."""
    channel = interaction.channel
    name = clean(getattr(channel, "name", None) or "") if channel is not None else ""
    return PlaceRef(
        platform=PLATFORM,
        channel_id=str(interaction.channel_id or ""),
        name=name,
        container=str(interaction.guild_id) if interaction.guild_id else "",
    )


# ---------------------------------------------------------------------------------------- messages


def text_of(message: discord.Message) -> MessageText:
    return split_markdown(message.content or "", slack=False, attachments=len(message.attachments))


def message_posted(message: discord.Message) -> MessagePosted | None:
    """A member's message, or None for system notices (pins, joins, boosts, thread notices)."""
    if message.type not in MESSAGE_TYPES:
        return None
    uid = message_uid(str(message.id))
    reply_to = None
    ref = message.reference
    # A forward or a thread starter's copy also carries a reference, but answers nobody.
    if (
        ref is not None
        and ref.message_id is not None
        and ref.type is discord.MessageReferenceType.default
        and message.type is not discord.MessageType.thread_starter_message
    ):
        reply_to = message_uid(str(ref.message_id))
    thread = None
    if isinstance(message.channel, discord.Thread):
        root = message_uid(str(message.channel.id))
        thread = root if root != uid else None
    return MessagePosted(
        uid=uid,
        actor=actor(message.author),
        place=place(message.channel),
        occurred_at=message.created_at,
        text=text_of(message),
        native_id=str(message.id),
        reply_to=reply_to,
        thread=thread,
    )


def message_edited(payload: discord.RawMessageUpdateEvent) -> MessageEdited | None:
    """A changed text; None for updates that only touch embeds (link previews arriving late)."""
    if "content" not in payload.data:
        return None
    message = payload.message
    if message.type not in MESSAGE_TYPES:
        return None
    return MessageEdited(
        uid=message_uid(str(message.id)),
        actor=actor(message.author),
        occurred_at=message.edited_at or message.created_at,
        text=text_of(message),
    )


def messages_deleted(message_ids: Sequence[int], *, at: datetime) -> list[Event]:
    return [MessageDeleted(uid=message_uid(str(mid)), occurred_at=at) for mid in message_ids]


def reaction_added(payload: discord.RawReactionActionEvent, *, at: datetime) -> ReactionAdded:
    emoji = payload.emoji
    key = str(emoji.id) if emoji.id else emoji.name
    who = actor(payload.member) if payload.member is not None else _bare_actor(payload.user_id)
    return ReactionAdded(
        uid=reaction_uid(str(payload.message_id), key, str(payload.user_id)),
        actor=who,
        target_uid=message_uid(str(payload.message_id)),
        emoji=emoji.name,
        occurred_at=at,
    )


# ---------------------------------------------------------------------------------------- members


def member_joined(member: discord.Member) -> MemberJoined:
    at = member.joined_at or discord.utils.utcnow()
    return MemberJoined(
        uid=membership_uid(str(member.guild.id), str(member.id), "join", at),
        actor=actor(member),
        place=_guild_place(member.guild),
        occurred_at=at,
    )


def member_left(user: discord.abc.User, guild: discord.Guild, *, at: datetime) -> MemberLeft:
    return MemberLeft(
        uid=membership_uid(str(guild.id), str(user.id), "leave", at),
        actor=actor(user),
        place=_guild_place(guild),
        occurred_at=at,
    )


def profile_changed(before: discord.Member, after: discord.Member, *, at: datetime) -> ProfileSeen | None:
    """A new nickname or new roles; None when the update changed neither (presence, avatar)."""
    if before.display_name == after.display_name and role_ids(before) == role_ids(after):
        return None
    return ProfileSeen(actor=actor(after), occurred_at=at)


# ---------------------------------------------------------------------------------------- interactions


def custom_id(button: Button) -> str:
    """``cb:<action>:<value>``; the value may hold colons, the action may not."""
    if ":" in button.action or not button.action:
        raise ValueError(f"button action {button.action!r} must be a word without ':'")
    out = f"{CUSTOM_ID_PREFIX}:{button.action}:{button.value}"
    if len(out) > CUSTOM_ID_MAX:
        raise ValueError(f"custom id longer than Discord's {CUSTOM_ID_MAX} characters: {out!r}")
    return out


def parse_custom_id(value: str) -> tuple[str, str] | None:
    """(action, value) from one of our custom ids, or None for a component that is not ours."""
    prefix, sep, rest = value.partition(":")
    action, sep2, payload = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or not sep or not sep2 or not action:
        return None
    return action, payload


def _option_values(options: object) -> list[str]:
    """Option values in the order given, sub-commands flattened."""
    out: list[str] = []
    if not isinstance(options, list):
        return out
    for option in options:
        if not isinstance(option, Mapping):
            continue
        if "options" in option:
            out.append(str(option.get("name", "")))
            out.extend(_option_values(option["options"]))
        elif option.get("value") is not None:
            out.append(str(option["value"]))
    return out


def command_invoked(interaction: discord.Interaction[Any]) -> CommandInvoked | None:
    """A slash command as the command core reads it: ``/cohort-admin segments`` → ``admin segments``.

    ``roles`` are the role ids Discord sent with the interaction (never role names), and
    ``place.container`` the guild id, or ``""`` in a DM so the core refuses manager commands.
    """
    data = interaction.data
    if interaction.type is not discord.InteractionType.application_command or not data:
        return None
    name = str(data.get("name", ""))
    values = _option_values(data.get("options"))
    if name == ADMIN_COMMAND:
        try:
            words = tuple(shlex.split(" ".join(values)))
        except ValueError:  # an unbalanced quote: let the core say what it cannot read
            words = tuple(" ".join(values).split())
        command, args = "admin", words
    else:
        command, args = name, tuple(v for v in values if v)
    return CommandInvoked(
        uid=interaction_uid(str(interaction.id)),
        actor=actor(interaction.user),
        place=_command_place(interaction),
        occurred_at=interaction.created_at,
        command=command,
        args=args,
        roles=role_ids(interaction.user),
    )


def action_clicked(interaction: discord.Interaction[Any]) -> ActionClicked | None:
    """A click on one of our buttons; None for any other component."""
    data = interaction.data
    if interaction.type is not discord.InteractionType.component or not data:
        return None
    parsed = parse_custom_id(str(data.get("custom_id", "")))
    if parsed is None:
        return None
    action, value = parsed
    return ActionClicked(
        uid=interaction_uid(str(interaction.id)),
        actor=actor(interaction.user),
        occurred_at=interaction.created_at,
        action=action,
        value=value,
        place=_command_place(interaction),
    )
