"""A real Synapse homeserver for the Matrix tests (and the benchmark), on loopback.

Synapse pins its own dependencies (Twisted among them), so it lives in a virtual environment of
its own: ``$DUTYDESK_SYNAPSE_VENV``, default ``~/.cache/dutydesk/synapse-venv``, created and filled
with ``pip install matrix-synapse`` on first use and reused afterwards. The homeserver config is
the one from shared/research/feasibility.md: server_name ``localhost``, a client listener on
127.0.0.1 and a free port (no federation listener, federation with nobody), SQLite, a
registration shared secret, relaxed ``rc_*`` limits, warnings-only logging to a file.
Users are registered through the admin API with the shared-secret HMAC flow.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNAPSE_REQUIREMENT = os.environ.get("DUTYDESK_SYNAPSE_REQUIREMENT", "matrix-synapse>=1.120,<2")
SECRET = "ci-shared-secret"
INSTALL_TIMEOUT = 900
START_TIMEOUT = 90


class SynapseUnavailable(Exception):
    """Synapse cannot be installed or started here; the message says why."""


def venv_dir() -> Path:
    default = Path.home() / ".cache" / "dutydesk" / "synapse-venv"
    return Path(os.environ.get("DUTYDESK_SYNAPSE_VENV", str(default)))


def _marker(python: Path) -> Path:
    return python.parent.parent / "dutydesk-synapse-ok"


def _has_synapse(python: Path) -> bool:
    """Synapse is installed and imports (checked once per install; a marker file remembers it)."""
    if not python.exists():
        return False
    if _marker(python).exists():
        return True
    probe = subprocess.run([str(python), "-c", "import synapse.app.homeserver"], capture_output=True, timeout=300)
    if probe.returncode != 0:
        return False
    _marker(python).write_text(SYNAPSE_REQUIREMENT + "\n")
    return True


def ensure_installed() -> Path:
    """The Python of the Synapse virtual environment, installing Synapse into it if needed."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    if _has_synapse(python):
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "synapse-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once install once
        if _has_synapse(python):
            return python
        base = os.environ.get("DUTYDESK_SYNAPSE_PYTHON") or getattr(sys, "_base_executable", None) or sys.executable
        steps = [[base, "-m", "venv", "--clear", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "pip"],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SYNAPSE_REQUIREMENT]]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SynapseUnavailable(f"installing Synapse failed: {' '.join(step[:4])}…: {exc}") from exc
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise SynapseUnavailable(f"installing Synapse failed: {' '.join(step[:4])}…: {' | '.join(tail)}")
    if not _has_synapse(python):
        raise SynapseUnavailable(f"Synapse was installed into {venv} but does not import")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rc(per_second: float = 1000, burst: int = 10000) -> dict[str, Any]:
    return {"per_second": per_second, "burst_count": burst}


def homeserver_config(port: int) -> dict[str, Any]:
    return {
        "server_name": "localhost",
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": "./data/homeserver.pid",
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                       "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}],
        "database": {"name": "sqlite3", "args": {"database": "./data/homeserver.db"}},
        "log_config": "./log.config",
        "media_store_path": "./data/media_store",
        "signing_key_path": "./localhost.signing.key",
        "registration_shared_secret": SECRET,
        "macaroon_secret_key": "ci-macaroon-secret",
        "form_secret": "ci-form-secret",
        "enable_registration": False,
        "report_stats": False,
        "enable_metrics": False,
        "federation_domain_whitelist": [],
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "url_preview_enabled": False,
        "use_presence": False,
        "bcrypt_rounds": 4,
        "rc_message": _rc(),
        "rc_registration": _rc(),
        "rc_room_creation": _rc(),
        "rc_joins": {"local": _rc(), "remote": _rc()},
        "rc_joins_per_room": _rc(),
        "rc_invites": {"per_room": _rc(), "per_user": _rc(), "per_issuer": _rc()},
        "rc_login": {"address": _rc(), "account": _rc(), "failed_attempts": _rc()},
    }


LOG_CONFIG = """version: 1
formatters:
  precise: {format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'}
handlers:
  file: {class: logging.FileHandler, formatter: precise, filename: ./homeserver.log}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


@dataclass
class Synapse:
    """One running homeserver: its URL, and users registered on it (user id → access token)."""

    python: Path
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Synapse:
        d = self.directory
        (d / "data").mkdir(parents=True, exist_ok=True)
        # JSON is YAML: no YAML writer needed on the test side
        (d / "homeserver.yaml").write_text(json.dumps(homeserver_config(self.port), indent=1))
        (d / "log.config").write_text(LOG_CONFIG)
        base = [str(self.python), "-m", "synapse.app.homeserver", "-c", "homeserver.yaml"]
        keys = subprocess.run([*base, "--generate-keys"], cwd=d, capture_output=True, text=True, timeout=120)
        if keys.returncode != 0:
            raise SynapseUnavailable(f"synapse --generate-keys failed: {keys.stderr.strip()[-500:]}")
        out = open(d / "stdout.log", "wb")  # noqa: SIM115 (kept open for the process's lifetime)
        self.process = subprocess.Popen(base, cwd=d, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SynapseUnavailable(f"Synapse exited with {self.process.returncode}: {self._log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError), \
                    urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise SynapseUnavailable(f"Synapse did not answer /health within {START_TIMEOUT} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        parts = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.directory / name
            if path.exists():
                parts.append(" | ".join(path.read_text(errors="replace").strip().splitlines()[-5:]))
        return " || ".join(parts)[-1500:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    # ----------------------------------------------------------------- admin API

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str | None = None
                ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None

    def register(self, localpart: str, password: str, *, admin: bool = False) -> str:
        """Registers ``@localpart:localhost`` (shared-secret HMAC flow); returns the user id."""
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        digest = hmac.new(SECRET.encode(), b"\x00".join(
            p.encode() for p in (nonce, localpart, password, "admin" if admin else "notadmin")),
            digestmod=hashlib.sha1).hexdigest()
        answer = self.request("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": digest})
        self.tokens[answer["user_id"]] = answer["access_token"]
        return str(answer["user_id"])

    def override_ratelimit(self, admin_token: str, user_id: str, per_second: float, burst: int) -> None:
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit"
        self.request("POST", path, {"messages_per_second": per_second, "burst_count": burst}, token=admin_token)


def start_synapse(directory: Path) -> Synapse:
    return Synapse(ensure_installed(), directory).start()


if __name__ == "__main__":
    # `python tests/adapters/matrix/synapse_server.py --install`: set up the cached Synapse (scripts/test does)
    try:
        print(f"Synapse for the Matrix tests: {ensure_installed()}")
    except SynapseUnavailable as exc:
        print(f"Synapse for the Matrix tests: {exc}", file=sys.stderr)
        sys.exit(1)
