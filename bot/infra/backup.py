"""``dutydesk backup`` and ``dutydesk restore``: the desk's state in one archive (docs/admin.md, "Backups").

The archive (a gzipped tar, mode 0600: it holds personal data and the Matrix device's private keys) contains
``dutydesk-backup.json`` (what is inside, the release and the schema revision), the database and the Matrix
end-to-end encryption key store when there is one:

- SQLite: ``database.sqlite3``, a copy made with SQLite's online backup API, consistent while the bot runs.
- PostgreSQL: ``database.pgdump``, ``pg_dump --format=custom`` of the whole database (every table, the sequences
  and ``alembic_version``), made by the ``pg_dump`` on the PATH; restored with ``pg_restore``.
- ``matrix-store/``: the files of ``[matrix] store_path``; its SQLite files copied with the backup API too. The
  store belongs to the database: restore them together (keys and sync position of one device).

Restore replaces nothing without ``--force`` (stop the bot first), and deletes nothing: a SQLite file or a key store
already there is renamed to ``….replaced-<time>``; a PostgreSQL database's tables are replaced (``pg_restore
--clean``), so take a backup of it first.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from bot import version
from bot.settings import Settings
from storage import migrate
from storage.db import make_engine

FORMAT = 1
MANIFEST = "dutydesk-backup.json"
SQLITE_MEMBER = "database.sqlite3"
PGDUMP_MEMBER = "database.pgdump"
STORE_MEMBER = "matrix-store"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do (one line)."""


@dataclass(frozen=True)
class Target:
    """Where a desk keeps its state, from its settings (or ``--db``)."""

    url: URL
    store: Path | None

    @property
    def sqlite_file(self) -> Path | None:
        if self.url.get_backend_name() != "sqlite":
            return None
        if not self.url.database or self.url.database == ":memory:":
            raise BackupError("an in-memory SQLite database has nothing to back up or restore")
        return Path(self.url.database)


def target(settings: Settings, db_url: str | None = None) -> Target:
    url = db_url or settings.storage.url
    matrix = settings.matrix
    store = Path(matrix.store_path).expanduser() if matrix.store_path else matrix.e2ee_store(url)
    return Target(make_url(url), store)


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


# --------------------------------------------------------------------------- backup


async def backup(settings: Settings, out: Path, *, db_url: str | None = None, skip_database: bool = False,
                 now: datetime | None = None) -> dict[str, Any]:
    """Writes the archive to ``out`` (a directory: a new file named after the time in it); returns its manifest."""
    now = now or datetime.now(UTC)
    where = target(settings, db_url)
    if out.is_dir():
        out = out / f"dutydesk-backup-{_stamp(now)}.tar.gz"
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent}: no such directory for the backup; create it or name another OUT")
    manifest: dict[str, Any] = {"format": FORMAT, "dutydesk": version(), "created_at": now.isoformat(),
                                "archive": out.name, "database": None, "matrix_store": None}
    with tempfile.TemporaryDirectory(prefix=".dutydesk-backup-", dir=out.parent) as tmp:
        staging = Path(tmp)
        if not skip_database:
            manifest["database"] = await _backup_database(where, staging)
        if where.store is not None and where.store.is_dir():
            files = _copy_store(where.store, staging / STORE_MEMBER)
            manifest["matrix_store"] = {"path": str(where.store), "files": files}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        partial = staging / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            for name in (MANIFEST, SQLITE_MEMBER, PGDUMP_MEMBER, STORE_MEMBER):
                if (staging / name).exists():
                    archive.add(staging / name, arcname=name)
        partial.chmod(0o600)
        os.replace(partial, out)  # complete or absent: never a half-written archive under the name
    manifest["archive"] = str(out)
    return manifest


async def _backup_database(where: Target, staging: Path) -> dict[str, Any]:
    sqlite_file = where.sqlite_file
    if sqlite_file is not None and not sqlite_file.is_file():  # before connecting, which would create it
        raise BackupError(f"{sqlite_file}: no such database file; check [storage] url (or --db)")
    revision = await _revision(where.url)
    if sqlite_file is not None:
        _sqlite_copy(sqlite_file, staging / SQLITE_MEMBER)
        return {"dialect": "sqlite", "member": SQLITE_MEMBER, "revision": revision}
    _pg_tool("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={staging / PGDUMP_MEMBER}"],
             where.url)
    return {"dialect": "postgresql", "member": PGDUMP_MEMBER, "revision": revision}


async def _revision(url: URL) -> str | None:
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def _sqlite_copy(source: Path, dest: Path) -> None:
    """SQLite's online backup API: a consistent copy while other processes read and write the file."""
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: cannot copy the SQLite database ({exc})") from None
    finally:
        src.close()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _copy_store(store: Path, dest: Path) -> list[str]:
    """The key store's files (nio keeps them in SQLite files, copied with the backup API); returns their names."""
    names = []
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        relative = path.relative_to(store)
        if relative.name.endswith(("-wal", "-shm", "-journal")):
            continue  # the SQLite copy below already holds what they hold
        copy = dest / relative
        copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _is_sqlite(path):
            _sqlite_copy(path, copy)
        else:
            shutil.copy2(path, copy)
        names.append(str(relative))
    return names


