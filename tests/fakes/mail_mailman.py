"""GNU Mailman 3 core between the members and the bot, for the one end-to-end list test.

Mailman is not a dependency of the project: it lives in a virtual environment of its own,
named by the environment variable COHORTBOT_MAILMAN (the path of its ``mailman`` command).
Make one with

    python3 -m venv /tmp/cohortbot-mailman
    /tmp/cohortbot-mailman/bin/pip install 'mailman==3.3.10' 'sqlalchemy<2.1'
    export COHORTBOT_MAILMAN=/tmp/cohortbot-mailman/bin/mailman

(SQLAlchemy 2.1 breaks Mailman 3.3's member listing). Without it the test skips and says so.

Mailman here has no MTA of its own: posts are put straight into its incoming queue with
``mailman inject`` (what its LMTP runner would do), and it delivers to the test's aiosmtpd.
Its runners take from a few to ~30 seconds to start on a busy machine; nothing waits for
them: the injected post sits in the queue until they do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from fakes.mail_servers import ServerUnavailable, free_port

MAILMAN_ENV = "COHORTBOT_MAILMAN"
_HOWTO = (
    "python3 -m venv /tmp/cohortbot-mailman && /tmp/cohortbot-mailman/bin/pip install 'mailman==3.3.10' "
    "'sqlalchemy<2.1' && export COHORTBOT_MAILMAN=/tmp/cohortbot-mailman/bin/mailman"
)


@dataclass
class Mailman:
    command: list[str]
    root: Path

    def run(self, *args: str, stdin: bytes | None = None) -> None:
        log = self.root / "cli.log"
        with log.open("ab") as out:
            done = subprocess.run(
                [*self.command, *args], input=stdin, stdout=out, stderr=out, timeout=180, check=False
            )
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise ServerUnavailable(f"mailman {args[0]} failed: {tail}")

    def create_list(self, address: str, *, members: list[str]) -> None:
        self.run("create", "--quiet", address)
        self.run("addmembers", "-", address, stdin="\n".join(members).encode() + b"\n")

    def inject(self, address: str, raw: bytes) -> None:
        self.run("inject", "-f", "-", address, stdin=raw)


@contextmanager
def mailman(*, smtp_port: int) -> Iterator[Mailman]:
    """Mailman 3 core delivering to 127.0.0.1:``smtp_port``; its runners stopped afterwards."""
    command = os.environ.get(MAILMAN_ENV)
    if not command or not Path(command).exists():
        raise ServerUnavailable(f"set {MAILMAN_ENV} to a Mailman 3 'mailman' command ({_HOWTO})")
    root = Path(tempfile.mkdtemp(prefix="cbmm", dir="/tmp"))
    config = root / "mailman.cfg"
    config.write_text(
        f"""
[mailman]
layout: cohortbot
site_owner: owner@example.org

[paths.cohortbot]
var_dir: {root}/var

[mta]
incoming: mailman.mta.null.NullMTA
lmtp_host: 127.0.0.1
lmtp_port: {free_port()}
smtp_host: 127.0.0.1
smtp_port: {smtp_port}

[webservice]
hostname: 127.0.0.1
port: {free_port()}
"""
    )
    base = [command, "-C", str(config)]
    if os.geteuid() == 0:
        base.append("--run-as-root")  # Mailman refuses root otherwise; this is a throw-away instance
    server = Mailman(base, root)
    try:
        server.run("start")
        yield server
    finally:
        with suppress(ServerUnavailable, subprocess.TimeoutExpired):
            server.run("stop")
        shutil.rmtree(root, ignore_errors=True)
