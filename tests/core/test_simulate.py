"""`dutydesk simulate` end to end, as a subprocess and in-process, on the scenarios in tests/scenarios/."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.i18n import t
from bot.simulate import ScenarioError, simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DUTYDESK = str(Path(sys.executable).parent / "dutydesk")
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KEYS = {"at", "to", "visibility", "kind", "ticket", "text"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUTYDESK_")}
    return subprocess.run([DUTYDESK, "simulate", *args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=cwd)


async def run_in_process(path: Path, **kwargs: str) -> list[dict]:
    out = io.StringIO()
    await simulate(path, out, **kwargs)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def check_shape(lines: list[dict]) -> None:
    for line in lines:
        if "updated" in line:
            assert set(line) == KEYS | {"updated", "buttons"}, line
            continue
        if "archived" in line:
            assert set(line) == {"at", "archived"}, line
            continue
        assert set(line) >= KEYS | {"id"}, line
        assert UTC_Z.match(line["at"]), line["at"]
        assert line["visibility"] in ("public", "private", "ephemeral")
        assert ("for" in line) == (line["visibility"] == "ephemeral")
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)


def about(lines: list[dict], **match: object) -> list[dict]:
    return [line for line in lines if all(line.get(k) == v for k, v in match.items())]


@pytest.fixture(scope="module")
def slack_transcript() -> list[dict]:
    run = run_cli(str(SCENARIOS / "slack_desk.yaml"))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def test_slack_transcript_shape(slack_transcript: list[dict]) -> None:
    check_shape(slack_transcript)


def test_receipt_is_ephemeral_for_the_reporter(slack_transcript: list[dict]) -> None:
    (receipt,) = about(slack_transcript, kind="receipt", ticket="HW-1")
    assert receipt["id"].startswith("bot-")
    assert {key: value for key, value in receipt.items() if key != "id"} == {
        "at": "2026-11-24T14:50:00Z", "to": "#general", "visibility": "ephemeral", "kind": "receipt",
        "ticket": "HW-1", "for": "@carl",
        "text": t("en", "ticket.receipt", key="HW-1", priority=2, priority_name="normal",
                  next=t("en", "ticket.next", key="HW-1")),
    }


def test_ticket_space_and_duty_channel_are_private(slack_transcript: list[dict]) -> None:
    space = about(slack_transcript, to="ticket:HW-1")
    assert space and all(line["visibility"] == "private" and line["ticket"] == "HW-1" for line in space)
    assert space[0]["text"] == "HW-1 · P2 · opened by carl:\nthe shop is down"
    duty = about(slack_transcript, to="#support-duty")
    assert duty and all(line["visibility"] in ("private", "ephemeral") for line in duty)
    assert about(duty, kind="notice", ticket="HW-1")[0]["text"] == t(
        "en", "ticket.duty_new", key="HW-1", priority=2, who="carl", title="the shop is down")
    # nothing about a problem is ever public
    assert about(slack_transcript, visibility="public") == []


def test_dm_ticket(slack_transcript: list[dict]) -> None:
    (receipt,) = about(slack_transcript, kind="receipt", ticket="HW-2")
    assert (receipt["to"], receipt["visibility"], receipt["at"]) == ("@dora", "private", "2026-11-24T15:00:00Z")
    assert "for" not in receipt


def test_take_action(slack_transcript: list[dict]) -> None:
    # the Take button of the ticket's card in the duty channel: the card changes in place (Take is gone), the
    # ticket's space hears it, and Anna gets the answer where she pressed it
    taken = about(slack_transcript, at="2026-11-24T15:05:00Z")
    duty = about(slack_transcript, kind="notice", ticket="HW-1", to="#support-duty")
    (card,) = [line for line in duty if "id" in line]
    assert card["buttons"] == ["take", "priority", "close"]
    assert taken[0] == {"at": "2026-11-24T15:05:00Z", "updated": card["id"], "ticket": "HW-1", "kind": "notice",
                        "to": "#support-duty", "visibility": "private",
                        "text": card["text"] + "\nin progress · P2 · Anna (last change: Anna)",
                        "buttons": ["priority", "close"]}
    assert [(line["to"], line["kind"]) for line in taken[1:]] == [("ticket:HW-1", "notice"), ("#support-duty", "reply")]
    assert taken[1]["text"] == t("en", "ticket.state_changed", key="HW-1", state="in progress", who="Anna")


def test_requester_message_in_the_space_and_agent_reply(slack_transcript: list[dict]) -> None:
    (reply,) = about(slack_transcript, to="ticket:HW-1", kind="reply")
    assert reply["at"] == "2026-11-24T15:06:00Z"
    assert reply["text"] == "Anna: we restarted the shop, please try again"
    (show,) = [line for line in about(slack_transcript, at="2026-11-24T15:06:30Z") if line["for"] == "@anna"]
    history = show["text"].splitlines()
    assert "Tue 24 Nov, 15:06 carl: it's still down, error 500" in history
    assert "Tue 24 Nov, 15:06 Anna answered: we restarted the shop, please try again" in history


def test_queue_in_the_duty_channel(slack_transcript: list[dict]) -> None:
    (queue,) = [line for line in slack_transcript if line["text"].startswith("Queue:")]
    assert (queue["to"], queue["visibility"], queue["for"]) == ("#support-duty", "ephemeral", "@anna")
    assert "HW-1 P2 in progress, 16 minutes, Anna — the shop is down" in queue["text"]


def test_requester_cannot_see_another_ticket(slack_transcript: list[dict]) -> None:
    (answer,) = [line for line in slack_transcript if line.get("for") == "@carl" and line["kind"] != "receipt"]
    assert answer["text"] == t("en", "ticket.not_found", key="HW-2")
    assert answer["ticket"] is None and "laptop" not in answer["text"]


async def test_in_process_gives_the_same_transcript(slack_transcript: list[dict]) -> None:
    assert await run_in_process(SCENARIOS / "slack_desk.yaml") == slack_transcript


async def test_matrix_platform() -> None:
    lines = await run_in_process(SCENARIOS / "matrix_desk.yaml")
    check_shape(lines)
    assert about(lines, visibility="ephemeral") == []
    (receipt,) = about(lines, kind="receipt")
    assert (receipt["to"], receipt["visibility"], receipt["ticket"]) == ("@carl", "private", "HW-1")
    assert receipt["at"] == "2026-11-24T09:00:00Z"
    # "/ticket" is not a command on Matrix: no second ticket
    assert {line["ticket"] for line in lines} == {"HW-1", None}
    (queue,) = [line for line in lines if line["text"].startswith("Queue:")]
    assert (queue["to"], queue["visibility"]) == ("@anna", "private")
    (show,) = [line for line in about(lines, to="@carl") if line["kind"] == "reply"]
    assert show["text"].startswith("HW-1: printer on fire")


async def test_inline_config_and_a_given_database(tmp_path: Path) -> None:
    scenario = {
        "config": {"desk": {"ticket_prefix": "IT"}, "people": {"eve": {"name": "Eve"}},
                   "channels": {"duty": ["slack:#it-duty"]}},
        "start": "2026-03-29T01:30:00+01:00",  # Berlin changes to summer time at 02:00
        "steps": [
            {"user": "bob", "channel": "#help", "text": "/ticket VPN down"},
            {"after": "1h", "user": "bob", "channel": "#help", "text": "/ticket -p3 mouse squeaks"},
        ],
    }
    path = tmp_path / "inline.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    db = tmp_path / "rehearsal.db"
    run = run_cli(str(path), "--db", f"sqlite+aiosqlite:///{db}")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    check_shape(lines)
    assert [line["at"] for line in about(lines, kind="receipt")] == ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"]
    assert [line["ticket"] for line in about(lines, kind="receipt")] == ["IT-1", "IT-2"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select key, priority from tickets order by number").fetchall() == [("IT-1", 2),
                                                                                               ("IT-2", 3)]


# --------------------------------------------------------------------------- bad scenarios

BAD = {
    "bad_unknown_key.yaml": r"step 2: unknown key \"chanel\"",
    "bad_unknown_message.yaml": r"step 3: unknown message \"m2\"",
    "bad_time_back.yaml": r"step 2: .*the clock never goes back",
    "bad_yaml.yaml": r"not valid YAML at line \d+",
    "no_such_scenario.yaml": r"no such scenario file",
}


def test_bad_scenario_cli_subprocess() -> None:
    run = run_cli(str(SCENARIOS / "bad_unknown_key.yaml"))
    assert (run.returncode, run.stdout) == (2, "")
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert re.search(BAD["bad_unknown_key.yaml"], line), line


@pytest.mark.parametrize("name", list(BAD))
def test_bad_scenario_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's entry point in this process (a subprocess per case would only add start-up time)."""
    assert main(["simulate", str(SCENARIOS / name)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert re.search(BAD[name], line), line


@pytest.mark.parametrize("name", list(BAD))
async def test_bad_scenario_in_process(name: str) -> None:
    out = io.StringIO()
    with pytest.raises(ScenarioError, match=BAD[name]):
        await simulate(SCENARIOS / name, out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"user": "x", "text": "hi"}, "step 1: say where the text is written"),
        ({"user": "x", "action": "take"}, "step 1: action needs ticket"),
        ({"user": "x", "channel": "#a", "text": "hi", "react": "ticket", "message": "m"}, "step 1: a step does one"),
        ({"text": "hi", "channel": "#a"}, "step 1: text needs a user"),
        ({"at": "2026-11-24T16:00:00", "user": "x", "channel": "#a", "text": "hi"}, "step 1: at: needs an offset"),
        ({"after": "soon", "user": "x", "channel": "#a", "text": "hi"}, "step 1: after: \"soon\" is not a duration"),
        ({"at": "2026-11-24T14:00:00+01:00", "user": "x", "channel": "#a", "text": "hi"},
         "step 1: .*the clock never goes back"),
    ],
)
async def test_step_errors_name_the_step(tmp_path: Path, step: dict, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"config": {}, "start": "2026-11-24T15:50:00+01:00", "steps": [step]}),
                    encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(ScenarioError, match=words):
        await simulate(path, out)
    assert out.getvalue() == ""


def test_bad_config_of_a_scenario_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "badconfig.yaml"
    path.write_text(yaml.safe_dump({"config": {"desk": {"langauge": "de"}}, "start": "2026-11-24T15:50:00Z",
                                    "steps": [{"until": "2026-11-24T16:00:00Z"}]}), encoding="utf-8")
    assert main(["simulate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert "desk.langauge: unknown key" in line
