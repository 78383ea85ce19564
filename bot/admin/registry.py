"""The command core: one registry of commands and one ``dispatch`` for every front end.

Discord and Slack slash commands, e-mail commands, ``simulate`` input and ``cohortbot
admin`` all arrive as a ``CommandInvoked`` and leave as a ``CommandReply``, so a command is
written, permission-checked and audited once. Members' commands go by name (``optout``,
``whyme``...); managers' commands are ``admin <subcommand>``, so the two kinds never clash
(``optout`` for yourself, ``admin optout MEMBER`` for someone else).

Commands come from modules that each define ``register(registry: Registry) -> None`` and add
``CommandSpec`` objects; handlers receive a ``CommandContext`` with the invocation, the
invoker's member id and the ``Services`` the composition root built. The list of modules is
fixed (``COMMAND_MODULES``): no discovery, no globals.
"""

from __future__ import annotations

import importlib
import logging
import shlex
from collections.abc import Sequence
from datetime import timedelta

from bot.admin import audit, confirmations
from bot.admin.arguments import options, parse_command_line, split_arguments
from bot.admin.permissions import ManagerSettings, Permissions
from bot.admin.spec import (
    ADMIN,
    CONFIRM,
    ERASED_ACTOR,
    CommandContext,
    CommandSpec,
    Handler,
    Registry,
    Services,
    actor_key,
)
from bot.core.errors import BadArgument, CohortbotError, UnknownMember
from bot.core.events import ActorRef, CommandInvoked
from bot.core.outbound import CommandReply
from bot.store.queries import member_ids_by_identity

#: The registry's types and argument helpers are defined next door; command modules import
#: them from here, the one name every module knows.
__all__ = [
    "ADMIN",
    "COMMAND_MODULES",
    "CONFIRM",
    "ERASED_ACTOR",
    "CommandContext",
    "CommandCore",
    "CommandSpec",
    "Handler",
    "Registry",
    "Services",
    "actor_key",
    "load_commands",
    "options",
    "parse_command_line",
    "split_arguments",
]

log = logging.getLogger(__name__)

#: Every module that registers commands, in this order; each must import (a missing one is a bug).
COMMAND_MODULES: tuple[str, ...] = (
    "bot.admin.selfservice",  # optout, optin, whyme, mydata, forgetme, programmes (H4)
    "bot.admin.commands_members",  # admin segments, member, set, merge, unmerge, suggestions (H4)
    "bot.admin.commands_privacy",  # admin audit, optout, forget (H4)
    "bot.admin.commands_outbox",  # admin outbox (H1)
    "bot.admin.commands_programmes",  # admin programme, invite, approvals (H2)
    "bot.admin.commands_digest",  # admin digest (H5)
)


def load_commands(registry: Registry, modules: Sequence[str] = COMMAND_MODULES) -> list[str]:
    """Import each module and let it register; returns the modules that were loaded."""
    loaded = []
    for name in modules:
        module = importlib.import_module(name)
        module.register(registry)
        loaded.append(name)
    return loaded


