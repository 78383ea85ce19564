"""Escaping is remembered for short texts only: a member's long text is escaped every time."""

from __future__ import annotations

import uuid

from messages import escaping, templates


def test_long_text_escaped_as_ever_but_not_kept_short_text_kept() -> None:
    discord = templates._FLAVOURS["discord"]
    looked_up = templates._escaped.cache_info().misses
    long = f"{uuid.uuid4()} *bold* @everyone " * 40  # ~2 kB, over the limit
    assert len(long) > templates._REMEMBER_CHARS
    assert discord.finalize(long) == escaping.discord(long)
    assert templates._escaped.cache_info().misses == looked_up  # not even looked up
    short = f"{uuid.uuid4()} *bold*"
    assert discord.finalize(short) == escaping.discord(short)
    assert templates._escaped.cache_info().misses == looked_up + 1  # looked up, then kept
