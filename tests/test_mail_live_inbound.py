"""What a mail in the bot's mailboxes means: posts, commands, answers, bounces, complaints, loops."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.mail_samples import BOT, COMMUNITY_LIST_ID, OUR_LIST_ID, invitation, list_post, mail, settings

from adapters.imports.mail_parse import parse_message
from adapters.mail.anchors import anchor_id, read_anchors
from adapters.mail.bounces import scan_bounce
from adapters.mail.compose import compose
from adapters.mail.inbound import BOUNCE_ACTION, COMPLAINT_ACTION, classify
from bot.core.events import ActionClicked, CommandInvoked, MessagePosted, event_uid

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
S = settings()


def test_a_list_post_is_the_message_import_mbox_would_store() -> None:
    raw = list_post()
    result = classify(raw, S, received_at=NOW)
    assert result.reason == "list post"
    (event,) = result.events
    assert isinstance(event, MessagePosted)
    assert event == parse_message(raw, fallback_date=NOW)
    assert event.uid == event_uid("mail", "post1@example.org")
    assert event.place.channel_id == COMMUNITY_LIST_ID
    assert result.answerable is None


def test_our_own_list_mail_coming_back_is_ignored() -> None:
    raw = mail(f"List-Id: Example Community <{OUR_LIST_ID}>", subject="optout all")
    assert classify(raw, S, received_at=NOW).events == ()


@pytest.mark.parametrize(
    ("where", "raw"),
    [
        ("subject", mail(subject="optout mentoring")),
        ("subject after Re:", mail(subject="Re: [Example] optout mentoring")),
        ("first line", mail(subject="please", body="optout mentoring\n\nthanks,\nJane\n")),
    ],
)
def test_a_command_by_mail_is_unverified(where: str, raw: bytes) -> None:
    result = classify(raw, S, received_at=NOW)
    (event,) = result.events
    assert isinstance(event, CommandInvoked), where
    assert (event.command, event.args, event.verified) == ("optout", ("mentoring",), False)
    assert event.actor.external_id == "jane@example.org"
    assert event.place.channel_id == BOT
    assert result.answerable == "jane@example.org"


def test_a_manager_command_is_passed_on_unverified_and_the_confirmation_line_too() -> None:
    (admin,) = classify(mail(subject="admin forget #12"), S, received_at=NOW).events
    assert isinstance(admin, CommandInvoked)
    assert (admin.command, admin.args, admin.verified) == ("admin", ("forget #12",), False)
    reply = mail(
        subject="Re: admin forget #12",
        body="confirm Xy12-ab\n\n> To run it, reply with the line\n",
        msgid="<m2@example.org>",
    )
    (confirm,) = classify(reply, S, received_at=NOW).events
    assert isinstance(confirm, CommandInvoked)
    assert (confirm.command, confirm.args) == ("confirm", ("Xy12-ab",))
    assert confirm.uid != admin.uid


def test_mail_to_the_bot_without_a_command_is_a_private_message() -> None:
    result = classify(mail(subject="hello", body="Just saying hi.\n"), S, received_at=NOW)
    (event,) = result.events
    assert isinstance(event, MessagePosted)
    assert (event.place.channel_id, event.place.name) == (BOT, "bot")
    assert event.uid == event_uid("mail", "m1@example.org")
    assert result.answerable is None


def _reply_to(sent: bytes, body: str, *extra: str, msgid: str = "<r1@example.com>") -> bytes:
    original = email.message_from_bytes(sent)
    refs = f"{original['References']} {original['Message-ID']}".strip()
    return mail(
        f"In-Reply-To: {original['Message-ID']}",
        f"References: {refs}",
        *extra,
        sender="Ada Lovelace <ada@example.com>",
        subject=f"Re: {original['Subject']}",
        body=body,
        msgid=msgid,
    )


@pytest.mark.parametrize(
    ("answer", "action", "value"),
    [
        ("Yes, I'd love to!\n", "accept", "tok-accept-42"),
        ("accept\n", "accept", "tok-accept-42"),
        ("No thanks, busy this month.\n", "decline", "tok-decline-42"),
    ],
)
def test_a_reply_to_an_invitation_is_a_click(answer: str, action: str, value: str) -> None:
    sent = compose(invitation(), S, now=NOW).data
    result = classify(_reply_to(sent, answer + "\n> Would you like to join?\n"), S, received_at=NOW)
    (event,) = result.events
    assert isinstance(event, ActionClicked)
    assert (event.action, event.value) == (action, value)
    assert event.actor.external_id == "ada@example.com"


def test_a_yes_to_a_solution_check_is_solved_and_a_confirmation_anchor_is_a_confirm_command() -> None:
    check = invitation(
        dedupe_key="check:9", programme=None, template="solution-check", buttons=(), headers={}
    )
    from bot.core.outbound import Button

    sent = compose(
        check.__class__(
            **{
                **_fields(check),
                "buttons": (Button("solved", "chk-9", "Solved"), Button("not-solved", "chk-9", "Not yet")),
            }
        ),
        S,
        now=NOW,
    ).data
    (solved,) = classify(_reply_to(sent, "yes, thanks!\n"), S, received_at=NOW).events
    assert isinstance(solved, ActionClicked)
    assert (solved.action, solved.value) == ("solved", "chk-9")
    (not_solved,) = classify(_reply_to(sent, "not solved, sadly\n"), S, received_at=NOW).events
    assert isinstance(not_solved, ActionClicked)
    assert not_solved.action == "not-solved"

    confirm_mail = compose(
        check.__class__(**{**_fields(check), "buttons": (Button("confirm", "Tk-77", "Confirm"),)}), S, now=NOW
    ).data
    (confirm,) = classify(_reply_to(confirm_mail, "yes\n"), S, received_at=NOW).events
    assert isinstance(confirm, CommandInvoked)
    assert (confirm.command, confirm.args, confirm.verified) == ("confirm", ("Tk-77",), False)


def _fields(message: object) -> dict[str, object]:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}  # type: ignore[attr-defined]


def test_anchors_round_trip_any_token_and_ignore_other_domains() -> None:
    token = "a.b_c-d=e+f/g:h ü"
    ours = anchor_id("accept", token, domain="example.org")
    ids = [ours, "<cba.accept.mfrgg@elsewhere.org>", "<x@example.org>"]
    assert read_anchors(ids, domain="example.org") == [("accept", token)]


# --- loops ------------------------------------------------------------------------------------

LOOP_CASES = [
    ("Auto-Submitted auto-replied", ("Auto-Submitted: auto-replied",)),
    ("Auto-Submitted auto-generated", ("Auto-Submitted: auto-generated",)),
    ("Precedence bulk", ("Precedence: bulk",)),
    ("Precedence junk", ("Precedence: junk",)),
    ("Precedence list", ("Precedence: list",)),
    ("empty Return-Path", ("Return-Path: <>",)),
    ("auto-responder header", ("X-Autoreply: yes",)),
]


@pytest.mark.parametrize(("case", "headers"), LOOP_CASES, ids=[c[0] for c in LOOP_CASES])
def test_mail_that_could_start_a_loop_is_never_answered(case: str, headers: tuple[str, ...]) -> None:
    assert classify(mail(*headers, subject="optout all"), S, received_at=NOW).events == (), case
    # The same mail without the header is a command: the header alone decides.
    assert classify(mail(subject="optout all"), S, received_at=NOW).events


def test_a_robot_or_the_bot_itself_is_never_answered() -> None:
    for sender in ("MAILER-DAEMON <mailer-daemon@example.net>", f"Bot <{BOT}>", "noreply@example.net"):
        assert classify(mail(sender=sender, subject="help"), S, received_at=NOW).events == (), sender


def test_an_auto_responder_answering_an_invitation_gets_nothing_back() -> None:
    sent = compose(invitation(), S, now=NOW).data
    out_of_office = _reply_to(sent, "Yes I am out until Monday.\n", "Auto-Submitted: auto-replied")
    assert classify(out_of_office, S, received_at=NOW).events == ()
    exchange = _reply_to(sent, "Yes, I am away.\n", "X-Auto-Response-Suppress: All", msgid="<r2@example.com>")
    assert classify(exchange, S, received_at=NOW).events == ()


def test_spam_marked_junk_from_the_corpus_is_not_answered(shared_data: Path) -> None:
    raw = (shared_data / "bad-input" / "mail-parser" / "mail_test_16.eml").read_bytes()
    result = classify(raw, S, received_at=NOW)
    assert not any(isinstance(e, CommandInvoked | ActionClicked) for e in result.events)


# --- bounces and complaints -------------------------------------------------------------------


def test_bounce_corpus_matches_expected(shared_data: Path) -> None:
    folder = shared_data / "bad-input" / "flufl-bounce"
    expected: dict[str, tuple[set[str], bool]] = {}
    for entry in json.loads((folder / "expected.json").read_text()):
        # The table lists a file once per upstream detector; the union is what the file names.
        addresses, _ = expected.setdefault(entry["file"], (set(), entry["temporary_failure"]))
        addresses.update(a.lower() for a in entry["expected_addresses"])
    assert len(expected) > 100
    for name, (want, temporary) in expected.items():
        bounce = scan_bounce(email.message_from_bytes((folder / name).read_bytes()))
        assert bounce is not None, name
        got = bounce.temporary if temporary else bounce.permanent
        assert want <= got, (name, want, bounce)
        if not want:
            assert not bounce.permanent and not bounce.temporary, (name, bounce)


def test_bounce_corpus_file_without_expectations_does_not_crash(shared_data: Path) -> None:
    raw = (shared_data / "bad-input" / "flufl-bounce" / "bounce_01.txt").read_bytes()
    classify(raw, S, received_at=NOW)


def test_a_permanent_bounce_marks_the_address_and_a_temporary_one_does_nothing(shared_data: Path) -> None:
    folder = shared_data / "bad-input" / "flufl-bounce"
    permanent = classify((folder / "postfix_01.txt").read_bytes(), S, received_at=NOW)
    (event,) = permanent.events
    assert isinstance(event, ActionClicked)
    assert (event.action, event.value) == (BOUNCE_ACTION, "xxxxx@local.ie")
    assert event.actor.external_id == "xxxxx@local.ie"
    assert permanent.answerable is None
    entries = json.loads((folder / "expected.json").read_text())
    temporary = next(e["file"] for e in entries if e["temporary_failure"] and e["expected_addresses"])
    result = classify((folder / temporary).read_bytes(), S, received_at=NOW)
    assert result.events == () and "temporary" in result.reason


def test_an_arf_complaint_is_an_opt_out(shared_data: Path) -> None:
    raw = (shared_data / "bad-input" / "mimekit" / "feedback-report.txt").read_bytes()
    result = classify(raw, S, received_at=NOW)
    (event,) = result.events
    assert isinstance(event, ActionClicked)
    assert (event.action, event.value) == (COMPLAINT_ACTION, "user@example.com")
    assert result.answerable is None
    # Read again (a restart before the cursor moved): the same uid, so it counts once.
    assert classify(raw, S, received_at=NOW).events[0].uid == event.uid


def test_a_member_quoting_a_bounce_on_a_list_is_a_post_not_a_bounce() -> None:
    raw = list_post(body="I got this:\n\nThe following addresses failed:\n  <x@example.net>\n")
    (event,) = classify(raw, S, received_at=NOW).events
    assert isinstance(event, MessagePosted)


@pytest.mark.parametrize(
    "sender",
    [
        "dev-request@lists.example.org",
        "dev-owner@lists.example.org",
        "main+owner@groups.io",
        "mailman@lists.example.org",
    ],
)
def test_notices_from_the_list_software_are_not_posts(sender: str) -> None:
    raw = mail(
        f"List-Id: <{COMMUNITY_LIST_ID}>",
        "Precedence: bulk",
        sender=sender,
        to=BOT,
        subject='Welcome to the "Dev" mailing list',
    )
    result = classify(raw, S, received_at=NOW)
    assert result.events == () and result.reason.startswith("list notice")
    # A member whose address merely contains such a word still posts.
    member = list_post(msgid="<req@example.org>").replace(b"ada@example.com", b"requester@example.com")
    assert classify(member, S, received_at=NOW).events


def test_a_reply_that_lost_its_references_finds_the_invitation_by_the_subject_tag() -> None:
    from bot.core.outbound import Button

    shared = (Button("accept", "inv42tok", "Yes"), Button("decline", "inv42tok", "No"))
    sent = email.message_from_bytes(compose(invitation(buttons=shared), S, now=NOW).data)
    assert sent["Subject"] == "An invitation to the mentoring programme [inv:inv42tok]"
    reply = mail(
        f"In-Reply-To: {sent['Message-ID']}",  # no References: the anchors are gone
        sender="Ada Lovelace <ada@example.com>",
        subject=f"RE: {sent['Subject']}",
        body="Yes, count me in.\n",
        msgid="<r9@example.com>",
    )
    (event,) = classify(reply, S, received_at=NOW).events
    assert isinstance(event, ActionClicked)
    assert (event.action, event.value) == ("accept", "inv42tok")
    # Off by configuration, the subject stays as rendered.
    plain = email.message_from_bytes(
        compose(invitation(buttons=shared), settings(subject_tags=False), now=NOW).data
    )
    assert plain["Subject"] == "An invitation to the mentoring programme"


@pytest.mark.parametrize(
    ("overrides", "bulk"),
    [
        ({}, True),  # a programme invitation
        ({"programme": None, "template": "digest", "headers": {}, "buttons": ()}, True),
        ({"programme": None, "template": "command_reply", "headers": {}, "buttons": ()}, False),
        ({"programme": None, "template": "whyme", "kind": "reply", "headers": {}, "buttons": ()}, False),
        ({"programme": None, "template": "", "headers": {}, "buttons": ()}, False),
    ],
)
def test_which_mail_is_bulk(overrides: dict[str, object], bulk: bool) -> None:
    head = email.message_from_bytes(compose(invitation(**overrides), S, now=NOW).data)
    assert (head["Precedence"] == "bulk") is bulk
    assert (head["List-Unsubscribe-Post"] is not None) is bulk
    assert head["Auto-Submitted"] == ("auto-generated" if bulk else "auto-replied")
