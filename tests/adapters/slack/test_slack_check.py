"""`dutydesk check --online`, the Slack part, against the fake Slack Web API (issue #21): each thing a start needs
is checked at once, and each failing check says what to fix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_fake import FakeSlack
from slack_harness import APP_TOKEN, BOT_TOKEN, SECRET, USER_TOKEN, slack_settings

from adapters.slack.check import BOT_SCOPES, USER_SCOPES, SlackProbe
from bot.cli import main
from bot.infra.checks import Finding

ROOT = Path(__file__).resolve().parents[3]
GROUPS = {"access": {"slack_groups": {"agent": "S0TEAM", "lead": "S0LEADS"}}}


def test_the_scopes_checked_are_those_of_the_manifest() -> None:
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert set(manifest["oauth_config"]["scopes"]["user"]) == USER_SCOPES


async def check(fake: FakeSlack, *, mode: str = "socket", **sections: Any) -> dict[str, Finding]:
    settings = slack_settings(fake.api_url, user_token=True, **sections)
    settings = settings.model_copy(update={"slack": settings.slack.model_copy(update={"mode": mode})})
    findings = await SlackProbe().run(settings)
    assert len({f.subject for f in findings}) == len(findings)
    return {f.subject: f for f in findings}


async def test_a_desk_ready_to_start_passes_every_check(fake_slack: FakeSlack) -> None:
    fake_slack.usergroups = {"S0TEAM": ["U0ANNA", "U0BEN"], "S0LEADS": ["U0ANNA"]}
    found = await check(fake_slack, **GROUPS)
    assert [(s, f.ok) for s, f in found.items()] == [
        ("bot token", True), ("bot token scopes", True), ("app token", True), ("user token scopes", True),
        ("#general", True), ("#support-duty", True), ("user group S0LEADS", True), ("user group S0TEAM", True)]
    assert found["bot token"].text == "accepted: @dutydesk in workspace Test (T0TEAM)"
    assert found["#support-duty"].text == "private duty channel, the bot is a member"
    assert found["user group S0TEAM"].text == "readable, 2 members"
    # only reading calls, with the right tokens
    assert set(fake_slack.methods()) == {"auth.test", "apps.connections.open", "conversations.list",
                                         "usergroups.users.list"}
    assert {c.token for c in fake_slack.calls if c.method == "auth.test"} == {BOT_TOKEN, USER_TOKEN}
    assert [c.params.get("app_token") or c.token for c in fake_slack.calls
            if c.method == "apps.connections.open"] == [APP_TOKEN]


async def test_a_token_slack_refuses_stops_the_slack_checks_with_the_variable_to_fix(fake_slack: FakeSlack) -> None:
    fake_slack.fail("auth.test", "invalid_auth")
    found = await check(fake_slack)
    assert list(found) == ["bot token"]
    assert not found["bot token"].ok and "DUTYDESK_SLACK__BOT_TOKEN" in found["bot token"].text


async def test_everything_wrong_at_once_is_reported_at_once(fake_slack: FakeSlack) -> None:
    fake_slack.scopes[BOT_TOKEN] = BOT_SCOPES - {"groups:write", "usergroups:read"}
    fake_slack.scopes[USER_TOKEN] = set()
    fake_slack.fail("apps.connections.open", "invalid_auth")
    fake_slack.channels.append({"id": "C0OUT", "name": "outside", "is_private": False, "is_member": False})
    fake_slack.usergroups = {"S0TEAM": ["U0ANNA"]}
    found = await check(fake_slack, channels={"duty": ["#random", "#missing"], "guarded": ["#outside"]}, **GROUPS)
    failing = {s: f.text for s, f in found.items() if not f.ok}
    assert set(failing) == {"bot token scopes", "app token", "user token scopes", "#random", "#missing", "#outside",
                            "user group S0LEADS"}
    assert failing["bot token scopes"].startswith("missing groups:write, usergroups:read: add them")
    assert "reinstall the app" in failing["bot token scopes"]
    assert "chat:write" in failing["user token scopes"]
    assert "DUTYDESK_SLACK__APP_TOKEN" in failing["app token"] and "connections:write" in failing["app token"]
    assert "duty channel is public" in failing["#random"] and "private" in failing["#random"]
    assert "create it as a private channel" in failing["#missing"] and "/invite @dutydesk" in failing["#missing"]
    assert failing["#outside"] == "the bot is not a member of this channel: /invite @dutydesk there"
    assert "no user group S0LEADS" in failing["user group S0LEADS"] and "not its @handle" in failing[
        "user group S0LEADS"]
    assert found["user group S0TEAM"].ok


async def test_http_mode_checks_no_app_token_and_a_missing_scope_header_is_not_a_pass(fake_slack: FakeSlack) -> None:
    fake_slack.scopes[BOT_TOKEN] = None
    found = await check(fake_slack, mode="http")
    assert "app token" not in found
    assert not found["bot token scopes"].ok and "X-OAuth-Scopes" in found["bot token scopes"].text


async def test_an_unreachable_api_is_one_finding(fake_slack: FakeSlack) -> None:
    await fake_slack.stop()
    found = await check(fake_slack)
    assert list(found) == ["api"] and not found["api"].ok
    assert "cannot reach" in found["api"].text and "slack.api_base_url" in found["api"].text


def write_config(tmp_path: Path, api_url: str, db: Path, **extra: Any) -> Path:
    data: dict[str, Any] = {
        "desk": {"name": "HW desk", "ticket_prefix": "HW"},
        "storage": {"url": f"sqlite+aiosqlite:///{db}"},
        "channels": {"duty": ["#support-duty"], "guarded": ["#general"]},
        "slack": {"api_base_url": api_url},
        **extra,
    }
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = tmp_path / "dutydesk.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("BOT_TOKEN", BOT_TOKEN), ("APP_TOKEN", APP_TOKEN), ("SIGNING_SECRET", SECRET)):
        monkeypatch.setenv(f"DUTYDESK_SLACK__{name}", value)


async def test_the_cli_exits_0_only_when_every_check_passes(fake_slack: FakeSlack, tmp_path: Path, slack_env,
                                                            capsys) -> None:
    config = write_config(tmp_path, fake_slack.api_url, tmp_path / "desk.db")
    assert await asyncio.to_thread(main, ["db", "upgrade", "--config", str(config)]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["check", "--config", str(config), "--online"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"ok    config: {config}")
    assert [line.split(":")[0] for line in lines[1:-1]] == ["ok    database"] * 2 + ["ok    slack"] * 5
    assert (lines[-1], err) == ("all 8 checks passed", "")

    fake_slack.channels[0]["is_member"] = False   # the bot was removed from #support-duty
    assert await asyncio.to_thread(main, ["check", "--config", str(config), "--online"]) == 1
    out, err = capsys.readouterr()
    assert "FAIL  slack: #support-duty: the bot is not a member of this duty channel: /invite @dutydesk there" in out
    assert err.strip() == "1 check failed"


async def test_offline_the_check_touches_no_service(fake_slack: FakeSlack, tmp_path: Path, slack_env,
                                                    capsys) -> None:
    config = write_config(tmp_path, fake_slack.api_url, tmp_path / "never.db")
    assert await asyncio.to_thread(main, ["check", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith(f"ok    config: {config}")
    assert fake_slack.calls == [] and not (tmp_path / "never.db").exists()
