"""One raw RFC 822 message in, one kernel ``MessagePosted`` (or a reasoned ``Skip``) out.

Pure and source-agnostic: the mbox importer and the live IMAP adapter both call
:func:`parse_message`. It never raises on malformed input; anything that cannot become a
message comes back as :class:`Skip` with a short reason the import summary counts.

Identity rules that matter downstream:
- the actor is the lower-cased address; a list that rewrote ``From:`` for DMARC
  (``Jane Doe via Some-List <list@host>``) gives the message back to the person named in
  ``Reply-To`` (or ``X-Original-From``, or ``Cc``);
- the uid is derived from the Message-ID, so the same message from two archives, or
  from an archive and the live mailbox, is stored once; a message without one gets a
  content uid (sender, date, subject, body hash) so a re-import is still a no-op;
- bots are flagged on clear signals only (Auto-Submitted, robot local parts, a short list
  of well-known robot names), never on wording.

Where and when: the place is the list the message names (List-Id, else List-Post, else
X-Mailing-List), else the caller's ``list_hint``, else the To address's domain, else
``mail:unknown``. The time is the Date header (its offset kept as a location hint), else
the first Received stamp, else the caller's fallback (an mbox From_ line, an IMAP
INTERNALDATE); with none of them the message is skipped as "no usable Date". ``reply_to``
is In-Reply-To (else the last References id); ``thread`` is the first References id, else
the message replied to, else the message itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from adapters.imports.mail_body import extract_body
from adapters.imports.mail_headers import (
    header_fields,
    header_text,
    header_value,
    message_id,
    message_ids,
    parse_asctime,
    parse_date,
    parse_mailbox,
    parse_mailboxes,
    received_date,
    split_head,
)
from adapters.imports.mail_text import split_parts
from bot.core.events import ActorRef, MessagePosted, MessageText, PlaceRef, content_uid, event_uid

PLATFORM = "mail"
UNKNOWN_PLACE = "mail:unknown"
# The store keeps 8,000 characters of own words and 1,000 of signature; a pasted 2 MB log
# need not travel between processes or sit in batches only to be cut there.
MAX_OWN_CHARS = 16_000
MAX_SIGNATURE_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a record did not become a message (a short phrase the import summary counts)."""

    reason: str


ParseResult = MessagePosted | Skip

# --- bots: a small, explicit list of clear signals -----------------------------------------
# Local parts (split on - _ . +) that only machines use.
_BOT_LOCAL_WORDS = frozenset(
    {"noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster", "bounce",
     "bounces", "bot", "robot", "syzbot", "patchwork", "autobuild", "jenkins", "buildbot"}
)
_LOCAL_SPLIT = re.compile(r"[._+=]")
# Display names of well-known robots on developer lists.
_BOT_NAMES = re.compile(
    r"\b(?:kernel test robot|test robot|syzbot|patchwork(?:-bot)?|build ?bot|ci ?bot|mailer-daemon|"
    r"mail delivery (?:subsystem|system)|robot)\b",
    re.IGNORECASE,
)
_MBOXRD = re.compile(r"(?m)^>(>*From )")
# "Jane Doe via Some-List", "'Jane' via list", "Jane Doe via groups.io"
_VIA = re.compile(r"^\s*['\"]?(.+?)['\"]?\s+via\s+\S.*$", re.IGNORECASE)


@lru_cache(maxsize=8192)
def is_bot_sender(address: str, name: str, auto_submitted: str) -> bool:
    """True on clear machine signals only: Auto-Submitted, robot addresses, well-known robot names."""
    auto = auto_submitted.strip().lower()
    if auto and not auto.startswith("no"):
        return True
    local = address.partition("@")[0].lower()
    if local in _BOT_LOCAL_WORDS or local.startswith(("owner-", "bounce-", "noreply", "no-reply")):
        return True
    if any(word in _BOT_LOCAL_WORDS for word in _LOCAL_SPLIT.split(local)):
        return True
    if any(word in _BOT_LOCAL_WORDS for word in local.split("-")):
        return True
    return bool(name) and _BOT_NAMES.search(name) is not None


