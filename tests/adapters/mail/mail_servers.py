"""Real mail servers for the mail tests, on loopback: Dovecot (IMAP, from Debian's ``dovecot-imapd``) with its
own config and a mailbox in a temporary folder, and an SMTP server (aiosmtpd) that keeps what it receives.

Dovecot runs in the foreground as a child of the test process (no system service, no privileged port, plain
login allowed on loopback without TLS). ``stop()`` and ``start()`` again keep the mailbox (the server going
away and coming back); ``idle=False`` starts one that does not offer IDLE (the adapter then polls).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "support@example.org"
PASSWORD = "mailbox-secret"


class MailServersUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, *, idle: bool) -> str:
    # dovecot-2.3 syntax; every path under `root`, the mail owned by the user running the tests
    uid, gid = _mail_owner()
    capability = "" if idle else "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS MOVE\n"
    return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
{_users(os.getuid(), os.getgid())}{capability}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def _mail_owner() -> tuple[int, int]:
    """Who owns the mail: the user running the tests, or (as root, which Dovecot refuses) its own ``dovecot``."""
    import pwd

    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


def _users(uid: int, gid: int) -> str:
    """As root, Dovecot's own unprivileged users (the package makes them); as anybody else, that user for all."""
    import grp
    import pwd

    if uid == 0:
        # the auth processes read the password file in the test's private (0700) folder
        return ("default_internal_user = dovecot\ndefault_login_user = dovenull\n"
                "service auth {\n  user = root\n}\nservice auth-worker {\n  user = root\n}\n")
    user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    return f"default_internal_user = {user}\ndefault_internal_group = {group}\ndefault_login_user = {user}\n"


class Dovecot:
    """One Dovecot on 127.0.0.1:``port`` serving the mailbox ``USER`` / ``PASSWORD`` under ``root``."""

    def __init__(self, root: Path | None = None, *, idle: bool = True, port: int | None = None) -> None:
        # a folder of its own that Dovecot's unprivileged processes can reach (pytest's tmp_path is 0700)
        root = root or Path(tempfile.mkdtemp(prefix="dutydesk-dovecot-"))
        root.chmod(0o711)
        self.root = root
        self.port = port or free_port()
        self.idle = idle
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        uid, gid = _mail_owner()
        os.chown(root / "mail", uid, gid)
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        self.conf = root / "dovecot.conf"
        self.conf.write_text(_config(root, self.port, idle=idle))

    def start(self) -> Dovecot:
        if not Path(DOVECOT).exists():
            raise MailServersUnavailable("dovecot is not installed (apt-get install dovecot-imapd)")
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise MailServersUnavailable(f"dovecot exited: {err.strip()} {self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return self
            time.sleep(0.05)
        self.stop()
        raise MailServersUnavailable(f"dovecot did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        # its children (imap, auth) end with the master; wait until the port is free for a restart
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    @property
    def url(self) -> str:
        return f"imap://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ what a mail client does to the box

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def deliver(self, message: EmailMessage | bytes, *, folder: str = "INBOX", seen: bool = False) -> None:
        """Puts a mail into the mailbox as a delivery agent would (IMAP APPEND)."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        imap = self.client()
        try:
            status, detail = imap.append(folder, "(\\Seen)" if seen else "", None, raw)
            assert status == "OK", detail
        finally:
            imap.logout()

    def deliver_many(self, messages: list[bytes], *, seen: bool = False) -> None:
        imap = self.client()
        try:
            for raw in messages:
                status, detail = imap.append("INBOX", "(\\Seen)" if seen else "", None, raw)
                assert status == "OK", detail
        finally:
            imap.logout()

    def flags(self, folder: str = "INBOX") -> list[str]:
        imap = self.client()
        try:
            imap.select(folder, readonly=True)
            status, data = imap.fetch("1:*", "(FLAGS)")
            return [item.decode() for item in data if isinstance(item, bytes)] if status == "OK" else []
        finally:
            imap.logout()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: Any = field(default=None)

    def __post_init__(self) -> None:
        self.message = email.message_from_bytes(self.raw, policy=email.policy.default)


class SmtpSink:
    """An SMTP server on loopback (aiosmtpd, in its own thread) that keeps every mail it receives; with
    ``USER``/``PASSWORD`` required for AUTH when ``auth`` is set (plain auth allowed without TLS, loopback)."""

    def __init__(self, *, auth: bool = True) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.received: list[Received] = []
        self.port = free_port()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with sink._arrived:
                    sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                    sink._arrived.notify_all()
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login.decode() == USER and data.password.decode() == PASSWORD
            return AuthResult(success=ok)

        kwargs: dict[str, Any] = {}
        if auth:
            kwargs = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Blocks (in a thread: ``await asyncio.to_thread(sink.wait_for, n)``) until ``count`` mails arrived."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)
