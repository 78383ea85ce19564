"""One domain error tree, so callers catch our meaning rather than a library's exception."""

from __future__ import annotations


class CohortbotError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigurationError(CohortbotError):
    """The configuration cannot work; start-up stops with this message."""


class StoreUnavailable(CohortbotError):
    """The database cannot be reached or opened; nothing was written."""


class ImportFailure(CohortbotError):
    """An archive cannot be read at all (missing, unreadable, wrong format)."""


class BadArgument(CohortbotError):
    """A command's argument cannot work (an unknown dimension, a value it does not take)."""


class UnknownMember(CohortbotError):
    """A member reference matched nobody."""


class SendError(CohortbotError):
    """Base for delivery failures that adapters raise at their boundary."""


class RateLimited(SendError):
    """The platform asked us to wait; the outbox reschedules after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TemporarySendError(SendError):
    """Worth retrying until the message's deadline."""


class PermanentSendError(SendError):
    """Retrying cannot help; the message goes to the dead-letter state with this reason."""


class RecipientUnreachable(PermanentSendError):
    """This person cannot be reached on this platform at all (Discord 50007, a hard bounce).

    Beyond dead-lettering the message, the account is marked undeliverable so nothing
    else is tried there. The text always starts with ``recipient unreachable``, which is
    what the dead-letter reason carries.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(f"recipient unreachable: {detail}")
