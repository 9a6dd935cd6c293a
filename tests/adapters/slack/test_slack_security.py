"""Attacks on the Slack side as an insider, a careless admin or a spammer would try them (issue #15), through
signed requests into the real bolt app and the fake Slack Web API on loopback."""

from __future__ import annotations

import copy
import re

import pytest
from slack_fake import FakeSlack
from slack_harness import DESK, Factory, SlackHarness

from bot.i18n import t
from bot.settings import ConfigError
from storage.models import Identity, OutboxMessage, ProcessedEvent, Ticket, TicketEvent


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


async def test_a_flood_of_prio_1_requests_from_one_outsider_stops_at_the_limit_and_is_kept(make_slack: Factory
                                                                                          ) -> None:
    slack = await make_slack(limits={"tickets": 3, "per": "1h"})
    for n in range(20):
        await slack.command(f"-p1 everything is broken {n}", user="U0SPAM", user_name="spammer")
    await slack.command("-p1 the shop is down", user="U0REQ")
    await slack.settle()

    tickets = {t.key: t for t in await slack.rows(Ticket)}
    assert sorted(tickets) == ["HW-1", "HW-2", "HW-3", "HW-4"]
    assert tickets["HW-4"].title == "the shop is down" and tickets["HW-4"].priority == 1
    kept = await slack.rows(TicketEvent, TicketEvent.kind == "limited", order=TicketEvent.id)
    assert [e.body for e in kept] == [f"everything is broken {n}" for n in range(3, 20)]
    assert {e.ticket_id for e in kept} == {tickets["HW-3"].id}
    told = answers(slack, "U0SPAM")
    assert len(told) == 20 and all("HW-3" in text and "limit" in text for text in told[3:])
    duty = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY"]
    assert len(duty) == 5 and sum("limit" in text for text in duty) == 1   # four new tickets, the limit once
    assert len(slack.fake.to("conversations.create")) == 4


async def test_a_squatted_ticket_channel_name_gets_a_random_part(slack: SlackHarness) -> None:
    # an insider who guesses the next ticket's name creates the channels ahead of it (Slack answers name_taken)
    for taken in ("hw-1-printer-on-fire", "hw-1-printer-on-fire-2", "hw-1-printer-on-fire-3"):
        slack.fake.channels.append({"id": f"C0SQ{len(taken)}", "name": taken, "is_private": False})
    await slack.command("printer on fire")
    await slack.settle()
    names = [c["name"] for c in slack.fake.to("conversations.create", ok=None)]
    assert names[0] == "hw-1-printer-on-fire" and len(names) == 2
    assert re.fullmatch(r"hw-1-printer-on-fire-[a-z2-9]{5}", names[1])
    assert await slack.rows(OutboxMessage, OutboxMessage.status != "sent") == []


async def test_when_no_name_is_free_the_space_fails_at_once_with_what_to_do(slack: SlackHarness) -> None:
    slack.fake.fail("conversations.create", "name_taken", times=0)
    await slack.command("printer on fire")
    await slack.settle()
    assert len(slack.fake.to("conversations.create", ok=None)) == 4   # not 40 calls over eight retries
    dead = await slack.rows(OutboxMessage, OutboxMessage.status == "dead")
    assert dead and all(row.attempts == 1 for row in dead)
    duty = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY"]
    assert any("no free channel name" in text and "archive or rename" in text for text in duty)


ROOT_TS = "1700000500.000100"


async def move_a_thread(slack: SlackHarness, channel: str = "C0GEN") -> str:
    """U0REQ's problem in ``channel``, moved by the :ticket: reaction of Anna; returns the ticket's channel id."""
    slack.fake.threads[(channel, ROOT_TS)] = [
        {"type": "message", "user": "U0REQ", "text": "my invoice shows someone else's address", "ts": ROOT_TS,
         "thread_ts": ROOT_TS, "reply_count": 0}]
    await slack.event({"type": "reaction_added", "user": "U0ANNA", "reaction": "ticket", "item_user": "U0REQ",
                       "item": {"type": "message", "channel": channel, "ts": ROOT_TS}})
    await slack.settle()
    return next(c["channel"] for c in slack.fake.to("conversations.invite"))