def _dmarc_owner(name: str, address: str, head: bytes) -> tuple[str, str] | None:
    """The person behind a ``X via List <list@host>`` From line, when the message names them."""
    m = _VIA.match(name)
    if not m:
        return None
    person = m.group(1).strip().strip("'\"")
    list_address = address.lower()
    for key in (b"reply-to", b"x-original-from", b"cc"):
        value = header_value(head, key)
        if not value:
            continue
        candidates = [(n, a) for n, a in parse_mailboxes(header_text(value)) if a.lower() != list_address]
        if not candidates:
            continue
        for cand_name, cand_address in candidates:
            if cand_name and cand_name.lower() == person.lower():
                return person, cand_address
        if key != b"cc":  # in Cc only a matching name is evidence enough
            return person, candidates[0][1]
    return None


Where = tuple[str, str, str | None]  # (channel id, name, container)


@lru_cache(maxsize=1024)
def _list_place(list_id: bytes | None, list_post: bytes | None, mailing_list: bytes | None) -> Where | None:
    """The list a message names in its own headers (List-Id, else List-Post, else X-Mailing-List)."""
    if list_id:
        text = header_text(list_id)
        ids = message_ids(text)
        ident = (ids[-1] if ids else text.strip()).lower()
        if ident:
            phrase = text[: text.rfind("<")].strip().strip("\"'") if ids else ""
            name, _, host = ident.partition(".")
            return (ident, phrase or name, host or None)
    for value in (list_post, mailing_list):
        if value:
            _, address = parse_mailbox(header_text(value))
            if "@" in address:
                local, _, host = address.lower().partition("@")
                return (f"{local}.{host}", local, host)
    return None


def _place(fields: dict[bytes, bytes], head: bytes, list_hint: str | None) -> Where:
    named = _list_place(fields.get(b"list-id"), fields.get(b"list-post"), fields.get(b"x-mailing-list"))
    if named is not None:
        return named
    if list_hint:
        return (list_hint, list_hint, None)
    to = header_value(head, b"to")
    if to:
        _, address = parse_mailbox(header_text(to))
        host = address.rpartition("@")[2].lower()
        if host and "@" in address:
            return (host, host, host)
    return (UNKNOWN_PLACE, "unknown", None)


def _occurred(
    fields: dict[bytes, bytes], head: bytes, fallback: datetime | None, envelope: bytes
) -> tuple[datetime, int | None] | None:
    parsed = parse_date(header_text(fields.get(b"date")))
    if parsed is not None:
        return parsed
    received = header_value(head, b"received")
    if received:
        at = received_date(header_text(received))
        if at is not None:
            return at, None
    if fallback is None and envelope:
        fallback = parse_asctime(envelope.decode("latin-1"))
    return (fallback, None) if fallback is not None else None


@lru_cache(maxsize=16384)
def _uid_of(native_id: str) -> str:
    """Uids of referenced messages; a thread's root is named by every message in it."""
    return event_uid(PLATFORM, native_id)


def _first_id(value: bytes | None) -> str | None:
    """The Message-ID an In-Reply-To names; free text such as "Jane's message of Monday" is none."""
    if not value:
        return None
    text = header_text(value)
    ids = message_ids(text)
    if ids:
        return ids[0]
    bare = text.strip()
    return bare if "@" in bare and " " not in bare else None


#: A parsed message as plain values: (uid, (address, name, is_bot), (channel, place name,
#: container), UTC timestamp, (own, signature, quoted, patch, attachments), native id,
#: subject, reply_to uid, thread uid, tz offset). Parser processes send these, because
#: unpickling frozen slotted dataclasses runs Python code per field in the writer process.
MessageRow = tuple[
    str, tuple[str, str, bool], tuple[str, str, str | None], float, tuple[str, str, int, int, int],
    str, str | None, str | None, str, int | None,
]


