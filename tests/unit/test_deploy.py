"""The deployment examples of deploy/ stay true to the code (issue #21): the example environment file lists every
secret the settings read, the compose file runs the migration before the bot, the unit runs `dutydesk run`."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from bot.settings import ENV_PREFIX, secret_keys

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_the_example_environment_lists_every_secret_commented_out() -> None:
    text = (DEPLOY / "dutydesk.env.example").read_text()
    listed = set(re.findall(r"^#(DUTYDESK_\w+)=", text, re.MULTILINE))
    secrets = {f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
               for section, keys in secret_keys().items() for key in keys}
    assert secrets <= listed, f"add {sorted(secrets - listed)} to deploy/dutydesk.env.example"
    assert "DUTYDESK_STORAGE__URL" in listed
    # nothing is set by copying the file: a variable set to nothing would count as set
    assert not re.findall(r"^[A-Z_]+=", text, re.MULTILINE)


def test_compose_migrates_before_the_bot_and_keeps_ops_on_loopback() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "dutydesk"}
    assert services["migrate"]["command"][:2] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["dutydesk"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all(port.startswith("127.0.0.1:") for port in services["dutydesk"]["ports"])
    assert services["dutydesk"]["environment"]["DUTYDESK_STORAGE__URL"].startswith("postgresql+psycopg://")


def test_the_unit_runs_the_bot_after_the_migration_and_stops_it_with_sigterm() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str   # type: ignore[assignment, method-assign]
    unit.read(DEPLOY / "dutydesk.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("dutydesk run --config /etc/dutydesk/dutydesk.toml")
    assert service["ExecStartPre"].endswith("dutydesk db upgrade --config /etc/dutydesk/dutydesk.toml")
    assert service["KillSignal"] == "SIGTERM" and service["User"] == "dutydesk"
    assert service["EnvironmentFile"] == "/etc/dutydesk/dutydesk.env"
    assert service["RestartPreventExitStatus"] == "2"
