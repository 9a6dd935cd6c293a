"""Nobody gets in: every registered command, run by every role through the real dispatcher, is refused
exactly when the role table of bot/access says so; a requester never sees another requester's
ticket, and internal notes stay with the agents.

The expectations are written out here from the documented roles (bot/access/__init__.py), not
computed by the code under test.
"""

from __future__ import annotations

import itertools

import pytest

from bot.core.registry import Parsed
from bot.features import build_registry
from bot.i18n import t
from storage.models import ProcessedEvent

PEOPLE = {
    "ann": {"name": "Ann", "roles": ["agent"]},
    "lee": {"name": "Lee", "roles": ["lead"]},
    "cora": {"name": "Cora", "roles": ["coordinator"]},
    "adam": {"name": "Adam", "roles": ["admin"]},
}
ROLE_OF = {"rita": "requester", "ann": "agent", "lee": "lead", "cora": "coordinator", "adam": "admin"}
# who may run a command of each permission (DESIGN.md roles; an admin may do everything)
ALLOWED = {
    "anyone": {"requester", "agent", "lead", "coordinator", "admin"},
    "staff": {"agent", "lead", "coordinator", "admin"},
    "agent": {"agent", "lead", "admin"},
    "lead": {"lead", "admin"},
    "coordinator": {"coordinator", "admin"},
    "admin": {"admin"},
}
REGISTRY = build_registry()


CANDIDATES = ("HW-1", "1", "@ann", "triage", "HW-2", "2026-11-25", "phone", "2h", "some words")


def line_for(path: tuple[str, ...]) -> str:
    """The command with arguments that parse (what they mean does not matter, only who may run it)."""
    command = REGISTRY.commands[path]
    required = [arg for arg in command.args if arg.required and arg.kind != "option"]
    for values in itertools.product(CANDIDATES, repeat=len(required)):
        line = " ".join([*path, *values])
        if isinstance(REGISTRY.parse(line), Parsed):
            return line
    raise AssertionError(f"no arguments found that parse for /{' '.join(path)}")


def refusals(user: str) -> set[str]:
    roles = ROLE_OF[user] if user != "rita" else "requester"
    keys = ["access.staff_only", "access.needs_agent", "access.needs_lead", "access.needs_coordinator",
            "access.needs_admin", "access.queue"]
    return {t("en", key, prefix="/", roles=roles) for key in keys}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_command_by_every_role(make_harness) -> None:
    desk = await make_harness(people=PEOPLE)
    await desk.send("rita", "/ticket -p1 my own problem")
    assert REGISTRY.commands, "no commands registered"
    wrong = []
    for path, command in sorted(REGISTRY.commands.items()):
        for user, role in ROLE_OF.items():
            sent = await desk.send(user, "/" + line_for(path), dm=True)
            answers = [m.text for m in sent if m.target.user_id == user]
            refused = any(text in refusals(user) for text in answers)
            expected = role not in ALLOWED[command.permission]
            if refused != expected:
                wrong.append(f"/{' '.join(path)} ({command.permission}) as {role}: "
                             f"{'refused' if refused else 'allowed'}: {answers[:1]}")
            failed = await desk.rows(ProcessedEvent, ProcessedEvent.status == "failed")
            if failed:
                wrong.append(f"/{line_for(path)} as {role}: internal error {failed[0].error}")
                async with desk.sessions.begin() as session:
                    for row in failed:
                        (await session.get(ProcessedEvent, row.key)).status = "seen"
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_requester_sees_only_their_own_tickets_and_no_internal_notes(make_harness) -> None:
    desk = await make_harness(people=PEOPLE)
    await desk.send("rita", "/ticket the payroll export shows salaries", dm=True)
    await desk.send("ann", "/ticket note HW-1 internal: check with HR first", dm=True)
    own = await desk.reply("rita", "/ticket show HW-1", dm=True)
    assert "payroll" in own.text and "check with HR" not in own.text
    other = await desk.reply("rob", "/ticket show HW-1", dm=True)
    assert "payroll" not in other.text
    listed = await desk.reply("rob", "/ticket list", dm=True)
    assert "payroll" not in listed.text and "HW-1" not in listed.text
    queue = await desk.reply("rob", "/queue", dm=True)
    assert "payroll" not in queue.text
    coordinator = await desk.reply("cora", "/ticket show HW-1", dm=True)
    assert "check with HR" not in coordinator.text
    agent = await desk.reply("ann", "/ticket show HW-1", dm=True)
    assert "payroll" in agent.text and "check with HR" in agent.text
