"""Members' own commands: opt out and in, ask why, take their data, be forgotten, see programmes.

The same on every platform, because they all arrive through the command core. Opting out
takes effect at once: the consent row and the cancellation of everything still waiting
for the member commit together, and the outbox worker checks consent again before each
send, so nothing already queued slips through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.admin.explain import dimension_lines
from bot.admin.registry import CommandContext, CommandSpec, Registry
from bot.core.errors import BadArgument
from bot.core.outbound import CommandReply
from bot.store.live_models import Invitation, OutboxMessage
from bot.store.models import MemberFeatureRow, SegmentAssignment
from bot.store.privacy import cancel_pending, consents, erase_member, export_member, set_consent

#: Said to people the store does not know yet: nothing to opt out of, export or erase.
_UNKNOWN = "We hold no data about this account, so there is nothing to {what}."


def register(registry: Registry) -> None:
    for spec in (
        CommandSpec(
            "optout", "stop messages from us (all, or one programme)", "optout [programme|all]", False, optout
        ),
        CommandSpec("optin", "receive messages from us again", "optin [programme|all]", False, optin),
        CommandSpec("whyme", "why you received our last message", "whyme", False, whyme),
        CommandSpec("mydata", "everything we hold about you, as JSON", "mydata", False, mydata),
        CommandSpec(
            "forgetme",
            "erase everything we hold about you",
            "forgetme [confirm]",
            False,
            forgetme,
            confirm_unverified=bool,  # "forgetme confirm" by e-mail: the token proves the address
        ),
        CommandSpec(
            "programmes", "our programmes, and whether they are for you", "programmes", False, programmes
        ),
    ):
        registry.add(spec)


def consent_scope(ctx: CommandContext, arg: str | None) -> str:
    """``all``, ``digest`` or a programme name (checked against the catalogue) as a consent scope."""
    if arg is None or arg.lower() == "all":
        return "all"
    name = arg.lower().removeprefix("programme:")
    if name == "digest":
        return "digest"
    catalogue = ctx.services.catalogue
    if catalogue is not None and name not in catalogue:
        known = ", ".join(catalogue.names()) or "none"
        raise BadArgument(f"there is no programme {arg!r}; programmes: {known}")
    return f"programme:{name}"


def _one_optional(ctx: CommandContext) -> str | None:
    if len(ctx.args) > 1:
        raise BadArgument("one programme at a time, or 'all'")
    return ctx.args[0] if ctx.args else None


def _scope_words(scope: str) -> str:
    if scope == "all":
        return "any message from us"
    if scope == "digest":
        return "the weekly digest"
    return f"messages about {scope.removeprefix('programme:')}"


async def optout(ctx: CommandContext) -> CommandReply:
    scope = consent_scope(ctx, _one_optional(ctx))
    if ctx.member_id is None:
        return CommandReply(_UNKNOWN.format(what="opt out of") + " We will not write to you.")
    async with ctx.services.store.connection() as conn:
        await set_consent(conn, ctx.member_id, scope, "out", source=f"{ctx.actor.platform}:optout", at=ctx.at)
        cancelled = await cancel_pending(
            conn, ctx.member_id, scope=scope, reason=f"opted out ({scope})", at=ctx.at
        )
    stopped = f" {cancelled} waiting message(s) cancelled." if cancelled else ""
    return CommandReply(
        f"Done: you will not receive {_scope_words(scope)} on any platform.{stopped} "
        f"`optin{'' if scope == 'all' else ' ' + scope.removeprefix('programme:')}` undoes it."
    )


async def optin(ctx: CommandContext) -> CommandReply:
    scope = consent_scope(ctx, _one_optional(ctx))
    if ctx.member_id is None:
        return CommandReply(_UNKNOWN.format(what="opt in to") + " Write in the community first.")
    async with ctx.services.store.connection() as conn:
        scopes = [scope]
        if scope == "all":
            # Everything back: programme-specific opt-outs are lifted too.
            scopes += [s for s, state in (await consents(conn, ctx.member_id)).items() if state == "out"]
        for s in dict.fromkeys(scopes):
            await set_consent(conn, ctx.member_id, s, "in", source=f"{ctx.actor.platform}:optin", at=ctx.at)
    return CommandReply(f"Done: you may receive {_scope_words(scope)} again.")


async def _dimensions(conn: AsyncConnection, member_id: int) -> dict[str, Any]:
    rows = await conn.execute(
        select(SegmentAssignment.dimension, SegmentAssignment.evidence).where(
            SegmentAssignment.member_id == member_id, SegmentAssignment.current.is_(True)
        )
    )
    return {dim: ev for dim, ev in rows if isinstance(ev, dict)}


def _reason_lines(reason: Mapping[str, Any]) -> list[str]:
    lines = []
    if reason.get("target"):
        lines.append(f"Who it is for: {reason['target']}")
    if reason.get("segment"):
        lines.append(f"Your segment: {reason['segment']}")
    if reason.get("rule"):
        detail = f" ({reason['detail']})" if reason.get("detail") else ""
        lines.append(f"Rule: {reason['rule']}{detail}")
    dims = reason.get("dimensions") or {}
    evidence = reason.get("evidence") or {}
    for dim, d in dims.items() if isinstance(dims, Mapping) else ():
        value = d.get("value") if isinstance(d, Mapping) else d
        lines.append(f"{dim}: {value}")
        for says in evidence.get(dim, []) if isinstance(evidence, Mapping) else []:
            lines.append(f"    + {says}")
    if reason.get("decided_by") and reason["decided_by"] != "policy":
        lines.append(f"Chosen by a community manager ({reason['decided_by']}).")
    return lines


async def whyme(ctx: CommandContext) -> CommandReply:
    if ctx.member_id is None:
        return CommandReply(_UNKNOWN.format(what="explain") + " We have not written to you.")
    async with ctx.services.store.connection() as conn:
        last = (
            await conn.execute(
                select(
                    OutboxMessage.template,
                    OutboxMessage.programme,
                    OutboxMessage.sent_at,
                    OutboxMessage.platform,
                )
                .where(OutboxMessage.member_id == ctx.member_id, OutboxMessage.status == "sent")
                .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
                .limit(1)
            )
        ).first()
        reason: Mapping[str, Any] = {}
        if last is not None and last.programme:
            found = (
                await conn.execute(
                    select(Invitation.reason).where(
                        Invitation.member_id == ctx.member_id, Invitation.programme == last.programme
                    )
                )
            ).scalar()
            reason = found if isinstance(found, Mapping) else {}
        dims = await _dimensions(conn, ctx.member_id)
    lines = []
    if last is None:
        lines.append("We have not sent you any message yet.")
    else:
        about = f" about {last.programme}" if last.programme else ""
        when = f"{last.sent_at:%Y-%m-%d %H:%M} UTC" if last.sent_at else "recently"
        lines.append(
            f"Our last message to you{about} (template {last.template or '-'}) "
            f"went on {last.platform} on {when}."
        )
    if reason:
        lines.append("Why you got it:")
        lines += [f"  {line}" for line in _reason_lines(reason)]
    elif dims:
        lines.append("What we know about you, and why:")
        lines += [f"  {line}" for line in dimension_lines(dims)]
    else:
        lines.append("We have not classified your activity yet.")
    lines.append("`optout` stops our messages; `mydata` shows everything we hold.")
    return CommandReply("\n".join(lines))


async def mydata(ctx: CommandContext) -> CommandReply:
    if ctx.member_id is None:
        return CommandReply(_UNKNOWN.format(what="export"))
    async with ctx.services.store.connection() as conn:
        data = await export_member(conn, ctx.member_id)
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode()
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(data.items()) if isinstance(v, list) and v)
    return CommandReply(
        f"Everything we hold about you is attached ({counts or 'your member record'}).",
        attachment=(f"cohortbot-mydata-{ctx.member_id}.json", body),
    )


async def forgetme(ctx: CommandContext) -> CommandReply:
    if ctx.member_id is None:
        return CommandReply(_UNKNOWN.format(what="erase"))
    if [a.lower() for a in ctx.args] != ["confirm"]:
        if ctx.args:
            raise BadArgument("say `forgetme confirm` to erase your data")
        return CommandReply(
            "This erases everything we hold about you, on every platform, for good: your messages as we "
            "stored them, your segments, invitations and points. We keep only one-way hashes of your "
            "accounts so that no later import brings you back. To go ahead, send `forgetme confirm`."
        )
    async with ctx.services.store.connection() as conn:
        report = await erase_member(conn, ctx.member_id, at=ctx.at)
    return CommandReply(
        f"Done: everything about you is erased ({report.identities} account(s)). "
        "We will not record you again; goodbye, and thank you."
    )


async def _segments(conn: AsyncConnection, member_id: int) -> list[str]:
    found = (
        await conn.execute(select(MemberFeatureRow.segments).where(MemberFeatureRow.member_id == member_id))
    ).scalar()
    return list(found or [])


async def programmes(ctx: CommandContext) -> CommandReply:
    catalogue = ctx.services.catalogue
    if catalogue is None:
        return CommandReply("No programmes are configured.")
    invited: dict[str, str] = {}
    segments: list[str] = []
    dims: dict[str, str] = {}
    opted: dict[str, str] = {}
    if ctx.member_id is not None:
        async with ctx.services.store.connection() as conn:
            rows = await conn.execute(
                select(Invitation.programme, Invitation.status).where(Invitation.member_id == ctx.member_id)
            )
            invited = {p: s for p, s in rows}
            segments = await _segments(conn, ctx.member_id)
            dims = {k: str(v.get("value")) for k, v in (await _dimensions(conn, ctx.member_id)).items()}
            opted = await consents(conn, ctx.member_id)
    lines = ["Programmes:"]
    for prog in catalogue:
        if prog.name in invited:
            status = f"invited ({invited[prog.name].replace('_', ' ')})"
        elif prog.eligible(segments, dims):
            status = "for people like you"
        else:
            status = "not aimed at you right now"
        if opted.get("all") == "out" or opted.get(f"programme:{prog.name}") == "out":
            status += "; you opted out"
        benefit = f" — {prog.settings.benefit}" if prog.settings.benefit else ""
        lines.append(f"  {prog.name}: {prog.title}{benefit} [{status}]")
    lines.append("`optout PROGRAMME` stops messages about one of them.")
    return CommandReply("\n".join(lines))
