"""The permission matrix: every managers' command, every way in, refused or allowed, always audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from admin_world import (
    ALICE_MAIL,
    GENERAL,
    GUILD,
    MANAGER_ID,
    MANAGER_ROLE,
    SETTINGS,
    SLACK_HELP,
    WORKSPACE,
    World,
    command,
    make_world,
    token_in,
)
from sqlalchemy import select

from bot.admin.permissions import ManagerSettings, Permissions
from bot.core.errors import ConfigurationError
from bot.core.events import ActorRef, PlaceRef
from bot.store import Store
from bot.store.live_models import Consent

NOBODY = ActorRef("discord", "700000000000000700", display_name="Jane")
COPYCAT = ActorRef("discord", "700000000000000701", display_name="Boss", username="boss")
BOSS = ActorRef("discord", MANAGER_ID, display_name="Boss")
ROLE_HOLDER = ActorRef("discord", "700000000000000702", display_name="Mod")
SLACK_BOSS = ActorRef("slack", "U0MGR", display_name="Boss")
SLACK_NOBODY = ActorRef("slack", "U0NOBODY", display_name="Boss")
MAIL_BOSS = ActorRef("mail", "boss@example.org", display_name="Boss", email="boss@example.org")
MAIL_OTHER = ActorRef("mail", "eve@example.net", display_name="Boss", email="eve@example.net")
CLI = ActorRef("cli", "operator")
OTHER_GUILD = PlaceRef(platform="discord", channel_id="2002", name="general", container="111111111111111111")
DISCORD_DM = PlaceRef(platform="discord", channel_id="3003", name="dm", container=None)
OTHER_WORKSPACE = PlaceRef(platform="slack", channel_id="C0X", name="help", container="T0OTHER")

#: Each way of calling a managers' command that must be refused, and why.
REFUSED = {
    "non-manager": dict(actor=NOBODY),
    "copied display name": dict(actor=COPYCAT),
    "role name instead of role id": dict(actor=ROLE_HOLDER, roles=("Managers", "moderator")),
    "manager in another guild": dict(actor=BOSS, place=OTHER_GUILD),
    "manager in a Discord DM": dict(actor=BOSS, place=DISCORD_DM),
    "role holder in a Discord DM": dict(actor=ROLE_HOLDER, roles=(MANAGER_ROLE,), place=DISCORD_DM),
    "slack non-manager with the manager's name": dict(actor=SLACK_NOBODY),
    "slack manager in another workspace": dict(actor=SLACK_BOSS, place=OTHER_WORKSPACE),
    "mail from a non-manager": dict(actor=MAIL_OTHER),
    "chat platform that cannot vouch": dict(actor=BOSS, verified=False),
    "unknown platform": dict(actor=ActorRef("irc", "boss")),
}
ALLOWED = {
    "manager by user id": dict(actor=BOSS),
    "manager by role id": dict(actor=ROLE_HOLDER, roles=("123", MANAGER_ROLE)),
    "slack manager": dict(actor=SLACK_BOSS),
    "command line": dict(actor=CLI),
}


@pytest.fixture
async def world(store: Store) -> World:
    return await make_world(store)


def manager_commands(world: World) -> list[str]:
    names = world.core.registry.names(manager=True)
    # H4's own commands must be there whatever else is installed.
    mine = {"segments", "member", "set", "merge", "unmerge", "suggestions", "audit", "optout", "forget"}
    assert mine <= set(names)
    return names


async def test_every_managers_command_is_refused_to_everyone_else_and_audited(world: World) -> None:
    names = manager_commands(world)
    for name in names:
        for why, how in REFUSED.items():
            kwargs = dict(how)
            actor = kwargs.pop("actor")
            before = len(await world.audit())
            reply = await world.run(command(actor, "admin", name, **kwargs))  # type: ignore[arg-type]
            assert not reply.ok, (name, why)
            assert "cannot run managers' commands" in reply.text, (name, why, reply.text)
            rows = await world.audit()
            assert len(rows) == before + 1, (name, why)
            assert rows[-1].outcome == "refused" and rows[-1].command == f"admin {name}", (name, why)


async def test_every_managers_command_runs_for_managers_by_id_role_and_cli(world: World) -> None:
    for name in manager_commands(world):
        for why, how in ALLOWED.items():
            kwargs = dict(how)
            actor = kwargs.pop("actor")
            reply = await world.run(command(actor, "admin", name, **kwargs))  # type: ignore[arg-type]
            row = (await world.audit())[-1]
            assert row.command == f"admin {name}", (name, why)
            # Without arguments a command may answer with its usage, but it is never refused.
            assert row.outcome in ("ok", "error"), (name, why, row.outcome, row.detail)
            assert "cannot run managers' commands" not in reply.text, (name, why)


async def test_every_managers_command_by_mail_waits_for_its_token(world: World) -> None:
    for name in manager_commands(world):
        held = await world.run(command(MAIL_BOSS, "admin", name))
        assert held.ok and f"`admin {name}`" in held.text, (name, held.text)
        row = (await world.audit())[-1]
        assert (row.command, row.outcome) == (f"admin {name}", "pending"), name
        done = await world.run(command(MAIL_BOSS, "confirm", token_in(held)))
        assert "cannot run" not in done.text, (name, done.text)
        row = (await world.audit())[-1]
        assert row.command == f"admin {name}" and row.outcome in ("ok", "error"), (name, row.outcome)


async def test_a_refused_command_does_nothing(world: World) -> None:
    for how in REFUSED.values():
        kwargs = dict(how)
        actor = kwargs.pop("actor")
        await world.run(command(actor, "admin", "optout", f"mail:{ALICE_MAIL}", **kwargs))  # type: ignore[arg-type]
    async with world.store.connection() as conn:
        assert (await conn.execute(select(Consent))).all() == []
    await world.run(command(BOSS, "admin", "optout", f"mail:{ALICE_MAIL}"))
    async with world.store.connection() as conn:
        assert [r.state for r in await conn.execute(select(Consent))] == ["out"]


async def test_mail_commands_wait_for_the_token_from_the_same_address_once(world: World) -> None:
    held = await world.run(command(MAIL_BOSS, "admin", "optout", f"mail:{ALICE_MAIL}"))
    assert held.ok and "confirm " in held.text
    token = token_in(held)
    async with world.store.connection() as conn:
        assert (await conn.execute(select(Consent))).all() == []  # nothing ran yet
    assert (await world.audit())[-1].outcome == "pending"
    # The token from another address (someone who saw it, or forged the From: line) is refused.
    forged = await world.run(command(MAIL_OTHER, "confirm", token))
    assert not forged.ok
    assert (await world.audit())[-1].outcome == "refused"
    done = await world.run(command(MAIL_BOSS, "confirm", token))
    assert done.ok, done.text
    async with world.store.connection() as conn:
        assert [r.state for r in await conn.execute(select(Consent))] == ["out"]
    last = (await world.audit())[-1]
    assert (last.command, last.outcome, last.detail) == ("admin optout", "ok", "confirmed by token")
    again = await world.run(command(MAIL_BOSS, "confirm", token))
    assert not again.ok and "no command is waiting" in again.text
    # The token itself is never written to the audit log.
    assert all(token not in str(r.args) for r in await world.audit())


async def test_mail_confirmation_expires(world: World) -> None:
    token = token_in(await world.run(command(MAIL_BOSS, "admin", "segments")))
    world.clock.advance(timedelta(minutes=31))
    late = await world.run(command(MAIL_BOSS, "confirm", token, at=world.clock.now()))
    assert not late.ok
    assert (await world.audit())[-1].outcome == "refused"


async def test_a_held_command_is_checked_again_when_confirmed(world: World) -> None:
    token = token_in(await world.run(command(MAIL_BOSS, "admin", "segments")))
    # The configuration changed between the command and its confirmation: the address is no manager now.
    settings = dict(SETTINGS, managers=[f"discord:{MANAGER_ID}"])
    world.core.permissions = Permissions(ManagerSettings.from_mapping(settings))
    reply = await world.run(command(MAIL_BOSS, "confirm", token))
    assert not reply.ok
    assert (await world.audit())[-1].outcome == "refused"


async def test_members_commands_are_open_to_anyone_and_audited(world: World) -> None:
    for actor in (NOBODY, COPYCAT, MAIL_OTHER, SLACK_NOBODY):
        for name in ("help", "whyme", "programmes", "mydata", "optin", "forgetme"):
            reply = await world.run(command(actor, name))
            assert "cannot run managers' commands" not in reply.text
            row = (await world.audit())[-1]
            assert (row.command, row.outcome) == (name, "ok"), (actor, name, row.detail)


async def test_help_lists_managers_commands_only_to_managers(world: World) -> None:
    plain = await world.run(command(NOBODY, "help"))
    assert "optout" in plain.text and "admin segments" not in plain.text
    boss = await world.run(command(BOSS, "help"))
    assert "admin segments" in boss.text


async def test_unknown_commands_and_bad_quoting_get_a_helpful_reply(world: World) -> None:
    reply = await world.run(command(NOBODY, "optuot"))
    assert not reply.ok and "Unknown command 'optuot'" in reply.text and "whyme" in reply.text
    reply = await world.run(command(BOSS, "admin", "segmnets"))
    assert not reply.ok and "admin segments" in reply.text
    reply = await world.run(command(BOSS, "admin", 'member "unclosed quote'))
    assert not reply.ok and "cannot read the arguments" in reply.text
    assert (await world.audit())[-1].outcome == "error"


async def test_text_front_ends_get_arguments_split_like_a_shell(world: World) -> None:
    reply = await world.run(command(BOSS, "admin", 'member "Bob Builder"'))
    assert reply.ok, reply.text
    assert "Bob Builder" in reply.text and "slack:U0BOB42" in reply.text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"managers": ["discrod:123"], "discord_guild": GUILD}, "unknown kind 'discrod'"),
        ({"managers": ["discord:alice"], "discord_guild": GUILD}, "not a Discord user id"),
        ({"managers": ["discord-role:Moderators"], "discord_guild": GUILD}, "not a Discord role id"),
        ({"managers": ["slack:alice"], "slack_workspace": WORKSPACE}, "not a Slack user id"),
        ({"managers": ["mail:alice"]}, "not an e-mail address"),
        ({"managers": ["alice"]}, "unknown kind 'alice'"),
        ({"managers": []}, "no managers configured"),
        ({}, "no managers configured"),
        ({"manager": ["discord:1"], "discord_guild": GUILD}, "unknown setting"),
        ({"managers": ["discord:1"]}, "discord_guild"),
        ({"managers": ["slack:U0MGR"]}, "slack_workspace"),
        ({"managers": ["discord:1"], "discord_guild": "my server"}, "not a Discord server id"),
        ({"managers": ["mail:a@b.org"], "require_managers": "perhaps"}, "require_managers"),
    ],
)
def test_bad_permission_settings_stop_start_up(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ManagerSettings.from_mapping(table)
    assert message in str(caught.value)
    assert "[managers]" in str(caught.value)


def test_good_settings_and_an_empty_list_when_allowed() -> None:
    s = ManagerSettings.from_mapping(SETTINGS)
    assert "mail:boss@example.org" in s.managers  # addresses compared lower-cased
    empty = ManagerSettings.from_mapping({"require_managers": False})
    p = Permissions(empty)
    assert not p.check(command(BOSS, "admin", "segments")).allowed
    assert p.check(command(CLI, "admin", "segments")).allowed


def test_permissions_revalidate_settings_built_without_validation() -> None:
    raw = ManagerSettings.model_construct(managers=("discord:alice",), discord_guild=GUILD)
    with pytest.raises(ConfigurationError):
        Permissions(raw)


def test_places_used_in_the_matrix_are_what_they_claim() -> None:
    assert GENERAL.container == GUILD and SLACK_HELP.container == WORKSPACE
