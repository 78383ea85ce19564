"""Rules for ``skill``: what people write in their own words shows what they can do."""

from __future__ import annotations

from segmentation.rules.base import Finding, Params, RuleContext, _n
from segmentation.titles import non_technical_title, technical_title

# ---- skill: technical ------------------------------------------------------------------


def sends_patches(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("patch")
    if n:
        what = "1 patch" if n == 1 else f"{n} patches"
        return Finding("technical", f"sent {what} of their own", min(2.0, 1 + n / 10), ("patch",))
    return None


def writes_code(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("code")
    inline = ctx.features.flag("inline_code")
    if n >= p.get("min_messages", 1):
        strength = min(2.0, 0.5 + ctx.features.share(n) * 3 + n / 20)
        return Finding("technical", f"{_n(n, 'message')} with code they wrote", strength, ("code",))
    if inline >= p.get("min_messages", 1):
        # Code names inside prose (`foo()`, snake_case, --flags): weaker than a code block.
        strength = min(1.2, 0.4 + ctx.features.share(inline) * 2 + inline / 20)
        return Finding(
            "technical", f"{_n(inline, 'message')} naming code, commands or files", strength, ("inline_code",)
        )
    return None


def posts_traces_or_logs(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("trace") + ctx.features.flag("log")
    if n:
        return Finding(
            "technical",
            f"posted stack traces or logs in {_n(n, 'message')}",
            min(1.5, 0.7 + n / 10),
            ("trace", "log"),
        )
    return None


def shares_config_or_commands(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.flag("config") + ctx.features.flag("command")
    if n:
        return Finding(
            "technical",
            f"shared configuration or commands in {_n(n, 'message')}",
            min(1.5, 0.7 + n / 10),
            ("config", "command"),
        )
    return None


def technical_vocabulary(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    if f.words < 20 or f.tech_terms < 3:
        return None
    rate = 100 * f.tech_terms / f.words
    threshold = p.get("per_100_words", 1.5)
    if rate >= threshold:
        return Finding(
            "technical",
            f"uses technical vocabulary ({rate:.1f} terms per 100 words)",
            min(1.5, rate / (2 * threshold)),
            ("tech_terms",),
        )
    return None


def answers_questions(ctx: RuleContext, p: Params) -> Finding | None:
    n = ctx.features.answers
    if n >= p.get("min_answers", 2) and ctx.features.technical_messages + ctx.features.tech_terms >= 3:
        return Finding(
            "technical", f"answered {_n(n, 'question')} from others", min(2.0, 0.5 + n / 4), ("answer",)
        )
    return None


def technical_title_rule(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.profile.titles:
        if hit := technical_title(text):
            return Finding("technical", f"title says {hit!r}")
    for text in ctx.features.signatures:
        if hit := technical_title(text):
            return Finding("technical", f"signature says {hit!r}", 0.8)
    return None


def technical_channels(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    n = f.channel_hints.get("technical", 0)
    if f.messages and n / f.messages >= p.get("min_share", 0.5):
        return Finding("technical", f"{_n(n, 'message')} in channels marked technical")
    return None


# ---- skill: non-technical --------------------------------------------------------------


def asks_basic_questions(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    n = f.basic_questions
    rate = 100 * f.tech_terms / f.words if f.words else 0.0
    # Someone who also talks shop (threads, APIs, drivers) is asking a newcomer's question, not a user's.
    talks_shop = f.tech_terms >= 3 and rate >= 1.0
    if n and f.share(n) >= p.get("min_share", 0.3) and f.technical_messages <= n and not talks_shop:
        return Finding(
            "non_technical",
            f"asked {_n(n, 'basic usage question')}",
            min(1.5, 0.5 + f.share(n)),
            ("basic_question",),
        )
    return None


def says_not_technical(ctx: RuleContext, p: Params) -> Finding | None:
    if ctx.features.phrases.get("non_technical_self"):
        return Finding(
            "non_technical", "describes themselves as not technical", 1.0, ("says:non_technical_self",)
        )
    return None


def no_technical_content(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    if f.messages < p.get("min_messages", 3) or f.technical_messages:
        return None
    rate = 100 * f.tech_terms / f.words if f.words else 0.0
    if rate <= p.get("max_per_100_words", 0.3):
        return Finding(
            "non_technical", f"{_n(f.messages, 'message')} without any code, logs or technical terms"
        )
    return None


def end_user_channels(ctx: RuleContext, p: Params) -> Finding | None:
    f = ctx.features
    n = f.channel_hints.get("end_user", 0)
    if f.messages and n / f.messages >= p.get("min_share", 0.5) and not f.technical_messages:
        return Finding("non_technical", f"{_n(n, 'message')} in end-user channels")
    return None


def non_technical_title_rule(ctx: RuleContext, p: Params) -> Finding | None:
    for text in ctx.profile.titles:
        if hit := non_technical_title(text):
            return Finding("non_technical", f"title says {hit!r}")
    return None
