"""Attacks on the Slack side as an insider, a careless admin or a spammer would try them (issue #15), through
signed requests into the real bolt app and the fake Slack Web API on loopback."""

from __future__ import annotations

import copy

from slack_fake import FakeSlack
from slack_harness import DESK, Factory, SlackHarness

from bot.i18n import t
from storage.models import Identity


def answers(slack: SlackHarness, user: str) -> list[str]:
    return [p["text"] for p in slack.fake.to("chat.postEphemeral") if p["user"] == user]


async def test_a_staff_account_no_longer_configured_loses_every_right(fake_slack: FakeSlack,
                                                                       make_slack: Factory) -> None:
    first = await make_slack()
    await first.command("my salary slip is wrong", user="U0REQ")
    await first.settle()
    # the admin moves Anna to her new account and restarts: her old account must not stay staff
    people = copy.deepcopy(DESK["people"])
    people["anna"]["slack"] = "U0ANNA2"
    slack = await make_slack(people=people)
    assert {row.user_id for row in await slack.rows(Identity, Identity.platform == "slack")} == {"U0ANNA2", "U0BEN",
                                                                                                 "U0CARLA", "U0REQ"}
    await slack.command("show HW-1", user="U0ANNA", user_name="anna")
    await slack.command("", command="/queue", user="U0ANNA", user_name="anna")
    await slack.settle()
    shown, queue = answers(slack, "U0ANNA")
    assert shown == t("en", "ticket.not_found", key="HW-1")
    assert "Only the support team may do this" in queue
    await slack.command("show HW-1", user="U0ANNA2", user_name="anna")
    await slack.settle()
    assert "my salary slip is wrong" in answers(slack, "U0ANNA2")[0]
