"""Discord sends through the real discord.py client against the fake: errors, rate limits, long texts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from discord_helpers import RecordingSink, running
from fakes.discord_server import GENERAL_ID, HELP_ID, FakeDiscord

from adapters.discord.splitting import nonce_for, split_text
from bot.core.errors import PermanentSendError, RateLimited, TemporarySendError
from bot.core.outbound import Button, OutboundMessage, Recipient

ALICE = "920000000000000001"
DM_ID = str(int(ALICE) + 1)
RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 64.5, "global": False}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTBOT_DISCORD_TOKEN", "test-token")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_member(ALICE, "alice")
        yield server


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _post(channel: str, text: str = "hello", *, key: str = "row-1", **extra: object) -> OutboundMessage:
    return OutboundMessage(outbox_id=1, dedupe_key=key, platform="discord", kind="post",  # type: ignore[arg-type]
                           to=Recipient(channel=channel), text=text, **extra)


def _dm(text: str = "hello") -> OutboundMessage:
    return OutboundMessage(outbox_id=2, dedupe_key="dm-1", platform="discord", kind="dm",
                           to=Recipient(user_id=ALICE), text=text)


async def test_cannot_dm_is_permanent(fake: FakeDiscord) -> None:
    fake.fail_next("POST", f"/channels/{DM_ID}/messages", status=403,
                   body={"message": "Cannot send messages to this user", "code": 50007})
    async with running(fake, RecordingSink()) as adapter:
        with pytest.raises(PermanentSendError, match=r"cannot DM this member \(50007\)"):
            await adapter.send(_dm())


async def test_server_error_is_temporary(fake: FakeDiscord) -> None:
    fake.fail_next("POST", f"/channels/{GENERAL_ID}/messages", status=503,
                   body={"message": "upstream connect error", "code": 0})
    async with running(fake, RecordingSink()) as adapter:
        with pytest.raises(TemporarySendError):
            await adapter.send(_post(GENERAL_ID))
        assert (await adapter.send(_post(GENERAL_ID))).native_id  # the retry goes through


async def test_429_reports_retry_after_without_pausing_others(fake: FakeDiscord) -> None:
    fake.fail_next("POST", f"/channels/{GENERAL_ID}/messages", status=429, body=RATE_LIMITED,
                   headers={"Via": "1.1 google", "Retry-After": "65", "X-RateLimit-Scope": "user"})
    async with running(fake, RecordingSink()) as adapter:
        with pytest.raises(RateLimited) as caught:
            await adapter.send(_post(GENERAL_ID))
        assert caught.value.retry_after == pytest.approx(64.5)
        assert (await adapter.send(_post(HELP_ID, key="row-2"))).native_id
    assert len(fake.requests_to("POST", f"/channels/{HELP_ID}/messages")) == 1


async def test_global_429_pauses_every_send(fake: FakeDiscord) -> None:
    ticks = Ticks()
    fake.fail_next("POST", f"/channels/{GENERAL_ID}/messages", status=429,
                   body={**RATE_LIMITED, "global": True},
                   headers={"Via": "1.1 google", "Retry-After": "65", "X-RateLimit-Global": "true",
                            "X-RateLimit-Scope": "global"})
    async with running(fake, RecordingSink(), monotonic=ticks) as adapter:
        with pytest.raises(RateLimited):
            await adapter.send(_post(GENERAL_ID))
        ticks.now += 30
        with pytest.raises(RateLimited) as caught:  # another channel, another sender: paused too
            await adapter.send(_dm())
        assert caught.value.retry_after == pytest.approx(35)
        assert fake.requests_to("POST", "/users/@me/channels") == []  # nothing was even tried
        ticks.now += 36
        assert (await adapter.send(_dm())).native_id


async def test_long_text_is_split_with_a_nonce_per_part_and_buttons_on_the_last(fake: FakeDiscord) -> None:
    paragraph = ("word " * 300).strip()  # 1,499 characters
    text = "\n\n".join([paragraph] * 3)
    message = _post(GENERAL_ID, text, buttons=(Button("accept", "t1", "Accept"),))
    async with running(fake, RecordingSink()) as adapter:
        receipt = await adapter.send(message)
    posts = fake.requests_to("POST", f"/channels/{GENERAL_ID}/messages")
    assert [p.body["content"] for p in posts] == [paragraph] * 3
    assert [p.body["nonce"] for p in posts] == [nonce_for(message.idempotency_key, i) for i in range(3)]
    assert len({p.body["nonce"] for p in posts}) == 3 and all(len(p.body["nonce"]) <= 25 for p in posts)
    assert [bool(p.body.get("components")) for p in posts] == [False, False, True]
    assert all(p.body["allowed_mentions"] == {"parse": []} for p in posts)
    assert len(receipt.detail.split()) == 3


async def test_reply_references_the_message_it_answers(fake: FakeDiscord) -> None:
    message = OutboundMessage(outbox_id=3, dedupe_key="r-1", platform="discord", kind="reply",
                              to=Recipient(channel=HELP_ID), text="Did that solve it?",
                              reply_to_native="930000000000000001")
    async with running(fake, RecordingSink()) as adapter:
        await adapter.send(message)
    (post,) = fake.requests_to("POST", f"/channels/{HELP_ID}/messages")
    assert post.body["message_reference"]["message_id"] == 930000000000000001
    assert post.body["message_reference"]["fail_if_not_exists"] is False
    assert post.body["allowed_mentions"] == {"parse": []}


def test_split_text_respects_the_limit_and_words() -> None:
    assert split_text("") == [""]
    assert split_text("short") == ["short"]
    parts = split_text("aaa bbb ccc", limit=7)
    assert parts == ["aaa bbb", "ccc"]
    assert split_text("x" * 10, limit=4) == ["xxxx", "xxxx", "xx"]
    lines = split_text("one\ntwo\nthree", limit=8)
    assert lines == ["one\ntwo", "three"]
    assert all(len(p) <= 2000 for p in split_text(("é" * 2500) + " end"))
