"""A private PostgreSQL cluster for tests that stop and start the server (a crash, a restart).

The shared server on 127.0.0.1:5432 must never be restarted: other tests use it. A test that needs a
real server restart gets a cluster of its own instead: ``initdb`` into a temporary directory, the
server on a free loopback port, trust authentication, ``fsync=off`` (a throw-away cluster need not
wait for the disk). PostgreSQL refuses to run as root, so as root the binaries run as the
``postgres`` user (``runuser``) and the directory belongs to it.

The binaries are found on ``$PATH`` (``/usr/local/bin``) or in Debian's ``/usr/lib/postgresql/N/bin``.
Without them the tests are skipped with the reason; with ``CI=true`` they fail, as the other
fixtures that need a real server do.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BINARIES = ("initdb", "pg_ctl", "postgres")
START_TIMEOUT = 60
RUN_AS = "postgres"
PREFIX = "dutydesk-pg-"
STALE_AFTER = 6 * 3600  # a cluster this old belongs to a test run that was killed before it could remove it


class ClusterUnavailable(Exception):
    """No private PostgreSQL cluster can be made here; the message says why."""


def find_bindir() -> Path:
    """The directory with ``initdb``, ``pg_ctl`` and ``postgres`` (the newest Debian version wins)."""
    candidates = []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates.extend(debian)
    for folder in candidates:
        if all((folder / name).exists() for name in BINARIES):
            return folder
    raise ClusterUnavailable("the PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prefix() -> list[str]:
    """How to run a PostgreSQL binary: as ``postgres`` when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        raise ClusterUnavailable(f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as") from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", RUN_AS, "--"]
    raise ClusterUnavailable("running as root and runuser is missing (PostgreSQL refuses to run as root)")


@dataclass
class PgCluster:
    """One private server: ``start()``, ``stop(mode)``, ``url``; ``database`` is created by ``create()``."""

    bindir: Path
    root: Path
    port: int = field(default_factory=free_port)
    database: str = "dutydesk"
    prefix: list[str] = field(default_factory=_prefix)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return self.url_of(self.database)

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=timeout,
                                  cwd=self.root)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterUnavailable(f"{Path(args[0]).name} failed: {exc}") from exc

    def _check(self, done: subprocess.CompletedProcess[str], what: str) -> None:
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
            raise ClusterUnavailable(f"{what} failed ({done.returncode}): {tail} {self.log_tail()}".strip())

    def log_tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        return ""

    def init(self) -> PgCluster:
        self._check(self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                              "-E", "UTF8", "--locale=C", "--no-sync"), "initdb")
        return self

    def start(self) -> PgCluster:
        """Starts the server and waits until it accepts connections (after a crash: after its recovery)."""
        options = " ".join([
            f"-p {self.port}", "-h 127.0.0.1", f"-k {self.root}",  # the socket here, not in /var/run/postgresql
            # fsync=off survives a crash of the server (the kernel still has the pages), not one of the machine;
            # synchronous_commit stays on: with it off, a crash loses commits the client was told were done
            "-c fsync=off", "-c full_page_writes=off", "-c max_connections=40",
        ])
        self._check(self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                              "-w", "-t", str(START_TIMEOUT), "start", timeout=START_TIMEOUT + 10), "pg_ctl start")
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ClusterUnavailable(f"the private server does not answer: {exc} {self.log_tail()}") from exc
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``: ``immediate`` is a crash (no checkpoint, recovery at the next start),
        ``fast`` disconnects every client and shuts down cleanly."""
        self._check(self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
                    f"pg_ctl stop -m {mode}")

    def running(self) -> bool:
        return self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def conninfo(self, database: str | None = None) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database or self.database}"

    def create(self, database: str | None = None) -> str:
        """Creates a database (``database``, by default the cluster's own); returns its URL."""
        import psycopg

        name = database or self.database
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def remove(self) -> None:
        with contextlib.suppress(ClusterUnavailable):
            if self.data.exists() and self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _remove_stale(bindir: Path, prefix: list[str]) -> None:
    """Stops and removes clusters that killed test runs left behind (their servers would run on)."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        with contextlib.suppress(OSError):
            if time.time() - root.stat().st_mtime > STALE_AFTER:
                PgCluster(bindir, root, port=0, prefix=prefix).remove()


def make_cluster() -> PgCluster:
    """A new, running, private cluster with an empty ``dutydesk`` database (``remove()`` it afterwards)."""
    bindir = find_bindir()
    prefix = _prefix()
    _remove_stale(bindir, prefix)
    # not under pytest's tmp_path: that is private to root (0700), and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    if prefix:
        entry = pwd.getpwnam(RUN_AS)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = PgCluster(bindir, root, prefix=prefix)
    try:
        cluster.init().start().create()
    except BaseException:
        cluster.remove()
        raise
    return cluster


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster for this module's tests, free to be stopped and started again."""
    try:
        cluster = make_cluster()
    except ClusterUnavailable as exc:
        if in_ci():
            pytest.fail(f"{exc} (CI=true: the PostgreSQL restart tests must run)", pytrace=False)
        pytest.skip(f"no private PostgreSQL cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.remove()