class CommandCore:
    """Parses, checks, runs and audits commands. Built once by the app and shared by every front end."""

    def __init__(
        self,
        services: Services,
        *,
        managers: ManagerSettings,
        registry: Registry | None = None,
        modules: Sequence[str] = COMMAND_MODULES,
    ) -> None:
        self.services = services
        self.permissions = Permissions(managers)
        if registry is None:
            registry = Registry()
            load_commands(registry, modules)
        self.registry = registry

    async def dispatch(self, event: CommandInvoked) -> CommandReply:
        """Answer one command. Never raises for the user's mistakes: those become a clear reply."""
        command = event.command.strip().lstrip("/").lower()
        try:
            args = split_arguments(event.args)
        except BadArgument as exc:
            await self._audit(event, command, event.args, "error", str(exc))
            return CommandReply(f"{exc}", ok=False)
        if command == ADMIN:
            return await self._manager_command(event, args)
        if command == CONFIRM:
            return await self._confirm(event, args)
        if command in ("help", ""):
            return await self._help(event, args)
        spec = self.registry.get(command, manager=False)
        if spec is None:
            await self._audit(event, command, args, "error", "unknown command")
            return CommandReply(self._unknown(command, manager=False), ok=False)
        if not event.verified and spec.confirm_unverified is not None and spec.confirm_unverified(args):
            return await self._hold(event, spec.name, args, "the platform cannot vouch for the sender")
        return await self._run(spec, event, args, manager=self.permissions.is_manager(event))

    # -- managers ---------------------------------------------------------------------------

    async def _manager_command(self, event: CommandInvoked, args: tuple[str, ...]) -> CommandReply:
        sub = args[0].lower() if args else "help"
        rest = args[1:]
        verdict = self.permissions.check(event)
        label = f"{ADMIN} {sub}"
        if not verdict.allowed:
            await self._audit(event, label, rest, "refused", verdict.reason)
            log.info("refused %s from %s: %s", label, actor_key(event.actor), verdict.reason)
            return CommandReply(
                f"Sorry, you cannot run managers' commands here ({verdict.reason}).", ok=False
            )
        if sub == "help":
            await self._audit(event, label, rest, "ok", verdict.reason)
            return CommandReply(self._listing(manager=True))
        spec = self.registry.get(sub, manager=True)
        if spec is None:
            await self._audit(event, label, rest, "error", "unknown command")
            return CommandReply(self._unknown(sub, manager=True), ok=False)
        if verdict.needs_confirmation:
            return await self._hold(event, label, rest, verdict.reason)
        return await self._run(spec, event, rest, manager=True, detail=verdict.reason)

    async def _hold(
        self, event: CommandInvoked, label: str, rest: tuple[str, ...], reason: str
    ) -> CommandReply:
        """Keep a command from a sender the platform cannot vouch for until the token comes back.

        ``label`` is what runs on confirmation: ``admin <sub>`` or a members' command name.
        """
        now = self.services.clock.now()
        ttl = self.permissions.settings.confirm_minutes
        async with self.services.store.connection() as conn:
            token = await confirmations.hold(
                conn,
                actor=actor_key(event.actor),
                platform=event.actor.platform,
                command=label,
                args=rest,
                now=now,
                ttl=timedelta(minutes=ttl),
            )
            await audit.record(
                conn,
                at=now,
                actor=actor_key(event.actor),
                platform=event.actor.platform,
                command=label,
                args=rest,
                outcome="pending",
                detail=f"{reason}; waiting for the confirmation token",
            )
        shown = " ".join([label, *(shlex.quote(a) for a in rest)])
        return CommandReply(
            f"To run `{shown}`, reply with the line\n\n    confirm {token}\n\n"
            f"within {ttl} minutes. The command runs once; nothing happens without the reply."
        )

    async def _confirm(self, event: CommandInvoked, args: tuple[str, ...]) -> CommandReply:
        if len(args) != 1:
            await self._audit(event, CONFIRM, (), "error", "usage")
            return CommandReply("usage: confirm TOKEN (the token from our reply to your command)", ok=False)
        now = self.services.clock.now()
        try:
            async with self.services.store.connection() as conn:
                held = await confirmations.redeem(conn, args[0], actor=actor_key(event.actor), now=now)
        except BadArgument as exc:
            await self._audit(event, CONFIRM, ("…",), "refused", str(exc))
            return CommandReply(str(exc), ok=False)
        admin_sub = held.command.removeprefix(f"{ADMIN} ") if held.command.startswith(f"{ADMIN} ") else None
        # The confirmation proves the address: the command runs as if the platform had vouched.
        confirmed = CommandInvoked(
            uid=event.uid,
            actor=event.actor,
            place=event.place,
            occurred_at=event.occurred_at,
            command=ADMIN if admin_sub else held.command,
            args=(admin_sub, *held.args) if admin_sub else held.args,
            roles=event.roles,
            verified=True,
        )
        if admin_sub is None:
            member_spec = self.registry.get(held.command, manager=False)
            if member_spec is None:
                await self._audit(event, held.command, held.args, "refused", "unknown command")
                return CommandReply("Sorry, that command cannot run (unknown command).", ok=False)
            return await self._run(
                member_spec,
                confirmed,
                held.args,
                manager=self.permissions.is_manager(confirmed),
                detail="confirmed by token",
            )
        # The managers' list is checked again as of now.
        verdict = self.permissions.check(confirmed)
        spec = self.registry.get(admin_sub, manager=True)
        if not verdict.allowed or spec is None:
            reason = verdict.reason if not verdict.allowed else "unknown command"
            await self._audit(event, held.command, held.args, "refused", reason)
            return CommandReply(f"Sorry, that command cannot run ({reason}).", ok=False)
        return await self._run(spec, confirmed, held.args, manager=True, detail="confirmed by token")

    # -- running and auditing -----------------------------------------------------------------

    async def _run(
        self,
        spec: CommandSpec,
        event: CommandInvoked,
        args: tuple[str, ...],
        *,
        manager: bool,
        detail: str = "",
    ) -> CommandReply:
        label = f"{ADMIN} {spec.name}" if spec.manager else spec.name
        try:
            member_id = await self._member_of(event.actor)
            ctx = CommandContext(
                invocation=event,
                name=spec.name,
                args=args,
                services=self.services,
                member_id=member_id,
                manager=manager,
            )
            reply = await spec.handler(ctx)
        except (BadArgument, UnknownMember) as exc:
            await self._audit(event, label, args, "error", str(exc))
            text = str(exc) if "usage:" in str(exc) else f"{exc}\nusage: {spec.usage}"
            return CommandReply(text, ok=False)
        except CohortbotError as exc:
            await self._audit(event, label, args, "error", str(exc))
            return CommandReply(f"That did not work: {exc}", ok=False)
        except Exception as exc:
            log.exception("command %s failed", label)
            await self._audit(event, label, args, "error", f"{exc.__class__.__name__}: {exc}")
            return CommandReply(
                "Something went wrong on our side; the managers can see it in the log.", ok=False
            )
        outcome: audit.Outcome = "ok" if reply.ok else "error"
        audit_args = ("…",) if spec.private_args else args
        # Someone who just erased themselves is not named again by the line about it.
        gone = member_id is not None and await self._member_of(event.actor) is None
        await self._audit(
            event,
            label,
            audit_args,
            outcome,
            detail or ("" if reply.ok else reply.text[:300]),
            actor=ERASED_ACTOR if gone else None,
        )
        return reply

    async def _member_of(self, actor: ActorRef) -> int | None:
        external = actor.external_id.lower() if actor.platform == "mail" else actor.external_id
        async with self.services.store.connection() as conn:
            found = await member_ids_by_identity(conn, [(actor.platform, external)])
        return found.get((actor.platform, external))

    async def _audit(
        self,
        event: CommandInvoked,
        command: str,
        args: Sequence[str],
        outcome: audit.Outcome,
        detail: str,
        *,
        actor: str | None = None,
    ) -> None:
        try:
            async with self.services.store.connection() as conn:
                await audit.record(
                    conn,
                    at=self.services.clock.now(),
                    actor=actor or actor_key(event.actor),
                    platform=event.actor.platform,
                    command=command,
                    args=args,
                    outcome=outcome,
                    detail=detail,
                )
        except Exception:
            # The command's answer still goes out; the failure is in the log for the managers.
            log.exception("could not write the audit row for %s", command)

    # -- help -----------------------------------------------------------------------------------

    async def _help(self, event: CommandInvoked, args: tuple[str, ...]) -> CommandReply:
        manager = self.permissions.is_manager(event)
        await self._audit(event, "help", args, "ok", "")
        text = self._listing(manager=False)
        if manager:
            text += "\n\n" + self._listing(manager=True)
        return CommandReply(text)

    def _listing(self, *, manager: bool) -> str:
        if manager:
            lines = ["Managers' commands (`admin <command>`):"]
            lines += [f"  admin {s.usage} — {s.summary}" for s in self.registry.specs(manager=True)]
        else:
            lines = ["Commands:"]
            lines += [f"  {s.usage} — {s.summary}" for s in self.registry.specs(manager=False)]
            lines.append("  help — this list")
        return "\n".join(lines)

    def _unknown(self, name: str, *, manager: bool) -> str:
        shown = f"admin {name}" if manager else name
        return f"Unknown command {shown!r}.\n\n" + self._listing(manager=manager)
