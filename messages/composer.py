"""Messages the programmes send, rendered for their platform and addressed: an invitation
(accept/decline buttons) and Community Hero's solution check (solved/not yet)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.core.errors import BadArgument
from bot.core.outbound import Button
from bot.store.outbox import NewMessage
from messages.hero_reads import Row
from messages.programmes import Programme
from messages.reasons import why_text
from messages.snapshots import Account, LinkMaker, MemberView, recipient_for
from messages.templates import Renderer


class InvitationComposer:
    """Builds the outbox message of one invitation (the planner writes it)."""

    def __init__(self, renderer: Renderer, *, community: str, links: LinkMaker | None) -> None:
        self.renderer = renderer
        self.community = community
        self.links = links

    def button(
        self, action: str, token: str, label: str, expires_at: datetime, *, style: Any = "secondary"
    ) -> Button:
        url = self.links(action, token, expires_at) if self.links else None
        return Button(action, token, label, style, url=url)

    def message(
        self,
        view: MemberView,
        prog: Programme,
        token: str,
        platform: str,
        segment: str,
        not_before: datetime | None,
        expires_at: datetime,
    ) -> NewMessage:
        account = view.account(platform)
        if account is None:
            raise BadArgument(f"member #{view.snapshot.member_id} has no deliverable {platform} account")
        kind, to = recipient_for(account)
        name = prog.template(platform)
        buttons = (
            self.button("accept", token, "Yes, count me in", expires_at, style="primary"),
            self.button("decline", token, "No, thanks", expires_at),
        )
        context = {
            "name": view.display_name or account.display_name,
            "community": self.community,
            "programme_title": prog.title,
            "benefit": prog.settings.benefit,
            "why": why_text(segment, view.decisions, prog),
            "expires_on": f"{expires_at:%d %B %Y}",
            "buttons": buttons,
        }
        rendered = self.renderer.render(name, platform, context)
        return NewMessage(
            dedupe_key=f"invite:{prog.name}:{view.snapshot.member_id}",
            platform=platform,
            kind=kind,
            to=to,
            text=rendered.text,
            template=name,
            programme=prog.name,
            member_id=view.snapshot.member_id,
            subject=rendered.subject,
            html=rendered.html,
            blocks=tuple(rendered.blocks),
            buttons=buttons,
            lane="broadcast",
            not_before=not_before,
            deliver_within=timedelta(days=prog.settings.expires_after_days),
            consent_scope=f"programme:{prog.name}",
        )


_QUESTION_EXCERPT = 300


def check_message(
    renderer: Renderer,
    question: Row,
    account: Account,
    *,
    token: str,
    names: tuple[str | None, str | None],
    community: str,
    programme: str,
    buttons: Sequence[Button],
    not_before: datetime,
) -> NewMessage:
    """The asker's "did this solve it?" about ``question``; ``names`` are the asker's and the helper's."""
    asker_name, helper = names
    rendered = renderer.render(
        "solution_check",
        account.platform,
        {
            "name": asker_name or account.display_name,
            "helper": helper or "someone",
            "question": question.own_text[:_QUESTION_EXCERPT],
            "community": community,
            "buttons": buttons,
        },
    )
    kind, to = recipient_for(account)
    subject = rendered.subject
    if account.platform == "mail" and question.subject:
        subject = (
            question.subject if question.subject.lower().startswith("re:") else f"Re: {question.subject}"
        )
    return NewMessage(
        dedupe_key=f"solved?:{question.uid}",
        platform=account.platform,
        kind=kind,
        to=to,
        text=rendered.text,
        template="solution_check",
        programme=programme,
        member_id=question.member_id,
        subject=subject,
        html=rendered.html,
        blocks=tuple(rendered.blocks),
        buttons=tuple(buttons),
        headers={"X-Cohortbot-Check": token} if account.platform == "mail" else {},
        reply_to_native=question.native_id if account.platform == "mail" else None,
        not_before=not_before,
        deliver_within=timedelta(days=3),
        consent_scope=f"programme:{programme}",
    )
