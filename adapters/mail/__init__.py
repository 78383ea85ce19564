"""The mailing-list adapter: reads lists and the bot's own address over IMAP, sends over SMTP.

``MailAdapter`` (adapter.py) implements ``adapters.base.LiveAdapter``; ``MailSettings``
(settings.py) is the ``[adapters.mail]`` configuration. See docs/mail.md.
"""

from adapters.mail.adapter import MailAdapter, MemoryReplyCounter, ReplyCounter
from adapters.mail.inbound import BOUNCE_ACTION, COMPLAINT_ACTION
from adapters.mail.reader import CursorGet, CursorSet
from adapters.mail.settings import MailSettings

__all__ = [
    "BOUNCE_ACTION",
    "COMPLAINT_ACTION",
    "CursorGet",
    "CursorSet",
    "MailAdapter",
    "MailSettings",
    "MemoryReplyCounter",
    "ReplyCounter",
]
