"""The slash commands the bot registers in each configured guild, and the buttons it listens for.

Every command does the same thing: the interaction becomes a ``CommandInvoked`` (see
``translate.command_invoked``), the adapter hands it to the sink and shows the
``CommandReply`` to the invoker only. The members' self-service commands are one slash
command each; the managers' commands travel as free text in ``/cohort-admin`` (``/cohort-admin
segments``), which Discord hides from members without Manage Server through
``default_member_permissions``. That is a convenience, never the check: the command core
checks the invoker's user id and role ids against its configuration again.

Buttons are a ``DynamicItem``: discord.py matches any component whose custom id looks like
``cb:<action>:<value>`` to it, including buttons on messages sent before a restart, so
invitations stay clickable for as long as they are valid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import discord
from discord import app_commands

from adapters.discord.translate import ADMIN_COMMAND, custom_id, parse_custom_id
from bot.core.outbound import Button

log = logging.getLogger(__name__)

#: What the adapter does with an interaction (a command or one of our buttons).
InteractionHandler = Callable[[discord.Interaction[Any]], Awaitable[None]]

#: Member self-service commands: name → (description, takes an optional programme/"all" scope).
MEMBER_COMMANDS: dict[str, tuple[str, bool]] = {
    "optout": ("Stop messages from the bot (one programme, or all)", True),
    "optin": ("Receive the bot's messages again (one programme, or all)", True),
    "whyme": ("Why the bot thinks a programme suits you", False),
    "mydata": ("Everything the bot stores about you, as a file", False),
    "forgetme": ("Erase what the bot stores about you", False),
    "programmes": ("The programmes you can join", False),
}

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "danger": discord.ButtonStyle.danger,
}


def _handler_of(interaction: discord.Interaction[Any]) -> InteractionHandler:
    handler: InteractionHandler = interaction.client.cohortbot_handler
    return handler


def _member_command(name: str, description: str, *, scoped: bool) -> app_commands.Command[Any, ..., None]:
    if scoped:

        @app_commands.describe(scope="A programme's name, or 'all' (the default)")
        async def with_scope(interaction: discord.Interaction[Any], scope: str | None = None) -> None:
            await _handler_of(interaction)(interaction)

        return app_commands.Command(name=name, description=description, callback=with_scope)

    async def plain(interaction: discord.Interaction[Any]) -> None:
        await _handler_of(interaction)(interaction)

    return app_commands.Command(name=name, description=description, callback=plain)


@app_commands.describe(command="A manager's command, e.g. 'segments' or 'invite hero 123'")
async def _admin(interaction: discord.Interaction[Any], command: str) -> None:
    await _handler_of(interaction)(interaction)


def build_tree(client: discord.Client, *, guild_ids: Iterable[str]) -> app_commands.CommandTree[Any]:
    """The command tree with every command added to each guild (guild commands appear at once)."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    guilds = [discord.Object(id=int(gid)) for gid in guild_ids]
    commands: list[app_commands.Command[Any, ..., None]] = [
        _member_command(name, description, scoped=scoped)
        for name, (description, scoped) in MEMBER_COMMANDS.items()
    ]
    admin: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=ADMIN_COMMAND, description="Managers' commands (checked again by the bot)", callback=_admin
    )
    admin.default_permissions = discord.Permissions(manage_guild=True)
    admin.guild_only = True
    commands.append(admin)
    for command in commands:
        if guilds:
            tree.add_command(command, guilds=guilds)
        else:
            tree.add_command(command)
    tree.error(_unmatched)
    return tree


async def _unmatched(interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
    """A command the tree does not know here (from a DM, another guild, a stale registration).

    It still goes to the command core, with the place it came from, so the refusal is the
    core's (and audited) rather than a silent "application did not respond".
    """
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        await _handler_of(interaction)(interaction)
        return
    log.error("discord: command %s failed", interaction.command, exc_info=error)


async def sync_commands(tree: app_commands.CommandTree[Any], *, guild_ids: Iterable[str]) -> None:
    """Register the commands in each guild (one PUT per guild replaces what was there)."""
    for gid in guild_ids:
        await tree.sync(guild=discord.Object(id=int(gid)))


_TEMPLATE = r"cb:(?P<action>[^:]+):(?P<value>.*)"


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_TEMPLATE):
    """One of our buttons, rebuilt from its custom id whenever somebody clicks it."""

    def __init__(self, button: Button) -> None:
        super().__init__(
            discord.ui.Button(
                label=button.label, style=_STYLES.get(button.style, discord.ButtonStyle.secondary),
                custom_id=custom_id(button),
            )
        )
        self.button = button

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        parsed = parse_custom_id(match.string)
        action, value = parsed if parsed is not None else (match["action"], match["value"])
        label = getattr(item, "label", None) or action
        return cls(Button(action=action, value=value, label=label))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _handler_of(interaction)(interaction)


def button_view(buttons: Iterable[Button]) -> discord.ui.View:
    """A view without timeout holding our buttons (link buttons for those with a URL)."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        if button.url:
            view.add_item(discord.ui.Button(label=button.label, url=button.url))
        else:
            view.add_item(ActionButton(button))
    return view
