"""``simulate``'s input and output lines (design section 7), translated to and from kernel events.

Kept apart from the simulation loop so the line format has one home: tests and the demo
write input with :func:`to_line` and read the actions back with :func:`action_line`.
Messages are split into own words, quotes and patches by the same code as the importers
(mail or chat), so a simulated patch counts as a patch.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.imports.chat_text import split_markdown
from adapters.imports.mail_text import split_text
from bot.core.errors import BadArgument
from bot.core.events import PLATFORMS as PLATFORMS
from bot.core.events import (
    ActionClicked,
    ActorRef,
    CommandInvoked,
    Event,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    PlaceRef,
    ReactionAdded,
    event_uid,
)
from bot.core.outbound import OutboundMessage

KINDS = ("message", "reaction", "join", "leave", "command", "click")


def _ts(value: object) -> datetime:
    if not isinstance(value, str):
        raise BadArgument("'ts' must be an ISO-8601 string")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadArgument(f"'ts' is not ISO-8601: {value!r}") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise BadArgument(f"{key!r} must be a string")
    return str(value)


def _actor(platform: str, user: object) -> ActorRef:
    if not isinstance(user, Mapping) or not user.get("id"):
        raise BadArgument("'user' must be an object with an 'id'")
    email = _str(user, "email")
    external = str(user["id"])
    if platform == "mail":
        external = (email or external).strip().lower()
    name = _str(user, "name") or external
    return ActorRef(
        platform=platform,
        external_id=external,
        display_name=name,
        username=name,
        email=email.strip().lower() if email else None,
        is_bot=bool(user.get("is_bot", False)),
        title=_str(user, "title"),
    )


def _native(data: Mapping[str, Any], actor: ActorRef, at: datetime, kind: str) -> str:
    given = _str(data, "message_id")
    if given:
        return given
    seed = f"{kind}|{actor.external_id}|{at.isoformat()}|{data.get('text')}"
    digest = hashlib.blake2b(seed.encode(), digest_size=10)
    return f"sim-{digest.hexdigest()}"


def parse_line(line: str | bytes, *, container: Mapping[str, str] | None = None) -> Event:
    """One input line as a kernel event; malformed lines raise ``BadArgument`` with the reason."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadArgument(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadArgument("each line must be a JSON object")
    platform, kind = data.get("platform"), data.get("kind")
    if platform not in PLATFORMS:
        raise BadArgument(f"'platform' must be one of {', '.join(PLATFORMS)}")
    if kind not in KINDS:
        raise BadArgument(f"'kind' must be one of {', '.join(KINDS)}")
    at = _ts(data.get("ts"))
    actor = _actor(platform, data.get("user"))
    channel = _str(data, "channel") or ("dm" if kind in ("command", "click") else "general")
    place = PlaceRef(
        platform=platform,
        channel_id=channel,
        name=channel,
        container=(container or {}).get(platform, "simulated"),
    )
    text = _str(data, "text") or ""
    native = _native(data, actor, at, kind)
    if kind == "message":
        body = split_text(text) if platform == "mail" else split_markdown(text, slack=platform == "slack")
        reply_to, thread = _str(data, "reply_to"), _str(data, "thread")
        return MessagePosted(
            uid=event_uid(platform, native),
            actor=actor,
            place=place,
            occurred_at=at,
            text=body,
            native_id=native,
            subject=_str(data, "subject"),
            reply_to=event_uid(platform, reply_to) if reply_to else None,
            thread=event_uid(platform, thread) if thread else None,
        )
    if kind == "reaction":
        target = _str(data, "reply_to") or _str(data, "message_id")
        if not target:
            raise BadArgument("a reaction needs 'reply_to' (the message reacted to)")
        emoji = _str(data, "emoji") or "+1"
        return ReactionAdded(
            uid=event_uid(platform, f"{target}:reaction:{emoji}:{actor.external_id}"),
            actor=actor,
            target_uid=event_uid(platform, target),
            emoji=emoji,
            occurred_at=at,
        )
    if kind in ("join", "leave"):
        cls = MemberJoined if kind == "join" else MemberLeft
        return cls(
            uid=event_uid(platform, f"{kind}:{channel}:{actor.external_id}:{at.isoformat()}"),
            actor=actor,
            place=place,
            occurred_at=at,
        )
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise BadArgument(f"cannot split {text!r}: {exc}") from exc
    if not words:
        raise BadArgument(f"a {kind} needs 'text'")
    if kind == "command":
        return CommandInvoked(
            uid=event_uid(platform, f"cmd:{native}"),
            actor=actor,
            place=place,
            occurred_at=at,
            command=words[0].lstrip("/").lower(),
            args=tuple(words[1:]),
            verified=platform != "mail",
        )
    return ActionClicked(
        uid=event_uid(platform, f"click:{native}"),
        actor=actor,
        occurred_at=at,
        action=words[0].lower(),
        value=" ".join(words[1:]),
        place=place,
    )


def action_line(message: OutboundMessage, *, at: datetime) -> dict[str, Any]:
    """One output line for a message that left (through a recorder)."""
    out: dict[str, Any] = {
        "ts": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "platform": message.platform,
        "kind": message.kind,
        "to": message.to.to_json(),
        "text": message.text,
        "template": message.template,
        "dedupe_key": message.dedupe_key,
    }
    if message.programme:
        out["programme"] = message.programme
    return out


def to_line(
    ts: datetime,
    platform: str,
    kind: str,
    user: Mapping[str, Any],
    **fields: Any,
) -> str:
    """An input line, for tests, benchmarks and the demo."""
    data: dict[str, Any] = {
        "ts": ts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "platform": platform,
        "kind": kind,
        "user": dict(user),
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    return orjson.dumps(data).decode()
