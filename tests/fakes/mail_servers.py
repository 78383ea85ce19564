"""Real mail servers on 127.0.0.1 for the mail adapter's tests: Debian's dovecot and aiosmtpd.

Dovecot runs from a throw-away configuration as an unprivileged user (``nobody`` when the
tests run as root, else the current user), with any user name accepted with one password
(each test takes a fresh name, so one server serves a whole module) and maildirs in a
temporary directory; ``dovecot`` returns once its listeners are bound, so no waiting is
needed. When the binary is missing or will not start, the tests that need it skip and say
how to get it (``apt-get install dovecot-imapd``; scripts/test.sh tries that).

aiosmtpd runs in its own thread (its Controller) and records every message; a test makes
it answer 4xx/5xx for a recipient, for MAIL FROM or for DATA on demand.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
IMAP_PASSWORD = "imap-test-password"


class ServerUnavailable(Exception):
    """The server cannot run here; tests skip with this message."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Dovecot:
    root: Path
    port: int
    config: Path
    run_as: str | None
    accounts: int = 0

    def account(self) -> str:
        """A user nobody has used yet, so each test starts with empty mailboxes on a shared server."""
        self.accounts += 1
        return f"bot{self.accounts}@example.org"

    def _cmd(self, *args: str) -> list[str]:
        base = [DOVECOT, "-c", str(self.config), *args]
        return ["runuser", "-u", self.run_as, "--", *base] if self.run_as else base

    def kick(self, user: str) -> None:
        """Drop the user's connections from the server side (a restart, a network cut)."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        base = [doveadm, "-c", str(self.config), "kick", user]
        cmd = ["runuser", "-u", self.run_as, "--", *base] if self.run_as else base
        done = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        if done.returncode != 0:
            raise ServerUnavailable(f"doveadm kick failed: {done.stderr.decode(errors='replace')}")

    def stop(self) -> None:
        subprocess.run(
            self._cmd("stop"),
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    """A running dovecot where any user name logs in with IMAP_PASSWORD; stopped and removed afterwards."""
    if not Path(DOVECOT).exists():
        raise ServerUnavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    if os.geteuid() == 0:
        run_as: str | None = "nobody"
        user = pwd.getpwnam("nobody")
    else:
        run_as = None
        user = pwd.getpwuid(os.getuid())
    group = grp.getgrgid(user.pw_gid).gr_name
    # Short path: dovecot's unix sockets live under base_dir and must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="cbdc", dir="/tmp"))
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        f"""
base_dir = {root}/run
state_dir = {root}/state
instance_name = cb{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user.pw_name}
default_internal_user = {user.pw_name}
default_internal_group = {group}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={IMAP_PASSWORD}
}}
userdb {{
  driver = static
  args = uid={user.pw_uid} gid={user.pw_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
    )
    for path in [root, *root.iterdir()]:
        os.chown(path, user.pw_uid, user.pw_gid)
    server = Dovecot(root=root, port=port, config=config, run_as=run_as)
    # The daemon inherits our stdio: pipes would never reach EOF, so its output goes to a file.
    errors = root / "start.err"
    with errors.open("wb") as err:
        started = subprocess.run(
            server._cmd(), check=False, stdin=subprocess.DEVNULL, stdout=err, stderr=err, timeout=30
        )
    if started.returncode != 0:
        why = errors.read_text(errors="replace").strip()
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"dovecot did not start: {why}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Captured:
    sender: str
    recipients: list[str]
    data: bytes
    session: int


@dataclass
class SmtpHandler:
    """aiosmtpd handler: records messages; refuses per recipient, MAIL FROM or DATA on demand."""

    messages: list[Captured] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> "450 ..." / "550 ..."
    mail_reply: str | None = None
    data_reply: str | None = None
    sessions: set[int] = field(default_factory=set)
    #: Called with each accepted message (in the server's thread), e.g. to file it into an IMAP box.
    on_message: Callable[[Captured], None] | None = None

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions.add(id(session))
        if self.data_reply:
            return self.data_reply
        data = envelope.original_content or envelope.content
        captured = Captured(envelope.mail_from, list(envelope.rcpt_tos), bytes(data), id(session))
        self.messages.append(captured)
        if self.on_message is not None:
            self.on_message(captured)
        return "250 Message accepted for delivery"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl (ServerUnavailable without it)."""
    if shutil.which("openssl") is None:
        raise ServerUnavailable("openssl is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@contextmanager
def smtp_server(
    *, tls: str = "none", cert: tuple[Path, Path] | None = None
) -> Iterator[tuple[SmtpHandler, int]]:
    """aiosmtpd on 127.0.0.1; ``tls`` "starttls" (required before MAIL) or "implicit" needs ``cert``."""
    handler = SmtpHandler()
    port = free_port()
    options: dict[str, Any] = {}
    if tls != "none":
        assert cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        if tls == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        else:
            options = {"ssl_context": context}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
