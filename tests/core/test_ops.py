"""Operations: ``/healthz`` and Prometheus ``/metrics`` (bot/infra/ops.py) on a real aiohttp server, started
by ``dutydesk run``; structured logs (bot/infra/logs.py); and no message content in the logs at INFO."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import structlog
import yaml

from bot.infra import logs, timers
from bot.infra.ops import OpsServer
from bot.infra.outbox import DeliveryError

MARKER = "Zebra-7731-secret"
SLA = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "sla": "support", "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {"response-P1": {"within": "30m"},
                                                          "response": {"within": "4h"}}}},
}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or key == f"{name}{{{want}}}":
            return float(value)
    return 0.0


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_healthz_and_metrics_follow_the_work(make_harness) -> None:
    desk = await make_harness(**SLA)
    server = OpsServer(desk.bot)
    port = await server.start("127.0.0.1", 0)
    assert port
    try:
        status, body = await get(port, "/metrics")
        assert status == 200
        created, lag = metric(body, "dutydesk_tickets_created_total"), metric(body, "dutydesk_event_lag_seconds_count")
        breaches = metric(body, "dutydesk_sla_breaches_total", clock="response")
        errors = metric(body, "dutydesk_delivery_errors_total", platform="sim", result="retry")

        await desk.send("ben", "/ticket -p1 the mail server is down")
        await desk.send("ben", "/ticket printer on fire")
        # a platform that fails: each failed attempt is counted, the message waits in the outbox
        desk.adapter.fail = lambda m: DeliveryError("rate limited", retry_after=60)
        await desk.send("dora", "/ticket the VPN drops")
        status, text = await get(port, "/healthz")
        health = json.loads(text)
        assert status == 200 and health["status"] == "ok" and health["database"]["ok"] is True
        assert health["outbox"]["pending"] >= 1 and health["outbox"]["dead"] == 0
        assert health["inbox"] == {"unhandled": 0} and health["last_event_at"]
        _, body = await get(port, "/metrics")
        assert metric(body, "dutydesk_tickets_created_total") == created + 3
        assert metric(body, "dutydesk_event_lag_seconds_count") == lag + 3
        assert metric(body, "dutydesk_delivery_errors_total", platform="sim", result="retry") > errors
        assert metric(body, "dutydesk_outbox_depth") == health["outbox"]["pending"]
        assert metric(body, "dutydesk_database_up") == 1

        desk.adapter.fail = None
        desk.advance(minutes=45)  # the Prio-1 first response (30 min) is breached
        await timers.fire_due(desk.bot.desk)
        _, body = await get(port, "/metrics")
        assert metric(body, "dutydesk_sla_breaches_total", clock="response") == breaches + 1
        assert MARKER not in body
    finally:
        await server.stop()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_rolled_back_ticket_is_not_counted(make_harness, monkeypatch) -> None:
    from bot.infra import metrics
    from bot.tickets import card

    desk = await make_harness()
    before = metrics.TICKETS_CREATED._value.get()
    # fails after the ticket's INSERT: the duty channel's card is the last step of opening a ticket
    monkeypatch.setattr(card, "open_card", lambda *a, **k: 1 / 0)
    await desk.send("ben", "/ticket fails after the insert")
    assert metrics.TICKETS_CREATED._value.get() == before
    assert metrics.EVENTS.labels("command", "failed")._value.get() >= 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_healthz_says_down_when_the_database_is_gone(make_harness, tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    shutil.copyfile(tmp_path / "dutydesk.db", folder / "dutydesk.db")
    desk = await make_harness(url=f"sqlite+aiosqlite:///{folder / 'dutydesk.db'}")
    server = OpsServer(desk.bot)
    port = await server.start("127.0.0.1", 0)
    try:
        assert (await get(port, "/healthz"))[0] == 200
        await desk.bot.engine.dispose()
        shutil.rmtree(folder)
        status, text = await get(port, "/healthz")
        assert status == 503 and json.loads(text)["status"] == "down"
        assert metric((await get(port, "/metrics"))[1], "dutydesk_database_up") == 0
    finally:
        await server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dutydesk_run_serves_healthz_and_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DUTYDESK_OPS__PORT": str(port), "DUTYDESK_LOG_FORMAT": "json", "DUTYDESK_LOG_LEVEL": "INFO"}
    env.pop("DUTYDESK_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async def probe() -> tuple[int, str]:
            for _ in range(300):
                try:
                    return await get(port, "/healthz")
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            raise AssertionError("dutydesk run never served /healthz")

        status, text = asyncio.run(probe())
        assert status == 200 and json.loads(text)["platforms"] == ["console"]
        assert "dutydesk_outbox_depth" in asyncio.run(get(port, "/metrics"))[1]
        out, err = proc.communicate(f"/ticket {MARKER} printer on fire\n/quit\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "T-1" in out
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("/healthz" in r["event"] for r in records)
    assert MARKER not in err


async def test_no_message_content_in_the_logs_at_info(tmp_path: Path, make_harness, caplog) -> None:
    """A scenario full of a marker text, then failures that carry it in their exception texts: the
    log at INFO has ids, references and exception types, never the text."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({
        "config": {"desk": {"ticket_prefix": "HW"}, "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]}},
                   "channels": {"duty": ["#support-duty"], "guarded": ["#general"], "privacy_mode": "move"}},
        "start": "2026-11-24T15:50:00+01:00",
        "steps": [
            {"user": "ben", "channel": "#general", "text": f"the shop is down {MARKER}", "id": "m1"},
            {"user": "carl", "thread": "m1", "text": f"same here {MARKER}"},
            {"user": "anna", "react": "ticket", "message": "m1"},
            {"user": "dora", "dm": True, "text": f"/ticket -p1 {MARKER} printer"},
            {"user": "anna", "dm": True, "text": f"/ticket note HW-2 {MARKER}"},
            {"user": "dora", "dm": True, "text": f"{MARKER} in a plain DM"},
            {"user": "anna", "dm": True, "text": f"/ticket nonsense {MARKER} --bad"},
            {"after": "2h"},
        ]}))
    env = {**os.environ, "DUTYDESK_LOG_LEVEL": "INFO", "DUTYDESK_LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "simulate", str(scenario)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert MARKER in done.stdout  # the transcript has it; the log must not
    assert done.stderr.strip() and all(json.loads(line) for line in done.stderr.splitlines())
    assert MARKER not in done.stderr

    # failures whose exception texts quote the content: an adapter and a command handler
    from bot.tickets import card

    desk = await make_harness()
    caplog.set_level(logging.INFO)
    desk.adapter.fail = lambda m: RuntimeError(f"cannot send {m.text!r}")

    def boom(*_a, **_k):
        raise ValueError(f"cannot notify about {MARKER}")

    open_card = card.open_card
    card.open_card = boom  # type: ignore[assignment]
    try:
        await desk.send("dora", f"/ticket {MARKER} second")
    finally:
        card.open_card = open_card  # type: ignore[assignment]
    await desk.send("dora", f"/ticket {MARKER} third")
    assert "RuntimeError" in caplog.text and "ValueError" in caplog.text
    assert MARKER not in caplog.text


def test_log_formats(capsys) -> None:
    import io

    for fmt in ("json", "console"):
        stream = io.StringIO()
        logs.configure(fmt, "INFO", stream)
        logging.getLogger("dutydesk.test").info("event %s stored", "sim:1")
        line = stream.getvalue().strip()
        if fmt == "json":
            record = json.loads(line)
            assert (record["event"], record["level"]) == ("event sim:1 stored", "info")
            assert record["logger"] == "dutydesk.test"
            assert record["timestamp"].endswith("Z")
        else:
            assert "event sim:1 stored" in line and "info" in line
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_dutydesk", False)]:
        root.removeHandler(handler)


def test_events_are_key_value_in_both_formats() -> None:
    import io

    log = structlog.stdlib.get_logger("dutydesk.test")
    for fmt in ("json", "console"):
        stream = io.StringIO()
        logs.configure(fmt, "INFO", stream)
        log.info("outbox: row sent", row=7, platform="slack")
        log.debug("outbox: below the level", row=8)
        (line,) = stream.getvalue().strip().splitlines()
        if fmt == "json":
            record = json.loads(line)
            assert {k: record[k] for k in ("event", "row", "platform", "level", "logger")} == {
                "event": "outbox: row sent", "row": 7, "platform": "slack", "level": "info", "logger": "dutydesk.test"}
        else:
            assert "outbox: row sent" in line and "row=7" in line and "platform=slack" in line
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_dutydesk", False)]:
        root.removeHandler(handler)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_with_a_token_metrics_and_health_details_need_it(make_harness) -> None:
    """[ops] token (DUTYDESK_OPS__TOKEN), for an ops listener others can reach: /metrics needs the bearer token,
    /healthz without it tells up or down and nothing else (probes carry no token)."""
    desk = await make_harness()
    server = OpsServer(desk.bot, token="s3cret-ops-token")
    port = await server.start("127.0.0.1", 0)
    assert port

    async def ask(path: str, authorization: str | None = None) -> tuple[int, str]:
        headers = {"Authorization": authorization} if authorization else {}
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}",
                                                             headers=headers) as response:
            return response.status, await response.text()

    try:
        for wrong in (None, "Bearer nope", "Basic s3cret-ops-token", "Bearer s3cret-ops-token-and-more", "Bearer"):
            status, text = await ask("/metrics", wrong)
            assert status == 401 and "dutydesk_" not in text, wrong
            status, text = await ask("/healthz", wrong)
            assert (status, json.loads(text)) == (200, {"status": "ok"}), wrong
        status, text = await ask("/metrics", "Bearer s3cret-ops-token")
        assert status == 200 and "dutydesk_tickets_created_total" in text
        status, text = await ask("/healthz", "bearer s3cret-ops-token")
        assert status == 200 and json.loads(text)["outbox"]["pending"] == 0
    finally:
        await server.stop()


def test_the_ops_token_is_a_secret_from_the_environment() -> None:
    from bot.settings import ConfigError, settings_from_data

    settings = settings_from_data({}, "(test)", env={"DUTYDESK_OPS__TOKEN": "s3cret-ops-token"})
    assert settings.ops.token is not None and settings.ops.token.get_secret_value() == "s3cret-ops-token"
    with pytest.raises(ConfigError) as refused:
        settings_from_data({"ops": {"token": "s3cret-ops-token"}}, "(test)", env={})
    problems = str(refused.value.problems)
    assert "DUTYDESK_OPS__TOKEN" in problems and "s3cret-ops-token" not in problems
