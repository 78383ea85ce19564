"""An invitation as a message: rendered for its platform, addressed, with accept/decline buttons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core.errors import BadArgument
from bot.core.outbound import Button
from bot.store.outbox import NewMessage
from messages.programmes import Programme
from messages.reasons import why_text
from messages.snapshots import LinkMaker, MemberView, recipient_for
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