class RowDecoder:
    """Builds events from rows, sharing one ActorRef/PlaceRef per distinct value."""

    def __init__(self) -> None:
        self._actors: dict[tuple[str, str, bool], ActorRef] = {}
        self._places: dict[tuple[str, str, str | None], PlaceRef] = {}

    def __call__(self, row: MessageRow) -> MessagePosted:
        uid, who, where, ts, text, native_id, subject, reply_to, thread, tz = row
        actor = self._actors.get(who)
        if actor is None:
            address, name, bot = who
            actor = self._actors[who] = ActorRef(
                PLATFORM, address, display_name=name, email=address if "@" in address else None, is_bot=bot
            )
        place = self._places.get(where)
        if place is None:
            place = self._places[where] = PlaceRef(PLATFORM, where[0], where[1], container=where[2])
        return MessagePosted(
            uid=uid, actor=actor, place=place, occurred_at=datetime.fromtimestamp(ts, UTC),
            text=MessageText(*text), native_id=native_id, subject=subject, reply_to=reply_to,
            thread=thread, tz_offset_minutes=tz,
        )


def parse_message(
    raw: bytes,
    *,
    list_hint: str | None = None,
    fallback_date: datetime | None = None,
    envelope: bytes = b"",
) -> ParseResult:
    """Translate one raw message.

    ``list_hint`` names the place when the message itself names no list (no List-Id,
    List-Post or X-Mailing-List). When neither Date nor Received gives a usable time,
    ``fallback_date`` (an IMAP INTERNALDATE) or else the date of ``envelope`` is used.
    ``envelope`` is the mbox From_ line the message came with; it also says the body is
    mboxrd-quoted, so ``>From `` lines in the text lose one ``>``.
    """
    row = parse_row(raw, list_hint=list_hint, fallback_date=fallback_date, envelope=envelope)
    return row if isinstance(row, Skip) else RowDecoder()(row)


def parse_row(
    raw: bytes,
    *,
    list_hint: str | None = None,
    fallback_date: datetime | None = None,
    envelope: bytes = b"",
) -> MessageRow | Skip:
    """:func:`parse_message` as a :data:`MessageRow`, for callers that move results between processes."""
    try:
        return _parse(raw, list_hint, fallback_date, envelope)
    except Exception as exc:  # a last line of defence: one hostile message must not stop an import
        return Skip(f"unreadable message ({exc.__class__.__name__})")


def _parse(
    raw: bytes, list_hint: str | None, fallback_date: datetime | None, envelope: bytes
) -> MessageRow | Skip:
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    head, body = split_head(raw)
    if not head:
        return Skip("not a message")
    fields = header_fields(head)
    name, address = parse_mailbox(header_text(fields.get(b"from")))
    if "@" not in address:
        for key in (b"sender", b"x-original-from"):
            alt_name, alt_address = parse_mailbox(header_text(header_value(head, key)))
            if "@" in alt_address:
                name, address = name or alt_name, alt_address
                break
    if not address:
        return Skip("no From address")
    owner = _dmarc_owner(name, address, head) if " via " in name.lower() else None
    if owner is not None:
        name, address = owner
    address = address.lower()
    when = _occurred(fields, head, fallback_date, envelope)
    if when is None:
        return Skip("no usable Date")
    occurred_at, tz_offset = when

    content = extract_body(fields, body, raw)
    words = content.text
    if "\x00" in words:
        words = words.replace("\x00", "")
    if envelope and ">From " in words:
        words = _MBOXRD.sub(r"\1", words)
    if words:
        own, signature, quoted, patch, attachments = split_parts(words, attachments=content.attachments)
        text = (own[:MAX_OWN_CHARS], signature[:MAX_SIGNATURE_CHARS], quoted, patch, attachments)
    else:
        text = ("", "", 0, 0, content.attachments)
    subject = header_text(fields.get(b"subject")) or None

    native = message_id(header_text(fields.get(b"message-id")))
    if native:
        uid = event_uid(PLATFORM, native)
    else:
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        uid = content_uid(
            PLATFORM, channel="", author=address, occurred_at=occurred_at, text=f"{subject or ''}\x00{digest}"
        )
    references = message_ids(header_text(fields.get(b"references")))
    parent = _first_id(fields.get(b"in-reply-to"))
    if parent is None and references:
        parent = references[-1]
    root = references[0] if references else parent
    bot = is_bot_sender(address, name, header_text(fields.get(b"auto-submitted")))
    return (
        uid,
        (address, name, bot),
        _place(fields, head, list_hint),
        occurred_at.timestamp(),
        text,
        native or "",
        subject,
        _uid_of(parent) if parent else None,
        _uid_of(root) if root else uid,
        tz_offset,
    )
