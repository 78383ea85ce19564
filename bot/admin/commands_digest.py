"""Managers' ``admin digest preview|send-now [--week 2026-W47]``: see the week's digest, or send it now.

``preview`` builds the digest without claiming the week or sending anything: a short
summary in the reply and the full HTML page (charts included) as an attachment.
``send-now`` goes through the same ``DigestService.run_week`` as the scheduler, so it is
exactly once too: a week already sent says so instead of sending again.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.admin.registry import CommandContext, CommandSpec, Registry, options
from bot.core.errors import BadArgument
from bot.core.outbound import CommandReply
from messages.digest import Digest, render_html
from messages.digest.sections import label, period, signed
from messages.digest.service import DigestService
from messages.digest.settings import DigestSettings
from messages.programmes import load_catalogue
from segmentation.config import load_config
from segmentation.rules import RULE_NAMES

USAGE = "digest preview [--week 2026-W47] | digest send-now [--week 2026-W47]"

_OUTCOMES = {
    "sent": "The digest of {week} is queued: {n} message(s) in the outbox.",
    "already-sent": "The digest of {week} was already sent; it goes out once per week.",
    "busy": "Another scheduler is building the digest of {week} right now; it will send it.",
    "lost": "Another scheduler took over the digest of {week} while this one built it; it will send it.",
}


def register(registry: Registry) -> None:
    registry.add(CommandSpec("digest", "preview the weekly digest or send it now", USAGE, True, digest))


def _service(ctx: CommandContext) -> DigestService:
    """The app's digest service; without one (no digest configured), a preview-only service."""
    found = ctx.services.digest
    if isinstance(found, DigestService):
        return found
    config = load_config(known_rules=RULE_NAMES)
    return DigestService(
        ctx.services.store,
        config=config,
        catalogue=ctx.services.catalogue or load_catalogue(segments=list(config.segments)),
        settings=DigestSettings(mail_opt_ins=False),
        tz=ZoneInfo(ctx.services.timezone),
        clock=ctx.services.clock,
        holder="admin-preview",
    )


def summary(digest: Digest) -> str:
    t = digest.totals
    lines = [
        f"Digest {digest.week} ({period(digest)}, {digest.timezone}): {t.members} members "
        f"({signed(t.members_change)}), {t.active} active ({signed(t.active_change)}), {t.new} new "
        f"({signed(t.new_change)}); {digest.questions_total} question(s) unanswered after "
        f"{digest.question_hours} hours.",
    ]
    lines += [f"Warning: {g.count} question(s) from {label(g.segment)} waiting." for g in digest.warnings]
    lines += [
        f"  {label(r.segment)}: {r.members} ({signed(r.members_change)}), {r.active} active"
        for r in digest.segments
    ]
    return "\n".join(lines)


async def digest(ctx: CommandContext) -> CommandReply:
    positional, found = options(ctx.args, values=("week",))
    if len(positional) != 1 or positional[0] not in ("preview", "send-now"):
        raise BadArgument("say preview or send-now")
    week = found.get("week")
    week_text = week if isinstance(week, str) else None
    service = _service(ctx)
    if positional[0] == "preview":
        built = await service.preview(week_text)
        return CommandReply(
            summary(built), attachment=(f"digest-{built.week}.html", render_html(built).encode("utf-8"))
        )
    if not isinstance(ctx.services.digest, DigestService):
        return CommandReply(
            "The digest is not configured here (no [digest] destinations); use preview.", ok=False
        )
    try:
        result = await service.send_now(week_text)
    except ValueError as exc:
        raise BadArgument(str(exc)) from None
    if result.enqueued and ctx.services.wake_outbox is not None:
        ctx.services.wake_outbox()
    return CommandReply(
        _OUTCOMES[result.outcome].format(week=result.week, n=result.enqueued), ok=result.outcome != "lost"
    )