def _pg_tool(tool: str, args: list[str], url: URL) -> None:
    """Runs pg_dump or pg_restore on the database of ``url`` (the password through PGPASSWORD, not the command line)."""
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not on the PATH: install the PostgreSQL client tools of the server's major "
                          f"version (Debian: apt-get install postgresql-client), or see docs/admin.md, \"Backups\"")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run([tool, *args, f"--dbname={libpq}"], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{tool} failed: {lines[0] if lines else f'exit status {done.returncode}'}")


def contents(manifest: dict[str, Any]) -> list[str]:
    """What an archive holds, one line each (for the operator)."""
    lines = []
    database = manifest.get("database")
    if database is not None:
        lines.append(f"database: {database['dialect']} at schema revision {database.get('revision') or 'none'}")
    else:
        lines.append("database: not included (--skip-database)")
    store = manifest.get("matrix_store")
    if store is not None:
        lines.append(f"Matrix key store: {len(store['files'])} files from {store['path']}")
    return lines


# --------------------------------------------------------------------------- restore


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            manifest = json.loads(member.read()) if member is not None else None
    except FileNotFoundError:
        raise BackupError(f"{archive}: no such file") from None
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        raise BackupError(f"{archive}: not a dutydesk backup ({type(exc).__name__}); "
                          "name a file made by `dutydesk backup`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: a backup format this dutydesk does not read; restore it with the release "
                          "that made it")
    return manifest


async def restore(settings: Settings, archive: Path, *, db_url: str | None = None, force: bool = False,
                  now: datetime | None = None) -> list[str]:
    """Puts the archive's database and key store where the settings say; returns one line per thing done."""
    now = now or datetime.now(UTC)
    manifest = read_manifest(archive)
    where = target(settings, db_url)
    database = manifest.get("database")
    store = manifest.get("matrix_store")
    if database is not None:
        migrate.pending(database.get("revision"))  # SchemaAhead: a newer release made this backup
        dialect = "sqlite" if where.sqlite_file is not None else "postgresql"
        if database.get("dialect") != dialect:
            raise BackupError(f"{archive}: the backup holds a {database.get('dialect')} database, but [storage] url "
                              f"is {dialect}; restore it into a {database.get('dialect')} database (--db URL)")
    if store is not None and where.store is None:
        raise BackupError(f"{archive}: the backup holds the Matrix key store (from {store.get('path')}), but the "
                          "config sets no matrix.store_path; set it to the directory the keys go to")
    if not force:
        await _refuse_to_replace(where, database is not None, store is not None)
    done: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".dutydesk-restore-") as tmp:
        unpacked = Path(tmp)
        _unpack(archive, unpacked)
        if database is not None:
            done.append(await _restore_database(where, unpacked / database["member"], now=now))
        if store is not None and where.store is not None:
            done.append(_restore_store(unpacked / STORE_MEMBER, where.store, now=now))
    if database is not None:
        current, head = database.get("revision"), migrate.head_revision()
        if current != head:
            done.append(f"the database is at schema revision {current}; this dutydesk needs {head}: run "
                        "`dutydesk db upgrade` (SQLite: `dutydesk run` upgrades it at start)")
    return done


async def _refuse_to_replace(where: Target, database: bool, store: bool) -> None:
    """Without --force nothing that is there is replaced (checked before anything is touched)."""
    problems = []
    sqlite_file = where.sqlite_file
    if database and sqlite_file is not None and sqlite_file.exists():
        problems.append(f"{sqlite_file} exists")
    elif database and sqlite_file is None and (revision := await _revision(where.url)) is not None:
        problems.append(f"the PostgreSQL database {where.url.database} has dutydesk's tables (revision {revision})")
    if store and where.store is not None and where.store.is_dir() and any(where.store.iterdir()):
        problems.append(f"the Matrix key store {where.store} is not empty")
    if problems:
        raise BackupError(f"{' and '.join(problems)}: stop dutydesk (every replica), then restore with --force; "
                          "SQLite files and key stores that are there are kept beside as ….replaced-<time>")


def _unpack(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                raise BackupError(f"{archive}: unexpected entry {member.name!r}; not a backup made by dutydesk")
        tar.extractall(into, filter="data")


def _set_aside(path: Path, now: datetime) -> Path:
    aside = path.with_name(f"{path.name}.replaced-{_stamp(now)}")
    path.rename(aside)
    return aside


async def _restore_database(where: Target, member: Path, *, now: datetime) -> str:
    sqlite_file = where.sqlite_file
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        incoming = sqlite_file.with_name(f".{sqlite_file.name}.restoring")
        shutil.copyfile(member, incoming)
        kept = ""
        if sqlite_file.exists():
            kept = f"; the one before is {_set_aside(sqlite_file, now)}"
        for suffix in ("-wal", "-shm"):  # a stale write-ahead log must never meet the restored file
            sidecar = sqlite_file.with_name(sqlite_file.name + suffix)
            if sidecar.exists():
                _set_aside(sidecar, now)
        os.replace(incoming, sqlite_file)
        return f"database restored to {sqlite_file}{kept}"
    _pg_tool("pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                            str(member)], where.url)
    return f"database restored into the PostgreSQL database {where.url.database}"


def _restore_store(member: Path, store: Path, *, now: datetime) -> str:
    kept = ""
    if store.exists() and any(store.iterdir()):
        kept = f"; the one before is {_set_aside(store, now)}"
    store.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(member, store, dirs_exist_ok=True)
    store.chmod(0o700)
    return f"Matrix key store restored to {store}{kept}"
