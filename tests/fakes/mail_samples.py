"""Settings and messages shared by the mail adapter's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.mail.settings import MailSettings
from bot.core.outbound import Button, OutboundMessage, Recipient

BOT = "bot@example.org"
OUR_LIST_ID = "cohortbot.example.org"
COMMUNITY_LIST_ID = "dev.lists.example.org"
DATE = "Tue, 03 Nov 2026 10:00:00 +0100"


def settings(**overrides: Any) -> MailSettings:
    values: dict[str, Any] = {
        "imap_host": "127.0.0.1",
        "imap_port": 993,
        "imap_user": BOT,
        "smtp_host": "127.0.0.1",
        "smtp_port": 25,
        "smtp_tls": "none",
        "bot_address": BOT,
        "bot_name": "Example Community",
        "list_id": OUR_LIST_ID,
        "unsubscribe_url": "https://bot.example.org/u",
        "unsubscribe_mailto": "unsubscribe@example.org",
        "max_auto_replies_per_day": 3,
    }
    values.update(overrides)
    return MailSettings(**values)


def mail(
    *headers: str,
    body: str = "Hello list.\n",
    sender: str = "Jane Doe <jane@example.org>",
    to: str = BOT,
    msgid: str = "<m1@example.org>",
    subject: str = "Hello",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Date: {DATE}", f"Message-ID: {msgid}", f"Subject: {subject}"]
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def list_post(msgid: str = "<post1@example.org>", body: str = "How do I rebuild my array?\n") -> bytes:
    return mail(
        f"List-Id: Developers <{COMMUNITY_LIST_ID}>",
        "List-Post: <mailto:dev@lists.example.org>",
        sender="Ada Lovelace <ada@example.com>",
        to="dev@lists.example.org",
        msgid=msgid,
        subject="[dev] rebuilding an array",
        body=body,
    )


def invitation(**overrides: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "outbox_id": 7,
        "dedupe_key": "invite:mentoring:42",
        "platform": "mail",
        "kind": "email",
        "to": Recipient(email="ada@example.com", display_name="Ada Lovelace"),
        "text": "Would you like to join the mentoring programme?\n",
        "template": "invitation",
        "programme": "mentoring",
        "subject": "An invitation to the mentoring programme",
        "html": "<html><body><p>Would you like to join?</p></body></html>",
        "buttons": (
            Button(
                "accept", "tok-accept-42", "Yes, count me in", url="https://bot.example.org/i/tok-accept-42"
            ),
            Button("decline", "tok-decline-42", "No, thanks", url="https://bot.example.org/i/tok-decline-42"),
        ),
        "headers": {"List-Unsubscribe": "https://bot.example.org/u/signed-token-42"},
    }
    values.update(overrides)
    return OutboundMessage(**values)


def shared_file(shared_data: Path, *parts: str) -> bytes:
    return shared_data.joinpath(*parts).read_bytes()
