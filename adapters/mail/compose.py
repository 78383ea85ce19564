"""One outbox row as an RFC 5322 message: headers that make it a good list citizen, optional DKIM.

What must stay true:
- the Message-ID is ``<{idempotency_key}@{domain}>``: the same outbox row gives the same id
  on every attempt, which is what ``reconcile`` looks for and what lets clients drop a
  duplicate after a crash;
- programme and other bulk mail carries List-Id, List-Unsubscribe (https and mailto),
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), ``Auto-Submitted:
  auto-generated`` and ``Precedence: bulk``; answers to a member's own mail carry
  ``Auto-Submitted: auto-replied`` (RFC 3834) so other robots do not answer them;
- a header value built from member data (a display name, a subject) holding CR or LF is
  refused with ``PermanentSendError``: it would let the member write headers of their own;
- buttons travel as links in the body, as reply anchors in References and, where they share
  one short token, as a subject tag such as ``[inv:TOKEN]`` (see ``anchors``);
- with DKIM configured, the signature covers the unsubscribe headers, so a relay cannot
  swap the link.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import dkim  # type: ignore[import-untyped]

from adapters.mail.anchors import anchor_id, subject_tag
from adapters.mail.settings import MailSettings
from bot.core.errors import PermanentSendError
from bot.core.outbound import OutboundMessage

#: Headers the DKIM signature covers when present (RFC 8058 section 4 asks for the List-Unsubscribe pair).
SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version",
    "Content-Type", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted", "Precedence",
)
#: Extra headers an outbox row may carry; anything else is refused rather than silently sent.
ALLOWED_EXTRA = frozenset({"list-unsubscribe", "list-id", "reply-to", "x-cohortbot-programme"})
_CONTROL = re.compile(r"[\r\n\x00]")
# Folding at 78 would turn a long signed unsubscribe URL into RFC 2047 encoded words, which no
# client reads as a link; RFC 5322 allows lines up to 998 characters.
_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True, slots=True)
class Composed:
    """The bytes to hand to SMTP, and the ids the receipt reports."""

    data: bytes
    message_id: str  # with angle brackets
    recipient: str
    sender: str


def message_id_for(message: OutboundMessage, settings: MailSettings) -> str:
    """The deterministic Message-ID of an outbox row."""
    return f"<{message.idempotency_key}@{settings.domain}>"


def is_bulk(message: OutboundMessage) -> bool:
    """Programme mail and unsolicited template mail; an answer to the member's own mail is not bulk.

    Answers are rows with ``kind="reply"``, a ``reply_to_native``, or a template named
    ``…reply`` (the application's ``command_reply``); a row that carries its own
    List-Unsubscribe link is bulk whatever else it says.
    """
    if message.programme or any(name.lower() == "list-unsubscribe" for name in message.headers):
        return True
    if message.kind == "reply" or message.reply_to_native or message.template.lower().endswith("reply"):
        return False
    return bool(message.template)


def checked(value: str, what: str) -> str:
    """A header value from member or template data, refused when it could inject headers."""
    if _CONTROL.search(value):
        raise PermanentSendError(f"{what} contains a line break or NUL; refusing to build the header")
    return value


def compose(
    message: OutboundMessage, settings: MailSettings, *, now: datetime, dkim_key: bytes | None = None
) -> Composed:
    """Build (and with ``dkim_key`` sign) the mail for one outbox row."""
    to = message.to.email
    if not to:
        raise PermanentSendError("an e-mail needs Recipient.email")
    address = checked(to.strip(), "recipient address")
    if "@" not in address or " " in address:
        raise PermanentSendError(f"not an e-mail address: {address!r}")
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = Address(checked(settings.bot_name, "bot name"), addr_spec=settings.bot_address)
    try:
        mail["To"] = Address(checked(message.to.display_name, "display name"), addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise PermanentSendError(f"unusable recipient {address!r}: {exc}") from exc
    subject = checked(message.subject or "", "subject")
    tag = subject_tag((b.action, b.value) for b in message.buttons) if settings.subject_tags else None
    if tag is not None and tag not in subject:
        subject = f"{subject} {tag}".strip()
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now)
    mid = message_id_for(message, settings)
    mail["Message-ID"] = mid

    references: list[str] = []
    if message.reply_to_native:
        parent = "<" + checked(message.reply_to_native, "reply target").strip().strip("<>") + ">"
        mail["In-Reply-To"] = parent
        references.append(parent)
    for button in message.buttons:
        references.append(anchor_id(button.action, button.value, domain=settings.domain))
    if references:
        mail["References"] = " ".join(references)

    extra = _extra_headers(message.headers)
    if is_bulk(message):
        mail["List-Id"] = extra.pop("list-id", None) or f"{settings.bot_name} <{settings.list_id}>"
        mail["List-Unsubscribe"] = _unsubscribe(extra.pop("list-unsubscribe", None), settings)
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["Auto-Submitted"] = "auto-generated"
        mail["Precedence"] = "bulk"
    else:
        extra.pop("list-id", None)
        extra.pop("list-unsubscribe", None)
        mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"  # no out-of-office answers to the bot
    for name, value in extra.items():
        mail[name] = value

    text, markup = _with_links(message)
    mail.set_content(text)
    if markup is not None:
        mail.add_alternative(markup, subtype="html")

    data = mail.as_bytes()
    if dkim_key is not None:
        data = sign(data, settings, key=dkim_key)
    return Composed(data=data, message_id=mid, recipient=address, sender=settings.bot_address)


def sign(data: bytes, settings: MailSettings, *, key: bytes) -> bytes:
    """Prepend a DKIM-Signature covering the headers in SIGNED_HEADERS that the message has."""
    if settings.dkim_selector is None or settings.dkim_domain is None:
        raise PermanentSendError("DKIM key given without selector and domain")
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    head = b"\r\n" + head
    present = [name for name in (h.lower().encode() for h in SIGNED_HEADERS) if b"\r\n" + name + b":" in head]
    try:
        signature = dkim.sign(
            data, settings.dkim_selector.encode(), settings.dkim_domain.encode(), key,
            include_headers=present,
        )
    except dkim.DKIMException as exc:
        raise PermanentSendError(f"DKIM signing failed: {exc}") from exc
    return bytes(signature) + data


def _extra_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.strip().lower()
        if key not in ALLOWED_EXTRA:
            raise PermanentSendError(f"header {name!r} is not one an outbox row may set")
        out[key] = checked(str(value), f"header {name}")
    return out


def _unsubscribe(given: str | None, settings: MailSettings) -> str:
    """``<https…>, <mailto:…>``: the row's own signed link when it has one, else the configured base."""
    links = [part.strip().strip("<>") for part in given.split(",")] if given else [settings.unsubscribe_url]
    if settings.unsubscribe_mailto and not any(link.startswith("mailto:") for link in links):
        links.append(f"mailto:{settings.unsubscribe_mailto}?subject=optout%20all")
    if not any(link.startswith("https://") or link.startswith("http://") for link in links):
        raise PermanentSendError("List-Unsubscribe needs an https link for one-click unsubscribe")
    return ", ".join(f"<{checked(link, 'unsubscribe link')}>" for link in links if link)


def _with_links(message: OutboundMessage) -> tuple[str, str | None]:
    """Buttons as links (e-mail has no buttons), where the rendered body does not show them yet."""
    text, markup = message.text, message.html
    for button in message.buttons:
        if not button.url:
            continue
        if button.url not in text:
            text = f"{text.rstrip()}\n\n{button.label}: {button.url}\n"
        if markup is not None and html.escape(button.url) not in markup and button.url not in markup:
            link = f'<p><a href="{html.escape(button.url)}">{html.escape(button.label)}</a></p>'
            markup = markup.replace("</body>", link + "</body>") if "</body>" in markup else markup + link
    return text, markup
