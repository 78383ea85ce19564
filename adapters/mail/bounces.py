"""Delivery reports and complaints: who could not be reached, and who asked to hear no more.

Bounces are read by flufl.bounce, the detector set GNU Mailman uses (RFC 3464 DSNs plus
heuristics for ~15 MTAs). Where none of its detectors fires, two narrow patterns that
flufl.bounce 6 no longer matches (Exim's "The following address(es) failed:" block and the
"Delivery to the following recipients was aborted" DSN text) are tried, and only on mail
that already looks like a delivery report, so a member quoting such text is never read as
a bounce. A detector that cannot tell temporary from permanent reports permanent, as
flufl.bounce documents.

Complaints are ARF reports (RFC 5965, ``multipart/report; report-type=feedback-report``):
the complaining recipient is ``Original-Rcpt-To`` (else ``Removal-Recipient``, else the
reported message's ``To``). A complaint is treated as an unsubscribe.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ROBOT_SENDERS = ("mailer-daemon", "postmaster", "mail delivery", "mailer_daemon")
_BOUNCE_SUBJECTS = re.compile(
    r"(?:delivery (?:status )?notification|undeliver|returned mail|delivery fail|mail delivery|"
    r"failure notice|user unknown|could not be delivered|delivery has failed|non.?delivery)",
    re.IGNORECASE,
)
# Phrases that introduce a block of failed addresses (Exim, MDaemon-style and AV gateways).
_BLOCK_MARKERS = re.compile(
    r"(?:following address(?:es|\(es\)) failed|"
    r"del[ie]very to the following recipients (?:was aborted|failed)|"
    r"could not be delivered to the following recipients)",
    re.IGNORECASE,
)
_BLOCK_END = re.compile(r"^\s*(?:smtp error|-{3,}|={3,}|please|technical|this is a copy)", re.IGNORECASE)
_NO_SUCH_USER = re.compile(r"^\s*<?(\S+@\S+?)>?\s+-\s+no such user", re.IGNORECASE | re.MULTILINE)
_STILL_TRYING = re.compile(
    r"(?:attempts will continue|will continue to be made|will be retried)", re.IGNORECASE
)
_BLOCK_LINES = 8


@dataclass(frozen=True, slots=True)
class Bounce:
    """The recipients a delivery report names, lower-cased."""

    permanent: frozenset[str]
    temporary: frozenset[str]


def looks_like_report(msg: Message, *, by_subject: bool = True) -> bool:
    """A delivery report by its shape: a DSN type, a daemon sender, or (``by_subject``) a failure subject."""
    if msg.get_content_type() == "multipart/report":
        return True
    sender = " ".join(str(msg.get(h, "")) for h in ("From", "Sender")).lower()
    if any(robot in sender for robot in _ROBOT_SENDERS):
        return True
    return by_subject and bool(_BOUNCE_SUBJECTS.search(_decoded(msg.get("Subject"))))


def _decoded(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # undecodable encoded words: match on the raw text
        return str(value)


def scan_bounce(msg: Message, *, by_subject: bool = True) -> Bounce | None:
    """The failing recipients of a delivery report, or None when the mail is not one.

    ``by_subject=False`` for mail that came through a list: there only the content type or a
    daemon sender make it a report, so a member's post titled "Mail delivery failed" is a post.
    """
    if is_complaint(msg) or not looks_like_report(msg, by_subject=by_subject):
        return None
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on hostile MIME must not stop the reader
        log.warning("bounce detectors failed on %s", msg.get("Message-ID"), exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    temp = {_text(a) for a in temporary}
    perm = {_text(a) for a in permanent}
    if not temp and not perm:
        found, still_trying = _fallback(msg)
        (temp if still_trying else perm).update(found)
    return Bounce(permanent=frozenset(a for a in perm if a), temporary=frozenset(a for a in temp if a) - perm)


def _text(address: bytes | str) -> str:
    raw = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return raw.strip().strip("<>").lower()


def _fallback(msg: Message) -> tuple[set[str], bool]:
    """Addresses from the narrow text patterns, and whether the report says it keeps trying."""
    body = _first_text(msg)
    found: set[str] = set()
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if _BLOCK_MARKERS.search(line):
            start = i + 1
        elif i + 1 < len(lines) and _BLOCK_MARKERS.search(f"{line} {lines[i + 1].strip()}"):
            start = i + 2  # the phrase is wrapped over two lines
        else:
            continue
        for following in lines[start : start + _BLOCK_LINES]:
            if _BLOCK_END.match(following):
                break
            found.update(a.lower() for a in _ADDRESS.findall(following))
    found.update(a.lower() for a in _NO_SUCH_USER.findall(body))
    return found, bool(_STILL_TRYING.search(body))


def _first_text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "latin-1", "replace")
    return ""


def is_complaint(msg: Message) -> bool:
    """An ARF feedback report (abuse complaint)."""
    return msg.get_content_type() == "multipart/report" and (
        str(msg.get_param("report-type", "") or "").lower() == "feedback-report"
    )


def complaint_addresses(msg: Message) -> tuple[str, ...]:
    """Who complained, from an ARF report; empty when the report names nobody usable."""
    if not is_complaint(msg):
        return ()
    report: Message | None = None
    original: Message | None = None
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report" and report is None:
            report = _inner(part)
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _inner(part)
    found: list[str] = []
    if report is not None:
        for header in ("Original-Rcpt-To", "Removal-Recipient"):
            found.extend(_addresses(report.get_all(header, [])))
            if found:
                break
    if not found and original is not None:
        found.extend(_addresses(original.get_all("To", [])))
    return tuple(dict.fromkeys(found))


def _inner(part: Message) -> Message | None:
    """The fields of a message/* part (the email package parses them as a sub-message)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        from email import message_from_string

        return message_from_string(payload)
    return None


def _addresses(values: list[str]) -> list[str]:
    out = []
    for _, address in getaddresses([str(v) for v in values]):
        address = address.strip().lower()
        if _ADDRESS.fullmatch(address):
            out.append(address)
    return out
