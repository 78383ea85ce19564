"""What a command is, what it receives and where it is kept: the types every command module uses.

Kept apart from the dispatching core (``bot.admin.registry``) so that command modules and
the core share them without one module growing past a single responsibility.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.clock import Clock
from bot.core.events import ActorRef, CommandInvoked, PlaceRef
from bot.core.outbound import CommandReply
from bot.store import Store

if TYPE_CHECKING:
    from segmentation.engine import SegmentationEngine

#: The word that introduces a managers' command.
ADMIN = "admin"
#: The member command that redeems an e-mail confirmation token.
CONFIRM = "confirm"
#: How the audit log names someone who has been erased.
ERASED_ACTOR = "[erased]"


@dataclass(frozen=True, slots=True)
class Services:
    """What handlers need, built once by the composition root (``bot/app.py``).

    The optional slots belong to other parts of the bot and stay None where that part is not
    configured (a handler that needs one says so in its reply instead of failing).
    """

    store: Store
    clock: Clock
    #: Manager overrides (``admin set``) go through the engine so the member is re-decided at once.
    segmentation: SegmentationEngine | None = None
    #: messages.programmes.Catalogue (H2): programme names for ``programmes``/``optout``.
    catalogue: Any = None
    #: messages.planner.Planner (H2): ``admin invite`` campaigns.
    planner: Any = None
    #: H5's digest service: ``admin digest preview|send-now``.
    digest: Any = None
    #: H3's messages.templates.Renderer, for replies that use a template.
    renderer: Any = None
    #: OutboxWorker.wake (H1): call after a handler enqueued something.
    wake_outbox: Callable[[], None] | None = None
    #: The configured time zone (IANA name): "this week" in ``admin segments`` and the digest.
    timezone: str = "UTC"
    #: Anything else the app wants to hand to a module (keyed by the module's name).
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandContext:
    """One call as a handler sees it: arguments already split, the invoker already checked."""

    invocation: CommandInvoked
    #: The command's name: ``optout`` for a member's command, ``segments`` for ``admin segments``.
    name: str
    #: The arguments after the name (for managers' commands: after the subcommand).
    args: tuple[str, ...]
    services: Services
    #: The invoker's member id when the store knows their account (None for the CLI, newcomers).
    member_id: int | None
    #: True when the invoker passed the managers' check (always for managers' commands).
    manager: bool

    @property
    def actor(self) -> ActorRef:
        return self.invocation.actor

    @property
    def place(self) -> PlaceRef:
        return self.invocation.place

    @property
    def at(self) -> datetime:
        return self.invocation.occurred_at

    @property
    def roles(self) -> tuple[str, ...]:
        return self.invocation.roles

    @property
    def verified(self) -> bool:
        return self.invocation.verified

    @property
    def by(self) -> str:
        """Who acted, as recorded with overrides, merges and decisions: ``platform:external_id``."""
        return actor_key(self.invocation.actor)


Handler = Callable[[CommandContext], Awaitable[CommandReply]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: ``usage`` is shown in help and after a bad argument.

    ``private_args``: the audit log records the call without its arguments (they name a
    person who is being erased, or carry a secret). ``confirm_unverified``: for a members'
    command, which calls (by their arguments) must first be confirmed with a one-time token
    when the platform cannot vouch for the sender (e-mail), like ``forgetme confirm``: a
    forged ``From:`` must not erase someone else. Managers' commands are always confirmed.
    """

    name: str
    summary: str
    usage: str
    manager: bool
    handler: Handler
    private_args: bool = False
    confirm_unverified: Callable[[tuple[str, ...]], bool] | None = None


class Registry:
    """Members' commands and managers' subcommands, each name once per kind."""

    def __init__(self) -> None:
        self._member: dict[str, CommandSpec] = {}
        self._manager: dict[str, CommandSpec] = {}

    def add(self, spec: CommandSpec) -> None:
        table = self._manager if spec.manager else self._member
        name = spec.name.strip().lower()
        if not name or name != spec.name or " " in name:
            raise ValueError(f"command name {spec.name!r} must be one lower-case word")
        if name in table or (not spec.manager and name in (ADMIN, CONFIRM, "help")):
            kind = "managers'" if spec.manager else "members'"
            raise ValueError(f"{kind} command {name!r} is registered twice")
        table[name] = spec

    def get(self, name: str, *, manager: bool) -> CommandSpec | None:
        return (self._manager if manager else self._member).get(name.lower())

    def names(self, *, manager: bool) -> list[str]:
        return sorted(self._manager if manager else self._member)

    def specs(self, *, manager: bool) -> list[CommandSpec]:
        table = self._manager if manager else self._member
        return [table[name] for name in sorted(table)]


def actor_key(actor: ActorRef) -> str:
    """``platform:external_id`` (mail addresses lower-cased): how the audit log names people."""
    external = actor.external_id.lower() if actor.platform == "mail" else actor.external_id
    return f"{actor.platform}:{external}"
