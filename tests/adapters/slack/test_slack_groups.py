"""Desk roles from a Slack user group (``[access] slack_groups``): read in full at start with
usergroups.users.list, kept current by subteam_* events, all through the real bolt app."""

from __future__ import annotations

import pytest
from slack_fake import FakeSlack
from slack_harness import Factory, SlackHarness

from bot.settings import ConfigError
from storage.models import GroupMember

AGENTS = "S0AGENTS"
ACCESS = {"access": {"slack_groups": {"agent": AGENTS}}}


def queue_answers(slack: SlackHarness, user: str) -> list[str]:
    return [p["text"] for p in slack.fake.to("chat.postEphemeral") if p["user"] == user]


async def members(slack: SlackHarness) -> set[str]:
    return {row.user_id for row in await slack.rows(GroupMember, GroupMember.group_id == AGENTS)}


async def test_joining_the_agents_group_gives_the_queue_and_leaving_takes_it(
        fake_slack: FakeSlack, make_slack: Factory) -> None:
    fake_slack.usergroups[AGENTS] = ["U0ZOE"]
    slack = await make_slack(**ACCESS)
    assert [c["usergroup"] for c in fake_slack.to("usergroups.users.list")] == [AGENTS]
    assert await members(slack) == {"U0ZOE"}  # read in full at start

    await slack.command("", command="/queue", user="U0DORA", user_name="dora")
    await slack.settle()
    [refused] = queue_answers(slack, "U0DORA")
    assert "Only the support team may do this" in refused  # the refusal says why

    status, _ = await slack.event({"type": "subteam_members_changed", "subteam_id": AGENTS, "team_id": "T0TEAM",
                                   "date_previous_update": 1446670362, "date_update": 1492906952,
                                   "added_users": ["U0DORA"], "added_users_count": "1",
                                   "removed_users": [], "removed_users_count": "0"})
    assert status == 200
    await slack.settle()
    assert await members(slack) == {"U0ZOE", "U0DORA"}
    await slack.command("", command="/queue", user="U0DORA", user_name="dora")
    await slack.settle()
    assert queue_answers(slack, "U0DORA")[-1].startswith("The queue is empty")

    await slack.event({"type": "subteam_members_changed", "subteam_id": AGENTS, "team_id": "T0TEAM",
                       "added_users": [], "removed_users": ["U0DORA"], "removed_users_count": "1"})
    await slack.settle()
    await slack.command("", command="/queue", user="U0DORA", user_name="dora")
    await slack.settle()
    answers = queue_answers(slack, "U0DORA")
    assert len(answers) == 3 and "Only the support team may do this" in answers[-1]


async def test_subteam_updated_replaces_the_members_and_other_groups_are_ignored(
        fake_slack: FakeSlack, make_slack: Factory) -> None:
    fake_slack.usergroups[AGENTS] = ["U0ZOE", "U0DORA"]
    slack = await make_slack(**ACCESS)
    await slack.event({"type": "subteam_updated", "subteam": {
        "id": AGENTS, "team_id": "T0TEAM", "is_usergroup": True, "name": "Agents", "handle": "agents",
        "date_delete": 0, "users": ["U0DORA", "U0EVE"], "user_count": "2"}})
    await slack.event({"type": "subteam_members_changed", "subteam_id": "S0OTHER", "added_users": ["U0MAX"],
                       "removed_users": []})
    await slack.settle()
    assert await members(slack) == {"U0DORA", "U0EVE"}
    assert await slack.count(GroupMember) == 2


async def test_a_missing_scope_stops_the_start_with_what_to_do(fake_slack: FakeSlack, make_slack: Factory) -> None:
    fake_slack.usergroups[AGENTS] = ["U0ZOE"]
    slack = await make_slack(**ACCESS)
    fake_slack.fail("usergroups.users.list", "missing_scope", needed="usergroups:read", provided="chat:write")
    with pytest.raises(ConfigError) as raised:
        await slack.runtime.sync_groups()  # what start_http / start_socket run first
    [problem] = raised.value.problems
    assert "access.slack_groups" in problem and "usergroups:read" in problem and "reinstall" in problem
    assert await members(slack) == {"U0ZOE"}  # what was stored stays


async def test_an_unknown_group_id_is_named(fake_slack: FakeSlack, make_slack: Factory) -> None:
    fake_slack.usergroups[AGENTS] = []
    slack = await make_slack(**ACCESS)
    slack.runtime.ingress.groups.watched = {AGENTS, "agents"}  # as if the config named the @handle
    with pytest.raises(ConfigError) as raised:
        await slack.runtime.sync_groups()
    assert "no user group agents" in str(raised.value.problems) and "not its @handle" in str(raised.value.problems)


async def test_a_socket_mode_reconnect_reads_the_groups_again(fake_slack: FakeSlack, make_slack: Factory) -> None:
    """Changes made while the socket was down never arrive as events: every later "hello" re-reads."""
    import asyncio

    from slack_harness import APP_TOKEN

    fake_slack.usergroups[AGENTS] = ["U0ZOE"]
    slack = await make_slack(**ACCESS)
    await slack.runtime.start_socket(APP_TOKEN)
    await fake_slack.connected()
    reads = len(fake_slack.to("usergroups.users.list"))
    fake_slack.usergroups[AGENTS] = ["U0DORA"]  # changed while "disconnected"
    await fake_slack.sockets[-1].send_json({"type": "hello", "num_connections": 1,
                                            "connection_info": {"app_id": "A0APP"}})
    for _ in range(500):  # the listener runs on the socket client's own task
        if len(fake_slack.to("usergroups.users.list")) > reads:
            break
        await asyncio.sleep(0.01)
    await slack.settle()
    assert len(fake_slack.to("usergroups.users.list")) == reads + 1
    assert await members(slack) == {"U0DORA"}
