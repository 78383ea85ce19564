"""What one mail in the bot's mailboxes means: a list post, a command, an answer, a bounce, or nothing.

Pure: raw bytes and the settings in, kernel events out, with a short reason for the log.
List posts go through ``adapters.imports.mail_parse.parse_message`` exactly as ``import
mbox`` does, so the live reader and an archive import of the same message give the same
event uid (from its Message-ID) and the store keeps it once.

The order of the checks matters and is the table below:

1. our own List-Id                  -> nothing (our bulk mail came back)
2. an ARF complaint                 -> ActionClicked(action="complaint", value=address) each
3. a delivery report               -> ActionClicked(action="bounce-permanent", value=address)
                                       for permanent failures; temporary ones are only logged
                                       (through a list, only a DSN type or a daemon sender
                                       makes a report: members quote bounces in posts)
4. a list post (List-Id/List-Post)  -> MessagePosted; notices from the list software's own
                                       addresses (dev-request@, dev-owner@, …) -> nothing
5. mail to the bot, unless a loop signal says an answer could start a mail loop
   (Auto-Submitted other than "no", Precedence bulk/junk/list, an empty Return-Path,
   auto-responder headers, a robot sender, our own address):
   - a reply naming a button's anchor in References, or else a subject tag (see ``anchors``),
     whose first word fits one of its actions -> ActionClicked(action, token), or
     CommandInvoked("confirm", (token,))
   - a command in the subject or the first line -> CommandInvoked(verified=False); the
     command core runs a manager's ``admin ...`` only for configured addresses and only
     after the one-time ``confirm TOKEN`` reply, because ``From:`` can be forged
   - anything else -> MessagePosted in the place ("mail", bot address, name "bot"): a private
     message, like a Discord DM

Events of step 5 are the ones the bot may answer by mail; ``Inbound.answerable`` names the
sender so the reader can cap automatic replies per sender per day.
"""

from __future__ import annotations

import dataclasses
import email
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import Message

from adapters.imports.mail_parse import Skip, parse_message
from adapters.mail.anchors import read_anchors, read_subject_tag
from adapters.mail.bounces import complaint_addresses, scan_bounce
from adapters.mail.settings import MailSettings
from bot.core.events import ActionClicked, ActorRef, CommandInvoked, Event, MessagePosted, PlaceRef, event_uid

PLATFORM = "mail"
BOUNCE_ACTION = "bounce-permanent"
COMPLAINT_ACTION = "complaint"

_IDS = re.compile(r"<([^<>\s]+)>")
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|sv|antw|vs|r)\s*(?:\[\d+\])?\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE
)
_WORD = re.compile(r"[\w-]+", re.UNICODE)
# The list software's own senders: Mailman's dev-request@/dev-owner@/dev-bounces@…, groups.io's
# main+owner@…, and the generic mailman@ / listmaster@ addresses.
_LIST_ROBOT = re.compile(
    r"(?:[-+](?:request|owner|owners|admin|bounces?|confirm|join|leave|subscribe|unsubscribe|help)(?:\+.*)?"
    r"|^(?:mailman|listmaster|majordomo|listserv|sympa))$",
    re.IGNORECASE,
)

#: A reply's first word -> the button actions it can mean, in order of preference.
_ANSWERS: dict[str, tuple[str, ...]] = {
    "yes": ("accept", "solved", "confirm"),
    "y": ("accept", "solved", "confirm"),
    "ok": ("accept", "confirm", "solved"),
    "accept": ("accept",),
    "join": ("accept",),
    "no": ("decline", "not-solved"),
    "n": ("decline", "not-solved"),
    "decline": ("decline",),
    "solved": ("solved",),
    "fixed": ("solved",),
    "unsolved": ("not-solved",),
    "not": ("not-solved",),  # "not solved"
    "confirm": ("confirm",),
}


@dataclass(frozen=True, slots=True)
class Inbound:
    """The events one mail gives, why, and whose automatic-reply budget they draw on."""

    events: tuple[Event, ...]
    reason: str
    answerable: str | None = None  # the sender's address when the events may be answered by mail


