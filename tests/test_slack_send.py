"""Slack outbound: DMs and posts through the Web API client against a fake Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from fakes.slack_api import FakeSlackApi
from fakes.slack_kit import TEAM

from adapters.slack import SlackAdapter, SlackSecrets, SlackSettings
from bot.core.errors import PermanentSendError, RateLimited, RecipientUnreachable, TemporarySendError
from bot.core.outbound import Button, OutboundMessage, Recipient

SECRETS = SlackSecrets(bot_token="xoxb-test", app_token="xapp-test", signing_secret="")


@dataclass
class Out:
    adapter: SlackAdapter
    api: FakeSlackApi


async def _out(**overrides: object) -> tuple[SlackAdapter, FakeSlackApi]:
    api = await FakeSlackApi().start()
    settings = SlackSettings(mode="socket", team_id=TEAM, api_base_url=api.api_url, **overrides)  # type: ignore[arg-type]
    return SlackAdapter(settings, secrets=SECRETS, timer=api.timer), api


@pytest.fixture
async def out() -> AsyncIterator[Out]:
    adapter, api = await _out()
    yield Out(adapter, api)
    await api.close()


def dm(n: int = 1, *, user: str = "U1", text: str = "hello", **kw: object) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=n,
        dedupe_key=f"k{n}",
        platform="slack",
        kind="dm",
        to=Recipient(user_id=user),
        text=text,
        **kw,
    )  # type: ignore[arg-type]


def post(n: int, channel: str, text: str = "news") -> OutboundMessage:
    return OutboundMessage(
        outbox_id=n,
        dedupe_key=f"p{n}",
        platform="slack",
        kind="post",
        to=Recipient(channel=channel),
        text=text,
    )


async def test_an_invitation_goes_out_as_a_dm_with_block_kit_buttons(out: Out) -> None:
    # What the template layer renders: the member's name already escaped; a mass mention
    # that slipped through a member string is neutralised here as the last line of defence.
    text = "Hi *Ann &amp; Bob &lt;script&gt;*, join the bug hunt? <!here> <!channel|channel>"
    message = dm(
        7,
        text=text,
        buttons=(
            Button("accept", "tok-7", "Accept", style="primary"),
            Button("decline", "tok-7", "No thanks"),
        ),
    )
    receipt = await out.adapter.send(message)
    [opened] = out.api.of("conversations.open")
    assert opened.args == {"users": "U1"}
    [call] = out.api.of("chat.postMessage")
    safe = "Hi *Ann &amp; Bob &lt;script&gt;*, join the bug hunt? &lt;!here&gt; &lt;!channel|channel&gt;"
    assert call.args == {
        "channel": "DU1",
        "text": safe,
        "metadata": {"event_type": "cohortbot_outbox", "event_payload": {"key": message.idempotency_key}},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": safe}},
            {
                "type": "actions",
                "block_id": "cohort-actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Accept", "emoji": True},
                        "action_id": "cohort:accept",
                        "value": "tok-7",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "No thanks", "emoji": True},
                        "action_id": "cohort:decline",
                        "value": "tok-7",
                    },
                ],
            },
        ],
    }
    assert call.token == "xoxb-test"
    assert receipt.native_id == f"DU1:{out.api.history['DU1'][0]['ts']}"


async def test_rendered_blocks_are_sent_as_they_are_and_checked_too(out: Out) -> None:
    blocks = ({"type": "section", "text": {"type": "mrkdwn", "text": "Weekly digest <!everyone>"}},)
    await out.adapter.send(
        OutboundMessage(
            outbox_id=1,
            dedupe_key="d1",
            platform="slack",
            kind="post",
            to=Recipient(channel="C9"),
            text="Weekly digest",
            blocks=blocks,
        )
    )
    [call] = out.api.of("chat.postMessage")
    assert call.args["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Weekly digest &lt;!everyone&gt;"}}
    ]
    assert out.api.of("conversations.open") == []


async def test_a_reply_goes_into_the_thread_of_its_message(out: Out) -> None:
    message = OutboundMessage(
        outbox_id=3,
        dedupe_key="r3",
        platform="slack",
        kind="reply",
        to=Recipient(channel="C1"),
        text="Did that solve it?",
        reply_to_native="C1:1700000050.000200",
    )
    await out.adapter.send(message)
    [call] = out.api.of("chat.postMessage")
    assert (call.args["channel"], call.args["thread_ts"]) == ("C1", "1700000050.000200")


async def test_one_dm_channel_per_member_is_opened_once(out: Out) -> None:
    await out.adapter.send(dm(1))
    await out.adapter.send(dm(2))
    assert len(out.api.of("conversations.open")) == 1


async def test_a_429_storm_delivers_everything_and_nothing_early(out: Out) -> None:
    out.api.rate_limit("chat.postMessage", times=6, retry_after=3)
    messages = [post(i, f"C{i % 3}") for i in range(9)]
    receipts = await asyncio.gather(*(out.adapter.send(m) for m in messages))
    assert len({r.native_id for r in receipts}) == 9
    calls = out.api.of("chat.postMessage")
    delivered = {c.args["metadata"]["event_payload"]["key"] for c in calls if c.status == 200}
    assert delivered == {m.idempotency_key for m in messages}
    assert sum(c.status == 429 for c in calls) == 6
    # every call after a 429 for the same message waits at least Retry-After on the fake's clock
    by_message: dict[str, list[tuple[float, int]]] = {}
    for c in calls:
        by_message.setdefault(c.args["metadata"]["event_payload"]["key"], []).append((c.at, c.status))
    for attempts in by_message.values():
        for (at, status), (next_at, _) in itertools.pairwise(attempts):
            assert status == 429 and next_at - at >= 3
    # and each channel got at most one message a second
    for channel in ("C0", "C1", "C2"):
        times = sorted(c.at for c in calls if c.status == 200 and c.args["channel"] == channel)
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


async def test_a_burst_to_one_channel_is_paced_to_one_a_second(out: Out) -> None:
    await asyncio.gather(*(out.adapter.send(post(i, "C1")) for i in range(4)))
    times = [c.at for c in out.api.of("chat.postMessage")]
    assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [1.0, 1.0, 1.0]


async def test_rate_limited_when_the_retries_are_spent() -> None:
    adapter, api = await _out(rate_limit_retries=2)
    try:
        api.rate_limit("chat.postMessage", times=5, retry_after=42)
        with pytest.raises(RateLimited) as caught:
            await adapter.send(post(1, "C1"))
        assert caught.value.retry_after == 42
        assert len(api.of("chat.postMessage")) == 3  # the first try and two retries
    finally:
        await api.close()


@pytest.mark.parametrize(
    ("method", "error", "status", "kind"),
    [
        ("chat.postMessage", "channel_not_found", 200, PermanentSendError),
        ("chat.postMessage", "not_in_channel", 200, PermanentSendError),
        ("chat.postMessage", "is_archived", 200, PermanentSendError),
        ("conversations.open", "user_not_found", 200, RecipientUnreachable),
        ("conversations.open", "account_inactive", 200, RecipientUnreachable),
        ("chat.postMessage", "cannot_dm_bot", 200, RecipientUnreachable),
        ("chat.postMessage", "internal_error", 500, TemporarySendError),
        ("chat.postMessage", "service_unavailable", 503, TemporarySendError),
        ("chat.postMessage", "invalid_auth", 200, TemporarySendError),
    ],
)
async def test_errors_are_mapped_at_the_boundary(
    out: Out, method: str, error: str, status: int, kind: type[Exception]
) -> None:
    out.api.fail(method, error, status=status)
    with pytest.raises(kind) as caught:
        await out.adapter.send(dm(1))
    if kind is PermanentSendError:  # the channel's fault, not the person's
        assert not isinstance(caught.value, RecipientUnreachable)


async def test_an_unreachable_slack_is_a_temporary_failure() -> None:
    adapter, api = await _out(timeout=1)
    await api.close()  # nothing listens any more: the connection fails
    with pytest.raises(TemporarySendError):
        await adapter.send(dm(1))


async def test_email_and_incomplete_recipients_are_permanent_failures(out: Out) -> None:
    for message in (
        OutboundMessage(
            outbox_id=1,
            dedupe_key="e",
            platform="slack",
            kind="email",
            to=Recipient(email="a@example.org"),
            text="x",
        ),
        OutboundMessage(outbox_id=2, dedupe_key="n", platform="slack", kind="dm", to=Recipient(), text="x"),
        OutboundMessage(
            outbox_id=3, dedupe_key="r", platform="slack", kind="reply", to=Recipient(), text="x"
        ),
    ):
        with pytest.raises(PermanentSendError):
            await out.adapter.send(message)
    assert out.api.of("chat.postMessage") == []


async def test_reconcile_finds_a_message_sent_before_a_crash(out: Out) -> None:
    sent = await out.adapter.send(dm(5))
    restarted = SlackAdapter(out.adapter.settings, secrets=SECRETS, timer=out.api.timer)
    found = await restarted.reconcile(dm(5))
    assert found is not None and found.native_id == sent.native_id
    assert await restarted.reconcile(dm(6)) is None


async def test_reconcile_looks_for_a_reply_in_its_thread(out: Out) -> None:
    reply = OutboundMessage(
        outbox_id=9, dedupe_key="r9", platform="slack", kind="reply", to=Recipient(channel="C1"),
        text="Did that solve it?", reply_to_native="C1:1700000050.000200",
    )  # fmt: skip
    sent = await out.adapter.send(reply)
    found = await out.adapter.reconcile(reply)
    assert found is not None and found.native_id == sent.native_id
    [looked] = out.api.of("conversations.replies")
    assert looked.args["ts"] == "1700000050.000200"


async def test_an_invitation_rendered_by_the_templates_keeps_one_set_of_buttons(out: Out) -> None:
    from messages.slack_blocks import slack_blocks  # the template layer's own Block Kit

    buttons = (Button("accept", "tok-8", "Accept", style="primary"), Button("decline", "tok-8", "Decline"))
    text = "Hi *Ann*, join the bug hunt?"
    await out.adapter.send(dm(8, text=text, blocks=slack_blocks(text, buttons), buttons=buttons))
    [call] = out.api.of("chat.postMessage")
    actions = [b for b in call.args["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    assert [(e["action_id"], e["value"]) for e in actions[0]["elements"]] == [
        ("cohort:accept", "tok-8"),
        ("cohort:decline", "tok-8"),
    ]
