"""Fault tests: a worker process SIGKILLed between a send and its commit, then restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from outbox_support import T0, dm, put, rows

from adapters.fake import FakePlatformServer
from bot.store import Store

SCRIPT = Path(__file__).resolve().parent / "outbox_crash_worker.py"


async def _worker(db_url: str, base_url: str, *, idempotent: bool, kill_after: int = 0) -> tuple[int, str]:
    env = {**os.environ, "COHORTBOT_TEST_KILL_AFTER_SEND": str(kill_after)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        db_url,
        base_url,
        "1" if idempotent else "0",
        "worker-a",
        (T0 + timedelta(minutes=1)).isoformat(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, (out + err).decode()


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent-platform", "reconcile-only-platform"])
async def test_sigkill_between_send_and_commit_delivers_each_message_exactly_once(
    store: Store, db_url: str, tmp_path: Path, idempotent: bool
) -> None:
    server = FakePlatformServer(tmp_path / "deliveries.json", idempotent=idempotent)
    base = await server.start()
    try:
        keys = [f"crash-{i}" for i in range(6)]
        await put(store, *[dm(k, user=f"u{i}") for i, k in enumerate(keys)])

        code, output = await _worker(db_url, base, idempotent=idempotent, kill_after=3)
        assert code == -signal.SIGKILL, output
        statuses = Counter(r["status"] for r in (await rows(store)).values())
        assert statuses["sent"] == 2 and statuses["sending"] >= 1  # the third went out, uncommitted

        code, output = await _worker(db_url, base, idempotent=idempotent)
        assert code == 0, output
    finally:
        await server.stop()
    delivered = [
        d["dedupe_key"] for d in json.loads((tmp_path / "deliveries.json").read_text())["deliveries"]
    ]
    assert sorted(delivered) == sorted(keys)  # every message, none twice
    got = await rows(store)
    assert {r["status"] for r in got.values()} == {"sent"}
    by_key = {d["dedupe_key"]: d["native_id"] for d in server.deliveries}
    assert {k: r["receipt"]["native_id"] for k, r in got.items()} == by_key
