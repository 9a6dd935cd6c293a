"""`dutydesk backup` and `dutydesk restore` (issue #21): a round trip on SQLite (taken while the bot writes, with the
Matrix key store of a real nio device) and on PostgreSQL (pg_dump / pg_restore); restore replaces nothing without
--force and deletes nothing; bad input is one line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, AsyncClientConfig
from sqlalchemy.engine import make_url

from bot.app import build
from bot.cli import main
from bot.core.clock import VirtualClock
from bot.infra import backup
from bot.settings import settings_from_data
from storage import migrate
from storage.models import Ticket
from tests.conftest import DESK, START, FakeAdapter, Harness

USER, DEVICE = "@dutydesk:example.org", "DUTYDESK"


def write_config(tmp_path: Path, url: str, store: Path | None) -> Path:
    matrix = f'\n[matrix]\nstore_path = "{store}"\n' if store is not None else ""
    path = tmp_path / "dutydesk.toml"
    path.write_text(f'[desk]\nname = "HW desk"\nticket_prefix = "HW"\n\n[storage]\nurl = "{url}"\n'
                    f'\n[people.anna]\nname = "Anna"\nroles = ["agent", "lead"]\n{matrix}')
    return path


async def device_keys(store: Path) -> dict[str, str]:
    """Opens (or creates) the nio key store of the bot's device; returns its identity keys."""
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    client = AsyncClient("http://127.0.0.1:9", USER, device_id=DEVICE, store_path=str(store),
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
    try:
        client.restore_login(USER, DEVICE, "token")
        assert client.olm is not None
        return dict(client.olm.account.identity_keys)
    finally:
        await client.close()


async def open_desk(url: str) -> Harness:
    settings = settings_from_data(json.loads(json.dumps(DESK)), "(backup desk)")
    adapter = FakeAdapter()
    clock = VirtualClock(START)
    return Harness(await build(settings, clock, [adapter], db_url=url), clock, adapter)


async def keys_of_tickets(url: str) -> list[tuple[str, str]]:
    desk = await open_desk(url)
    try:
        return [(t.key, t.title) for t in await desk.rows(Ticket, order=Ticket.number)]
    finally:
        await desk.bot.close()


async def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_sqlite_round_trip_with_the_key_store_taken_while_the_bot_writes(tmp_path: Path, capsys) -> None:
    db = tmp_path / "data" / "dutydesk.db"
    store = tmp_path / "data" / "matrix-store"
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{db}", store)
    keys = await device_keys(store)
    desk = await open_desk(f"sqlite+aiosqlite:///{db}")
    try:
        await desk.send("ben", "/ticket printer on fire")
        await desk.send("rita", "/ticket VPN drops")
        # the bot keeps running (its engine open, WAL mode) while the backup is taken
        code, out, err = await run("backup", "--config", str(config), str(tmp_path), capsys=capsys)
        await desk.send("ben", "/ticket written after the backup")
    finally:
        await desk.bot.close()
    assert (code, err) == (0, "")
    (archive,) = tmp_path.glob("dutydesk-backup-*.tar.gz")
    assert str(archive) in out
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600   # personal data and the device's private keys
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"dutydesk-backup.json", "database.sqlite3", "matrix-store", f"matrix-store/{USER}_{DEVICE}.db"} <= names
    manifest = backup.read_manifest(archive)
    assert manifest["database"] == {"dialect": "sqlite", "member": "database.sqlite3",
                                    "revision": migrate.head_revision()}

    # the disk is lost: restore onto nothing
    for path in sorted(db.parent.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    code, out, err = await run("restore", "--config", str(config), str(archive), capsys=capsys)
    assert (code, err) == (0, "")
    assert f"database restored to {db}" in out and f"Matrix key store restored to {store}" in out
    assert await keys_of_tickets(f"sqlite+aiosqlite:///{db}") == [("HW-1", "printer on fire"), ("HW-2", "VPN drops")]
    assert await device_keys(store) == keys   # the same device: it reads what was encrypted for it
    assert stat.S_IMODE(store.stat().st_mode) == 0o700


async def test_restore_replaces_nothing_without_force_and_deletes_nothing(tmp_path: Path, capsys) -> None:
    db = tmp_path / "dutydesk.db"
    store = tmp_path / "matrix-store"
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{db}", store)
    await device_keys(store)
    desk = await open_desk(f"sqlite+aiosqlite:///{db}")
    await desk.send("ben", "/ticket in the backup")
    await desk.bot.close()
    archive = tmp_path / "desk.tar.gz"
    assert (await run("backup", "--config", str(config), str(archive), capsys=capsys))[0] == 0

    desk = await open_desk(f"sqlite+aiosqlite:///{db}")
    await desk.send("ben", "/ticket after the backup")
    await desk.bot.close()
    code, out, err = await run("restore", "--config", str(config), str(archive), capsys=capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "--force" in err and str(db) in err and str(store) in err
    assert len(await keys_of_tickets(f"sqlite+aiosqlite:///{db}")) == 2   # untouched

    code, out, err = await run("restore", "--force", "--config", str(config), str(archive), capsys=capsys)
    assert (code, err) == (0, "")
    assert await keys_of_tickets(f"sqlite+aiosqlite:///{db}") == [("HW-1", "in the backup")]
    (kept,) = tmp_path.glob("dutydesk.db.replaced-*")
    assert await keys_of_tickets(f"sqlite+aiosqlite:///{kept}") == [("HW-1", "in the backup"),
                                                                     ("HW-2", "after the backup")]
    assert len(list(tmp_path.glob("matrix-store.replaced-*"))) == 1


@pytest.mark.postgres
async def test_postgres_round_trip_with_pg_dump(fresh_pg_url: str, tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, fresh_pg_url, None)
    assert (await run("db", "upgrade", "--config", str(config), capsys=capsys))[0] == 0
    desk = await open_desk(fresh_pg_url)
    await desk.send("ben", "/ticket printer on fire")
    await desk.bot.close()
    archive = tmp_path / "pg.tar.gz"
    code, out, err = await run("backup", "--config", str(config), str(archive), capsys=capsys)
    assert (code, err) == (0, ""), err
    assert backup.read_manifest(archive)["database"]["dialect"] == "postgresql"

    desk = await open_desk(fresh_pg_url)
    await desk.send("ben", "/ticket lost by the restore")
    await desk.bot.close()
    code, out, err = await run("restore", "--config", str(config), str(archive), capsys=capsys)
    assert code == 2 and "--force" in err and "revision" in err
    code, out, err = await run("restore", "--force", "--config", str(config), str(archive), capsys=capsys)
    assert (code, err) == (0, ""), err
    assert out.startswith(f"database restored into the PostgreSQL database {make_url(fresh_pg_url).database}")
    assert await keys_of_tickets(fresh_pg_url) == [("HW-1", "printer on fire")]
    desk = await open_desk(fresh_pg_url)   # the sequences came back too: new rows get new ids
    try:
        assert "HW-2" in (await desk.reply("rita", "/ticket after the restore")).text
    finally:
        await desk.bot.close()


@pytest.mark.parametrize(("argv", "words"), [
    (["backup", "--db", "sqlite+aiosqlite:///{tmp}/missing.db", "{tmp}"], ["missing.db", "no such database file"]),
    (["backup", "--db", "sqlite+aiosqlite:///{tmp}/x.db", "{tmp}/no/such/dir/out.tar.gz"], ["no such directory"]),
    (["restore", "--db", "sqlite+aiosqlite:///{tmp}/x.db", "{tmp}/nothing.tar.gz"], ["nothing.tar.gz", "no such file"]),
    (["restore", "--db", "sqlite+aiosqlite:///{tmp}/x.db", "{tmp}/garbage.tar.gz"], ["not a dutydesk backup"]),
])
async def test_bad_input_is_one_line(tmp_path: Path, capsys, argv: list[str], words: list[str]) -> None:
    (tmp_path / "garbage.tar.gz").write_bytes(b"not a tar file at all")
    code, out, err = await run(*[a.format(tmp=tmp_path) for a in argv], capsys=capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and all(word in err for word in words), err
    assert not (tmp_path / "missing.db").exists()   # a backup never creates the database it could not find


async def test_a_backup_of_a_newer_release_is_refused(tmp_path: Path, capsys) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    manifest: dict[str, Any] = {"format": 1, "dutydesk": "9.0.0", "created_at": "2030-01-01T00:00:00+00:00",
                                "database": {"dialect": "sqlite", "member": "database.sqlite3", "revision": "0999"},
                                "matrix_store": None}
    (staging / "dutydesk-backup.json").write_text(json.dumps(manifest))
    (staging / "database.sqlite3").write_bytes(b"")
    archive = tmp_path / "newer.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in staging.iterdir():
            tar.add(path, arcname=path.name)
    code, out, err = await run("restore", "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", str(archive),
                               capsys=capsys)
    assert (code, out) == (2, "")
    assert "0999" in err and "newer release" in err
    assert not (tmp_path / "x.db").exists()
