"""The Slack adapter: listen to a workspace, send DMs and posts, take the ``/cohort`` command."""

from adapters.slack.adapter import CAPABILITIES, SlackAdapter
from adapters.slack.settings import SlackSecrets, SlackSettings

__all__ = ["CAPABILITIES", "SlackAdapter", "SlackSecrets", "SlackSettings"]
