"""One raw message in, one MessagePosted (or a Skip) out: identity, place, time, threading, text split."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.imports.charsets import decode_bytes
from adapters.imports.mail_headers import decode_words, parse_date, parse_mailbox
from adapters.imports.mail_parse import UNKNOWN_PLACE, Skip, is_bot_sender, parse_message
from adapters.imports.mail_text import split_text
from bot.core.events import MessagePosted, content_uid, event_uid

DATE = "Mon, 29 Apr 2019 08:47:02 +1000"


def mail(
    *headers: str,
    body: str | bytes = "Hello list.\n",
    date: str | None = DATE,
    msgid: str | None = "<m1@example.org>",
    sender: str | None = "Jane Doe <jane@example.org>",
) -> bytes:
    """A message from header lines; the usual ones are filled in unless given as None."""
    lines = []
    if sender is not None:
        lines.append(f"From: {sender}")
    if date is not None:
        lines.append(f"Date: {date}")
    if msgid is not None:
        lines.append(f"Message-ID: {msgid}")
    lines.extend(headers)
    head = "\n".join(lines).encode("utf-8")
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    return head + b"\n\n" + data


def posted(raw: bytes, **kwargs: object) -> MessagePosted:
    result = parse_message(raw, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, MessagePosted), result
    return result


# --- identity ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("from_header", "extra", "address", "name"),
    [
        # DMARC rewrites: the list's address in From, the person in Reply-To.
        ("Jane Doe via Some-List <list@lists.example.org>", ["Reply-To: Jane Doe <Jane@Example.org>"],
         "jane@example.org", "Jane Doe"),
        ("'Jane' via devs <devs@googlegroups.com>", ["Reply-To: jane@example.org"],
         "jane@example.org", "Jane"),
        ('"Jane Doe via Some-List" <list@lists.example.org>',
         ["Reply-To: Some-List <list@lists.example.org>, Jane Doe <jane@example.org>"],
         "jane@example.org", "Jane Doe"),
        ("Jane Doe via groups.io <noreply@groups.io>", ["X-Original-From: Jane Doe <jane@example.org>"],
         "jane@example.org", "Jane Doe"),
        ("Jane Doe via Some-List <list@lists.example.org>",
         ["Cc: Jane Doe <jane@example.org>, bob@example.net"],
         "jane@example.org", "Jane Doe"),
        # Nobody else named: the list address stays (nothing better is known).
        ("Jane Doe via Some-List <list@lists.example.org>", [], "list@lists.example.org",
         "Jane Doe via Some-List"),
        # A reply-to-list header on an ordinary message changes nothing.
        ("Bob <Bob@Example.NET>", ["Reply-To: list@lists.example.org"], "bob@example.net", "Bob"),
        # Pipermail's obfuscated addresses, comments as names, encoded names with commas.
        ("goran at domain.com (=?ISO-8859-1?Q?G=F6ran_Lastname?=)", [], "goran@domain.com", "Göran Lastname"),
        ("=?utf-8?q?Doe=2C_John?= <john@example.org>", [], "john@example.org", "Doe, John"),
        # A display name that is an address is a spoof: the real address wins, the name goes.
        ("alice@example.com <bob@example.com>", [], "bob@example.com", ""),
    ],
)
def test_actor(from_header: str, extra: list[str], address: str, name: str) -> None:
    ev = posted(mail(*extra, sender=from_header))
    assert ev.actor.platform == "mail"
    assert ev.actor.external_id == address
    assert ev.actor.email == address
    assert ev.actor.display_name == name


@pytest.mark.parametrize(
    ("address", "name", "auto", "bot"),
    [
        ("jane@example.org", "Jane Doe", "", False),
        ("jane@example.org", "Jane Doe", "no", False),
        ("jane@example.org", "Jane Doe", "auto-replied", True),
        ("lkp@intel.com", "kernel test robot", "", True),
        ("syzbot+3f1c@syzkaller.appspotmail.com", "syzbot", "", True),
        ("patchwork-bot+netdevbpf@kernel.org", "patchwork-bot+netdevbpf@kernel.org", "", True),
        ("noreply@github.com", "GitHub", "", True),
        ("no-reply@example.org", "", "", True),
        ("MAILER-DAEMON@mx.example.org", "Mail Delivery System", "", True),
        ("postmaster@example.org", "", "", True),
        ("list-bounces@lists.example.org", "", "", True),
        ("ci.bot@example.org", "", "", True),
        ("abbott@example.org", "Bud Abbott", "", False),  # "bot" inside a word is not a robot
        ("robotics-team@example.org", "Robotics Team", "", False),
    ],
)
def test_bot_signals(address: str, name: str, auto: str, bot: bool) -> None:
    assert is_bot_sender(address, name, auto) is bot


def test_bot_flag_reaches_the_actor() -> None:
    ev = posted(mail("Auto-Submitted: auto-generated", sender="Build Farm <farm@example.org>"))
    assert ev.actor.is_bot


# --- place --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("headers", "hint", "channel", "name"),
    [
        (["List-Id: Linux RAID <Linux-RAID.vger.kernel.org>"], None,
         "linux-raid.vger.kernel.org", "Linux RAID"),
        (["List-ID: <linux-raid.vger.kernel.org>"], None, "linux-raid.vger.kernel.org", "linux-raid"),
        (["List-Post: <mailto:desktop-devel-list@gnome.org>"], None, "desktop-devel-list.gnome.org",
         "desktop-devel-list"),
        (["X-Mailing-List: linux-raid@vger.kernel.org"], None, "linux-raid.vger.kernel.org", "linux-raid"),
        (["To: someone@lists.example.org"], "metrics", "metrics", "metrics"),
        (["To: Some One <someone@lists.example.org>"], None, "lists.example.org", "lists.example.org"),
        ([], None, UNKNOWN_PLACE, "unknown"),
    ],
)
def test_place(headers: list[str], hint: str | None, channel: str, name: str) -> None:
    ev = posted(mail(*headers), list_hint=hint)
    assert (ev.place.channel_id, ev.place.name) == (channel, name)


# --- time ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "utc", "offset"),
    [
        ("Mon, 29 Apr 2019 08:47:02 +1000", datetime(2019, 4, 28, 22, 47, 2, tzinfo=UTC), 600),
        ("Wed, 01 Dec 2010 14:26:40 -0530", datetime(2010, 12, 1, 19, 56, 40, tzinfo=UTC), -330),
        ("Thu, 8 Mar 2005 17:40:36 EDT", datetime(2005, 3, 8, 21, 40, 36, tzinfo=UTC), -240),
        ("1 Jan 2020 00:00:00 -0000", datetime(2020, 1, 1, tzinfo=UTC), None),  # -0000: zone unknown
        ("Sat, 14 Nov 15 21:29:28 +0100", datetime(2015, 11, 14, 20, 29, 28, tzinfo=UTC), 60),
        ("RANDOM_Wed, 21 Sep 2016 22:42:07 +0300", datetime(2016, 9, 21, 19, 42, 7, tzinfo=UTC), 180),
    ],
)
def test_dates(value: str, utc: datetime, offset: int | None) -> None:
    assert parse_date(value) == (utc, offset)


@pytest.mark.parametrize(
    "value",
    ["Tue, 06 Jun 2017 27:39:33 +0600", "31 Feb 2020 10:00:00 +0000", "", "soon",
     "Mon, 1 Jan 3020 10:00:00 +0000"],
)
def test_impossible_dates(value: str) -> None:
    assert parse_date(value) is None


def test_date_fallbacks() -> None:
    received = "Received: from mx.example.org by mail.example.org; Sat, 24 Aug 2002 01:24:49 +0800"
    ev = posted(mail(received, date="Tue, 06 Jun 2017 27:39:33 +0600"))
    assert ev.occurred_at == datetime(2002, 8, 23, 17, 24, 49, tzinfo=UTC)
    assert ev.tz_offset_minutes is None
    ev = posted(mail(date=None), envelope=b"From jane@example.org Wed Dec  1 08:26:40 2010")
    assert ev.occurred_at == datetime(2010, 12, 1, 8, 26, 40, tzinfo=UTC)
    internal = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert posted(mail(date="garbage"), fallback_date=internal).occurred_at == internal
    assert parse_message(mail(date=None)) == Skip("no usable Date")


# --- ids and threads ------------------------------------------------------------------------------

def test_message_ids_and_threads() -> None:
    root = posted(mail(msgid="<root@x>"))
    assert root.uid == event_uid("mail", "root@x") and root.native_id == "root@x"
    assert root.reply_to is None and root.thread == root.uid

    reply = posted(mail("In-Reply-To: <mid@x>", "References: <root@x>\n <mid@x>", msgid="< reply@x >"))
    assert reply.native_id == "reply@x"
    assert reply.reply_to == event_uid("mail", "mid@x")
    assert reply.thread == event_uid("mail", "root@x")

    only_refs = posted(mail("References: <root@x> <mid@x>", msgid="<r2@x>"))
    assert only_refs.reply_to == event_uid("mail", "mid@x")
    assert only_refs.thread == event_uid("mail", "root@x")

    noisy = posted(mail("In-Reply-To: Jane's message of Mon, 1 Jan (<mid@x>)", msgid="<r3@x>"))
    assert noisy.reply_to == event_uid("mail", "mid@x")
    free_text = posted(mail("In-Reply-To: your message of yesterday", msgid="<r4@x>"))
    assert free_text.reply_to is None and free_text.thread == free_text.uid


def test_missing_message_id_gets_a_stable_content_uid() -> None:
    raw = mail(msgid=None, body="same words\n")
    first, second = posted(raw), posted(raw)
    assert first.uid == second.uid and first.uid.startswith("mail:c:") and first.native_id == ""
    assert posted(mail(msgid="", body="same words\n")).uid == first.uid  # an empty header is no id
    assert posted(mail(msgid=None, body="other words\n")).uid != first.uid
    assert first.uid != content_uid("mail", channel="", author="jane@example.org",
                                    occurred_at=first.occurred_at, text="Hello")


# --- text ---------------------------------------------------------------------------------------

PATCH_MAIL = """\
The resync thread can race with a reshape; hold the lock.

