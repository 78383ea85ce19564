"""Reading a command's arguments: shell-like splitting and ``--options``, with errors for people.

Every mistake is a ``BadArgument`` whose message the command core shows with the usage.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from bot.core.errors import BadArgument


def split_arguments(raw: Sequence[str]) -> tuple[str, ...]:
    """Arguments as the user meant them.

    Front ends that pass the typed text as one string (a Slack slash command's ``text``, an
    e-mail line) get it split like a shell would, so ``"Ada Lovelace"`` stays one argument;
    arguments that arrive already split (the CLI, Discord options) are kept as they are.
    """
    if len(raw) == 1 and (any(c.isspace() for c in raw[0]) or raw[0][:1] in "\"'"):
        try:
            return tuple(shlex.split(raw[0]))
        except ValueError as exc:
            raise BadArgument(f"cannot read the arguments: {exc}") from None
    return tuple(a for a in raw if a != "")


def parse_command_line(text: str) -> tuple[str, tuple[str, ...]]:
    """``"admin set #12 skill developer"`` -> ``("admin", ("set", "#12", ...))``, for text front ends."""
    try:
        words = shlex.split(text.strip().lstrip("/"))
    except ValueError as exc:
        raise BadArgument(f"cannot read the command: {exc}") from None
    if not words:
        raise BadArgument("empty command")
    return words[0].lower(), tuple(words[1:])


def options(
    args: Sequence[str], *, flags: Iterable[str] = (), values: Iterable[str] = ()
) -> tuple[list[str], dict[str, str | bool]]:
    """Split ``--flag`` and ``--name VALUE`` (or ``--name=VALUE``) from positional arguments."""
    known_flags, known_values = set(flags), set(values)
    positional: list[str] = []
    found: dict[str, str | bool] = {}
    items = list(args)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("--"):
            name, eq, value = item[2:].partition("=")
            if name in known_flags and not eq:
                found[name] = True
            elif name in known_values:
                if not eq:
                    i += 1
                    if i >= len(items):
                        raise BadArgument(f"--{name} needs a value")
                    value = items[i]
                found[name] = value
            else:
                known = sorted(f"--{n}" for n in known_flags | known_values)
                raise BadArgument(
                    f"unknown option {item!r}" + (f"; options: {', '.join(known)}" if known else "")
                )
        else:
            positional.append(item)
        i += 1
    return positional, found
