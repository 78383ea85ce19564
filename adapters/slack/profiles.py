"""Who is who: ``users.info`` once per user per run, so events carry names, titles and e-mail.

A user's first event is preceded by a ``ProfileSeen`` (title and, where ``users:read.email``
is granted, the e-mail that joins their Slack identity to their mailing-list one); later
events take the author from the shared directory, which ``team_join`` and ``user_change``
events keep current. A failed lookup never holds an event back: it goes with the bare id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.imports.slack_translate import SlackDirectory, actor_from_user
from adapters.slack.client import api_error
from bot.core.clock import Clock
from bot.core.events import Event, ProfileSeen

log = logging.getLogger(__name__)


class Profiles:
    def __init__(self, client: AsyncWebClient, *, directory: SlackDirectory, clock: Clock) -> None:
        self.client = client
        self.directory = directory
        self.clock = clock
        self._looked_up: set[str] = set()

    async def __call__(self, user_id: str) -> list[Event]:
        """``[ProfileSeen]`` the first time a user is met, ``[]`` after (or when Slack cannot say)."""
        if user_id in self._looked_up or user_id in self.directory.users:
            return []
        try:
            resp = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            if api_error(exc) in ("user_not_found", "user_not_visible"):
                self._looked_up.add(user_id)  # asking again would not help
            log.warning("slack: users.info %s failed: %s", user_id, api_error(exc) or exc)
            return []
        except (TimeoutError, OSError) as exc:
            log.warning("slack: users.info %s failed: %s", user_id, exc)
            return []
        self._looked_up.add(user_id)
        user = resp.get("user")
        if not isinstance(user, Mapping):
            return []
        actor = actor_from_user(user)
        self.directory.users[user_id] = actor
        return [ProfileSeen(actor=actor, occurred_at=self.clock.now())]