Signed-off-by: Jane Doe <jane@example.org>
---
 drivers/md/md.c | 4 +++-
 1 file changed, 3 insertions(+), 1 deletion(-)

diff --git a/drivers/md/md.c b/drivers/md/md.c
index 05ffffb8b769..a9735d8f1e70 100644
--- a/drivers/md/md.c
+++ b/drivers/md/md.c
@@ -10,6 +10,7 @@ static int md_run(struct mddev *mddev)
 \tint err;

-\tmddev_lock(mddev);
+\tmddev_lock_nointr(mddev);
+\tmddev->flags = 0;
 \treturn err;
 }
--\x20
2.39.2
"""

REPLY_MAIL = """\
On Sun, Apr 28 2019, Lukas Bulwahn wrote:

> rdev_attr_store() should lock and unlock mddev->reconfig_mutex in a
> balanced way with mddev_lock() and mddev_unlock().

It does.

> But when rdev->mddev is NULL, rdev_attr_store() would try to unlock
> without locking before.

This is incorrect.

NeilBrown

--\x20
Neil Brown
SUSE Labs, Storage
"""


@pytest.mark.parametrize(
    ("body", "own", "signature", "quoted", "patch"),
    [
        ("Plain words.\nTwo lines.\n", "Plain words.\nTwo lines.", "", 0, 0),
        (REPLY_MAIL, "It does.\n\nThis is incorrect.\n\nNeilBrown", "Neil Brown\nSUSE Labs, Storage", 4, 0),
        # The patch's sign-off is not own prose, but it says who the author works for: signature.
        (PATCH_MAIL, "The resync thread can race with a reshape; hold the lock.",
         "Signed-off-by: Jane Doe <jane@example.org>", 0, 17),
        # A reviewer's tag in a reply is their own word, not a patch.
        ("Jane wrote:\n> +\tfoo();\n\nAcked-by: Bob <bob@example.net>\n",
         "Acked-by: Bob <bob@example.net>", "", 1, 0),
        # Outlook: everything under the original-message marker is quoted, unmarked or not.
        ("Sounds good.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\n\nOld text\nmore\n",
         "Sounds good.", "", 5, 0),
        ("Top post.\n\nFrom: Bob <b@x>\nSent: Monday, 1 Jan\nTo: list\n\nOld\n", "Top post.", "", 4, 0),
        # A signature followed by a quote (top posting): the quote is not signature.
        ("Yes.\n-- \nJane\nOn Mon, Bob wrote:\n> q\n", "Yes.", "Jane", 1, 0),
        # Index:-style and bare unified diffs.
        ("See:\nIndex: foo.c\n===================\n--- foo.c\n+++ foo.c\n@@ -1 +1 @@\n-a\n+b\n\nThanks\n",
         "See:\nThanks", "", 0, 7),
        # A Mailman footer is neither own words nor signature.
        ("Hi all\n_______________________________________________\nDev mailing list\ndev@example.org\n",
         "Hi all", "", 0, 0),
        # Diffstat lines (renames too) are patch; a table with bars in prose is not.
        ("Series:\n drivers/md/md.c | 4 +++-\n a.5 => a.5.in | 2 +-\n 2 files changed, 4 insertions(+)\n"
         " 4KB randwrite |     15MB/s\n", "Series:\n 4KB randwrite |     15MB/s", "", 0, 3),
        # An HTML-ish quote marker with leading spaces still counts as quoted.
        ("Answer\n  > quoted with indent\n", "Answer", "", 1, 0),
    ],
)
def test_split_text(body: str, own: str, signature: str, quoted: int, patch: int) -> None:
    text = split_text(body)
    assert (text.own, text.signature, text.quoted_lines, text.patch_lines) == (own, signature, quoted, patch)


def test_mboxrd_from_lines_are_unquoted_in_mbox_messages_only() -> None:
    raw = mail(body=">From the archive\n>>From a quote\n")
    text = posted(raw, envelope=b"From jane@example.org Mon Apr 29 08:47:02 2019").text
    assert (text.own, text.quoted_lines) == ("From the archive", 1)  # ">From a quote" was a quote
    assert posted(raw).text.quoted_lines == 2


# --- MIME and charsets ------------------------------------------------------------------------------

MULTIPART = b"""\
From: Jane <jane@example.org>
Date: Mon, 29 Apr 2019 08:47:02 +1000
Message-ID: <mp@x>
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
--inner
Content-Type: text/html