async def test_a_third_party_reply_under_a_staff_like_name_is_marked_as_not_part_of_the_ticket(
        slack: SlackHarness) -> None:
    space = await move_a_thread(slack)
    slack.fake.users["U0EVE"] = "Anna (support lead)"
    await slack.event({"type": "message", "channel": "C0GEN", "channel_type": "channel", "user": "U0EVE",
                       "text": "Please confirm your card number here", "ts": "1700000510.000100",
                       "thread_ts": ROOT_TS})
    await slack.settle()
    copied = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == space]
    assert any("U0EVE (not part of this ticket): Please confirm your card number here" in text for text in copied)
    assert not any("Anna (support lead)" in text for text in copied)
    [said] = await slack.rows(TicketEvent, TicketEvent.kind == "message")
    assert said.new == "outside"


@pytest.mark.parametrize("duty", ["C0RANDOM", "C0LOUNGE", "slack:C0LOUNGE"])
async def test_a_public_duty_channel_given_by_id_stops_the_start(fake_slack: FakeSlack, make_slack: Factory,
                                                                 duty: str) -> None:
    fake_slack.hidden.append({"id": "C0LOUNGE", "name": "lounge", "is_private": False})
    with pytest.raises(ConfigError) as refused:
        await make_slack(channels={"duty": [duty]})
    [problem] = refused.value.problems
    assert f"channels.duty: the Slack channel {duty.removeprefix('slack:')} (#" in problem and "is public" in problem


async def test_group_roles_come_with_a_warning_about_who_may_edit_the_groups(fake_slack: FakeSlack,
                                                                             make_slack: Factory, caplog) -> None:
    fake_slack.usergroups["S0AGENTS"] = ["U0ZOE"]
    await make_slack(access={"slack_groups": {"agent": "S0AGENTS"}})
    assert any("S0AGENTS" in r.getMessage() and "any member can add themselves" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")


async def test_an_app_mention_with_a_problem_in_a_guarded_channel_is_moved(make_slack: Factory) -> None:
    slack = await make_slack(user_token=True)
    await slack.event({"type": "app_mention", "user": "U0REQ", "channel": "C0GEN", "ts": "1700000600.000100",
                       "text": "<@U0BOT> my password hunter2 does not work"})
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.description == "my password hunter2 does not work"
    assert [c["ts"] for c in slack.fake.to("chat.delete")] == ["1700000600.000100"]   # out of the channel
    public = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0GEN"]
    assert public and not any("hunter2" in text for text in public)


async def test_later_replies_follow_a_thread_moved_by_reaction_in_a_channel_that_is_not_guarded(
        make_slack: Factory) -> None:
    """#random is not guarded: only the :ticket: reaction moves a thread there, and the replies after it went on
    being public, unseen by the bot."""
    slack = await make_slack(user_token=True)
    space = await move_a_thread(slack, channel="C0RANDOM")
    await slack.event({"type": "message", "channel": "C0RANDOM", "channel_type": "channel", "user": "U0REQ",
                       "text": "and my IBAN DE02 1203 0000 0000 2020 51 is shown too", "ts": "1700000520.000100",
                       "thread_ts": ROOT_TS})
    # a reply in a thread nobody moved, and a message outside any thread, stay the channel's own business
    await slack.event({"type": "message", "channel": "C0RANDOM", "channel_type": "channel", "user": "U0BEN",
                       "text": "lunch?", "ts": "1700000530.000100", "thread_ts": "1700000400.000100"})
    await slack.event({"type": "message", "channel": "C0RANDOM", "channel_type": "channel", "user": "U0BEN",
                       "text": "anyone for coffee", "ts": "1700000540.000100"})
    await slack.settle()
    copied = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == space]
    assert any("IBAN DE02" in text for text in copied)
    assert not any("lunch" in text or "coffee" in text for text in copied)
    assert "1700000520.000100" in [d["ts"] for d in slack.fake.to("chat.delete")]
    kinds = sorted(row.payload["kind"] for row in await slack.rows(ProcessedEvent))
    assert kinds == ["message", "reaction"]