def classify(raw: bytes, settings: MailSettings, *, received_at: datetime) -> Inbound:
    """Translate one raw mail; ``received_at`` (IMAP INTERNALDATE) stands in for a missing Date."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    list_id = _list_id(msg)
    if list_id == settings.list_id:
        return Inbound((), "our own list mail")
    mid = _message_id(msg) or hashlib.blake2b(raw, digest_size=12).hexdigest()
    complainers = complaint_addresses(msg)
    if complainers:
        return Inbound(_system_clicks(COMPLAINT_ACTION, complainers, mid, received_at, settings), "complaint")
    bounce = scan_bounce(msg, by_subject=list_id is None)
    if bounce is not None:
        reason = f"bounce: {len(bounce.permanent)} permanent, {len(bounce.temporary)} temporary"
        events = _system_clicks(BOUNCE_ACTION, sorted(bounce.permanent), mid, received_at, settings)
        return Inbound(events, reason)
    parsed = parse_message(raw, fallback_date=received_at)
    if isinstance(parsed, Skip):
        return Inbound((), f"unreadable: {parsed.reason}")
    if list_id is not None or msg.get("List-Post") or msg.get("X-Mailing-List"):
        if _LIST_ROBOT.search(parsed.actor.external_id.partition("@")[0]):
            # Welcome, confirmation and moderation notices come from the list's own addresses;
            # they are not anybody's activity (subscription requests need a human: see the log).
            return Inbound((), f"list notice from {parsed.actor.external_id}: {parsed.subject or ''}")
        return Inbound((parsed,), "list post")
    loop = loop_reason(msg, settings, parsed)
    if loop is not None:
        return Inbound((), f"not answered: {loop}")
    return _to_bot(msg, parsed, settings)


def loop_reason(msg: Message, settings: MailSettings, parsed: MessagePosted | None = None) -> str | None:
    """Why answering this mail could start a mail loop (RFC 3834), or None when it is safe."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    return_path = msg.get_all("Return-Path", [])
    if return_path and all(str(v).strip() in ("<>", "") for v in return_path):
        return "empty Return-Path"
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply")):
        return "auto-responder header"
    suppress = str(msg.get("X-Auto-Response-Suppress", "")).lower()
    if "all" in suppress or "autoreply" in suppress:
        return "X-Auto-Response-Suppress"
    if _list_id(msg) == settings.list_id:
        return "our own List-Id"
    if parsed is not None:
        if parsed.actor.external_id == settings.bot_address:
            return "from the bot itself"
        if parsed.actor.is_bot:
            return "robot sender"
    return None


def _to_bot(msg: Message, parsed: MessagePosted, settings: MailSettings) -> Inbound:
    sender = parsed.actor.external_id
    place = PlaceRef(PLATFORM, settings.bot_address, "bot")
    native = parsed.native_id or parsed.uid
    subject = _REPLY_PREFIX.sub("", parsed.subject or "").strip()
    first_line = next((line.strip() for line in parsed.text.own.splitlines() if line.strip()), "")

    anchors = read_anchors(_referenced(msg), domain=settings.domain) or read_subject_tag(parsed.subject or "")
    if anchors:
        answer = _answer(first_line, anchors) or _answer(subject, anchors)
        if answer is not None:
            action, value = answer
            if action == "confirm":
                event: Event = CommandInvoked(
                    uid=event_uid(PLATFORM, f"confirm:{native}"), actor=parsed.actor, place=place,
                    occurred_at=parsed.occurred_at, command="confirm", args=(value,), verified=False,
                )
            else:
                event = ActionClicked(
                    uid=event_uid(PLATFORM, f"click:{native}"), actor=parsed.actor,
                    occurred_at=parsed.occurred_at, action=action, value=value, place=place,
                )
            return Inbound((event,), f"answer {action}", answerable=sender)

    for line in (first_line, subject):  # a reply inherits its subject; what they typed comes first
        command, _, rest = line.strip().partition(" ")
        command = command.strip(".,:;!?").lower()
        if not command or command not in settings.commands:
            continue
        rest = rest.strip()
        # The rest of the line travels as one string: the command core splits it like a
        # shell, so a quoted "Ada Lovelace" stays one argument.
        invoked = CommandInvoked(
            uid=event_uid(PLATFORM, f"command:{native}"), actor=parsed.actor, place=place,
            occurred_at=parsed.occurred_at, command=command, args=(rest,) if rest else (), verified=False,
        )
        return Inbound((invoked,), f"command {command}", answerable=sender)
    # Anything else written to the bot alone is a private message, as a Discord DM is: the
    # "did it solve it?" loop reads a short "yes, thanks" in it (see messages/hero).
    return Inbound((dataclasses.replace(parsed, place=place),), "private mail to the bot")


def _answer(line: str, anchors: list[tuple[str, str]]) -> tuple[str, str] | None:
    match = _WORD.search(line.lower())
    if match is None:
        return None
    wanted = _ANSWERS.get(match.group(0), ())
    for action in wanted:
        for anchor_action, value in anchors:
            if anchor_action == action:
                return action, value
    return None


def _system_clicks(
    action: str, addresses: list[str] | tuple[str, ...], mid: str, at: datetime, settings: MailSettings
) -> tuple[Event, ...]:
    """Bounces and complaints as clicks on the member's behalf: the pipeline marks or opts out."""
    place = PlaceRef(PLATFORM, settings.bot_address, "bot")
    return tuple(
        ActionClicked(
            uid=event_uid(PLATFORM, f"{action}:{mid}:{address}"),
            actor=ActorRef(PLATFORM, address, email=address),
            occurred_at=at, action=action, value=address, place=place,
        )
        for address in addresses
    )


def _list_id(msg: Message) -> str | None:
    value = msg.get("List-Id")
    if value is None:
        return None
    text = str(value)
    ids = _IDS.findall(text)
    ident = (ids[-1] if ids else text).strip().lower()
    return ident or None


def _message_id(msg: Message) -> str:
    ids = _IDS.findall(str(msg.get("Message-ID", "")))
    return ids[0] if ids else ""


def _referenced(msg: Message) -> list[str]:
    out: list[str] = []
    for header in ("In-Reply-To", "References"):
        for value in msg.get_all(header, []):
            out.extend(_IDS.findall(str(value)))
    return out