<p>Gr&uuml;&szlig;e</p>
--inner--
--outer
Content-Type: image/png; name=shot.png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--outer
Content-Type: text/plain; name=dmesg.txt
Content-Disposition: attachment; filename=dmesg.txt

[    0.000000] Linux version 6.1
--outer
Content-Type: application/pgp-signature

-----BEGIN PGP SIGNATURE-----
--outer--
"""


def test_multipart_takes_first_plain_part_and_counts_attachments() -> None:
    ev = posted(MULTIPART)
    assert ev.text.own == "Grüße aus Köln"
    assert ev.text.attachments == 2  # the image and the attached log; not the HTML twin, not the signature


def test_html_only_body_becomes_text_with_quotes() -> None:
    html = ("<html><head><style>p{}</style></head><body><p>My answer</p>"
            "<blockquote><p>their question</p></blockquote><p>Bye &amp; thanks</p></body></html>")
    ev = posted(mail("Content-Type: text/html; charset=utf-8", body=html))
    assert ev.text.own == "My answer\n\nBye & thanks"
    assert ev.text.quoted_lines == 1


def test_base64_text_body_is_decoded() -> None:
    ev = posted(mail("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64",
                     body="SGVsbG8sIHfDtnJsZCE=\n"))
    assert ev.text.own == "Hello, wörld!"


@pytest.mark.parametrize(
    ("charset", "data", "text"),
    [
        ("windows-874", "สวัสดี".encode("cp874"), "สวัสดี"),
        ("unknown-8bit", "naïve café".encode(), "naïve café"),
        ("unknown-8bit", "naïve".encode("latin-1"), "naïve"),
        ("x-user-defined", b"caf\xe9", "café"),
        ("bogus-charset-9", b"plain", "plain"),
        ("base64", b"not base64 at all", "not base64 at all"),  # a codec, but not a charset
        ("us-ascii", "smart ‘quotes’".encode(), "smart ‘quotes’"),
        ("utf-8", b"broken \xff byte", "broken ÿ byte"),
        ("shift_jis", "日本語".encode("shift_jis"), "日本語"),
        (None, b"\x81\x8d", "\ufffd\ufffd"),
    ],
)
def test_charsets(charset: str | None, data: bytes, text: str) -> None:
    assert decode_bytes(data, charset) == text


def test_charset_header_and_body_in_a_message() -> None:
    raw = mail("Subject: =?windows-874?q?=CA=C7=D1=CA=B4=D5?= =?bogus?q?x?=",
               "Content-Type: text/plain; charset=windows-874", body="สวัสดี\n".encode("cp874"))
    ev = posted(raw)
    assert ev.subject == "สวัสดีx"
    assert ev.text.own == "สวัสดี"


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?=", "café"),  # a character split across two words
        ("Re: =?ISO-8859-1?B?R/Zy?= an", "Re: Gör an"),
        ("=?utf-8?b?broken!!?=", "\ufffd\ufffd\ufffd") ,
        ("no words here", "no words here"),
    ],
)
def test_encoded_words(value: str, decoded: str) -> None:
    result = decode_words(value)
    if "broken" in value:
        assert isinstance(result, str)  # garbage in: some text out, never an exception
    else:
        assert result == decoded


def test_parse_mailbox_forms() -> None:
    assert parse_mailbox('"Doe, Jane" <jane@example.org>') == ("Doe, Jane", "jane@example.org")
    assert parse_mailbox("jane@example.org (Jane Doe)") == ("Jane Doe", "jane@example.org")
    assert parse_mailbox("<mailto:list@example.org>") == ("", "list@example.org")
    assert parse_mailbox("") == ("", "")


# --- never raise --------------------------------------------------------------------------------

HOSTILE = [
    b"",
    b"\x00" * 100,
    b"just some text without any header\n",
    b"From: a@b\nDate: Mon, 29 Apr 2019 08:47:02 +1000\nthis line is not a header\n\nbody",
    b"From: \xff\xfe\xfd <\xe9@b>\nDate: Mon, 29 Apr 2019 08:47:02 +1000\n\n\x00body\x00",
    b"From: =?x?q?=ZZ?= <a@b>\nSubject: =?utf-8?b?====?= =?utf-8?Q?\xff?=\nDate: 1 Jan 2020 00:00 +0000\n\nx",
    b"From: a@b\nDate: 1 Jan 2020 00:00 +0000\nContent-Type: multipart/mixed\n\nno boundary",
    b"From: a@b\nDate: 1 Jan 2020 00:00 +0000\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" * 1,
    b"From: a@b\nDate: 1 Jan 2020 00:00 +0000\nContent-Transfer-Encoding: base64\n\n%%%",
    b"From: a@b\nDate: 1 Jan 2020 00:00 +0000\n\n" + b"x" * 2_000_000,
    b"From: a@b\r\nDate: 1 Jan 2020 00:00 +0000\r\nMessage-ID: <crlf@x>\r\n\r\nbody\r\n",
    b"From: a@b\nDate: 1 Jan 2020 00:00 +0000\nContent-Type: text/plain; charset=\"\n\n\xe9t\xe9",
    # Nested multiparts forty deep, each reusing its parent's boundary.
    b"From: a@b\nDate: 1 Jan 2020 00:00 +0000\nContent-Type: multipart/mixed; boundary=z\n\n"
    + b"--z\nContent-Type: multipart/mixed; boundary=z\n\n" * 40 + b"--z--\n",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises(raw: bytes) -> None:
    result = parse_message(raw)
    assert isinstance(result, MessagePosted | Skip)
    if isinstance(result, MessagePosted):
        assert "\x00" not in result.text.own and "\x00" not in (result.subject or "")
        assert result.occurred_at.tzinfo is not None


def test_crlf_message_parses_like_lf() -> None:
    ev = posted(HOSTILE[10])
    assert ev.native_id == "crlf@x" and ev.text.own == "body"


def test_not_a_message() -> None:
    assert parse_message(b"") == Skip("not a message")
    assert parse_message(b"just some text without any header\n") == Skip("not a message")
    assert parse_message(mail(sender=None)) == Skip("no From address")
