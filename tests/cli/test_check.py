"""`dutydesk check [--online]` (issue #21): the database part, the interface every part contributes through, and the
exit status (0 only when every check passed). The platforms' parts are tested against the fake Slack Web API
(tests/adapters/slack/test_slack_check.py) and the real Synapse (tests/adapters/matrix/test_matrix_check.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.infra.checks import DatabaseProbe, Finding, failed, passed, report, run_probes
from bot.settings import Settings, settings_from_data
from storage import migrate
from storage.db import make_engine


def desk(url: str) -> Settings:
    return settings_from_data({"storage": {"url": url}}, "(check desk)")


async def database(url: str) -> dict[str, Finding]:
    return {f.subject: f for f in await DatabaseProbe().run(desk(url))}


async def test_a_sqlite_file_that_is_not_there_yet_is_fine_and_not_created(tmp_path: Path) -> None:
    found = await database(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    assert [(s, f.ok) for s, f in found.items()] == [("file", True)]
    assert "`dutydesk run` creates and migrates it" in found["file"].text
    assert not (tmp_path / "new.db").exists()
    found = await database(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'dir' / 'new.db'}")
    assert not found["file"].ok and "not a writable directory" in found["file"].text


async def test_sqlite_behind_is_upgraded_by_run(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    await migrate.upgrade(engine, "0004")
    await engine.dispose()
    found = await database(url)
    assert found["connection"].ok and "SQLite 3." in found["connection"].text
    assert found["schema"].ok and "at revision 0004; `dutydesk run` upgrades it" in found["schema"].text


@pytest.mark.postgres
async def test_postgres_behind_at_head_and_ahead(fresh_pg_url: str) -> None:
    found = await database(fresh_pg_url)
    assert found["connection"].ok and "PostgreSQL" in found["connection"].text
    assert not found["schema"].ok
    assert found["schema"].text == (f"at revision none (empty), this release needs {migrate.head_revision()}: run "
                                    "`dutydesk db upgrade --config FILE` before starting")
    engine = make_engine(fresh_pg_url)
    try:
        await migrate.upgrade(engine)
        assert (await database(fresh_pg_url))["schema"].ok
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    finally:
        await engine.dispose()
    schema = (await database(fresh_pg_url))["schema"]
    assert not schema.ok and "0999" in schema.text and "newer release" in schema.text


async def test_an_unreachable_database_names_the_url_without_its_password() -> None:
    found = await database("postgresql+psycopg://dutydesk:s3cret@127.0.0.1:9/desk")
    assert list(found) == ["connection"] and not found["connection"].ok
    text = found["connection"].text
    assert "cannot reach postgresql+psycopg://dutydesk:***@127.0.0.1:9/desk" in text and "s3cret" not in text


class Broken:
    area = "broken"

    def applies(self, settings: Settings) -> bool:
        return True

    async def run(self, settings: Settings) -> list[Finding]:
        raise KeyError("no such thing")


class Hangs:
    area = "hangs"

    def applies(self, settings: Settings) -> bool:
        return True

    async def run(self, settings: Settings) -> list[Finding]:
        await asyncio.Event().wait()
        raise AssertionError("never")


class Unused:
    area = "unused"

    def applies(self, settings: Settings) -> bool:
        return False

    async def run(self, settings: Settings) -> list[Finding]:
        raise AssertionError("a probe that does not apply is not run")


async def test_a_probe_that_breaks_or_hangs_is_a_failing_finding_and_the_others_still_report(tmp_path) -> None:
    settings = desk(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    findings = await run_probes(settings, [Broken(), DatabaseProbe(), Hangs(), Unused()], timeout=0.2)
    assert [(f.area, f.subject, f.ok) for f in findings] == [
        ("broken", "check", False), ("database", "file", True), ("hangs", "answer", False)]
    assert findings[0].text == "the check itself failed (KeyError: 'no such thing')"
    assert findings[2].text.startswith("no answer within 0 s")


def test_report_prints_every_finding_and_exits_1_when_one_failed(capsys) -> None:
    assert report([passed("a", "x", "fine"), failed("b", "y", "broken: fix it"), failed("c", "z", "too")]) == 1
    out, err = capsys.readouterr()
    assert out == "ok    a: x: fine\nFAIL  b: y: broken: fix it\nFAIL  c: z: too\n"
    assert err == "2 checks failed\n"
    assert report([passed("a", "x", "fine")]) == 0
    assert capsys.readouterr() == ("ok    a: x: fine\nthe check passed\n", "")


def test_a_config_that_cannot_load_is_exit_2_with_its_problems(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[desk]\nlanguage = "fr"\n[slack]\nbot_token = "xoxb-in-the-file"\n')
    assert main(["check", "--config", str(bad), "--online"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "desk.language" in err and "DUTYDESK_SLACK__BOT_TOKEN" in err and "Traceback" not in err


def test_the_cli_checks_the_config_then_the_database(tmp_path: Path, capsys) -> None:
    db = tmp_path / "desk.db"
    sqlite3.connect(db).close()   # an empty file: run would migrate it
    config = tmp_path / "desk.toml"
    config.write_text(f'[storage]\nurl = "sqlite+aiosqlite:///{db}"\n')
    assert main(["check", "--config", str(config), "--online"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok    config: {config}: people: 0, calendars: 0, SLA policies: 0"
    assert out[2].startswith("ok    database: schema: at revision none; `dutydesk run` upgrades it")
    assert out[-1] == "all 3 checks passed"
