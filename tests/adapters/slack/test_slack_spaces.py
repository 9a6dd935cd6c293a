"""A ticket's private channel over its life (#17), end to end through signed requests into the bolt app and the
fake Slack Web API: its name (id and a short slug of the title), its topic (state, priority, assignee, SLA due
time; set only when it changes; rate limits respected)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_harness import DESK, Factory, SlackHarness

from storage.models import KeyValue, OutboxMessage

SLA: dict[str, Any] = {
    "desk": {**DESK["desk"], "sla": "support", "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {"response-P1": {"within": "30m"},
                                                          "response": {"within": "4h"}}}},
}


async def space_of(slack: SlackHarness, key: str = "HW-1") -> str:
    return (await slack.rows(KeyValue, KeyValue.key == f"slack:space:{key}"))[0].value


def topics(slack: SlackHarness, channel: str) -> list[str]:
    return [c["topic"] for c in slack.fake.to("conversations.setTopic") if c["channel"] == channel]


async def duty_command(slack: SlackHarness, text: str, user: str = "U0ANNA", name: str = "anna") -> None:
    await slack.command(text, user=user, user_name=name, channel="C0DUTY", channel_name="support-duty")
    await slack.settle()


async def test_the_channel_is_named_by_id_and_title_and_its_topic_follows_the_ticket(make_slack: Factory) -> None:
    slack = await make_slack(**SLA)
    await slack.command("VPN drops every few minutes")
    await slack.settle()
    space = await space_of(slack)
    assert slack.fake.channel(space)["name"] == "hw-1-vpn-drops-every-few-minutes"
    # 14:50 UTC is 15:50 in Berlin; the response is due four hours later, shown in the desk's zone
    assert topics(slack, space) == ["State: new · Priority 2 · Assignee: nobody · SLA due Tue 24 Nov, 19:50"]

    await duty_command(slack, "take HW-1")
    assert topics(slack, space)[-1] == "State: in progress · Priority 2 · Assignee: Anna · SLA due Tue 24 Nov, 19:50"
    await duty_command(slack, "note HW-1 checked the VPN concentrator")  # the log grows, the topic stays
    await duty_command(slack, "priority HW-1 1")
    assert topics(slack, space)[1:] == ["State: in progress · Priority 2 · Assignee: Anna · SLA due Tue 24 Nov, 19:50",
                                        "State: in progress · Priority 1 · Assignee: Anna · SLA due Tue 24 Nov, 16:20"]
    await duty_command(slack, "assign HW-1 @carla")
    assert topics(slack, space)[-1] == \
        "State: in progress · Priority 1 · Assignee: Carla · SLA due Tue 24 Nov, 16:20"
    assert slack.fake.channel(space)["topic"]["value"] == topics(slack, space)[-1]

    # closing: the topic says so first, then the goodbye, then the archiving (an archived channel takes no topic)
    await duty_command(slack, "close HW-1")
    assert topics(slack, space)[-1] == "State: closed · Priority 1 · Assignee: Carla"
    calls = [c.method for c in slack.fake.calls if c.params.get("channel") == space]
    assert calls[-3:] == ["conversations.setTopic", "chat.postMessage", "conversations.archive"]
    assert await slack.rows(OutboxMessage, OutboxMessage.status != "sent") == []


async def test_the_topic_is_in_the_desks_language_and_only_set_when_it_changes(make_slack: Factory) -> None:
    slack = await make_slack(**{**SLA, "desk": {**SLA["desk"], "language": "de"}})
    await slack.command("Drucker im 2. OG druckt nur Streifen")
    await slack.settle()
    space = await space_of(slack)
    assert slack.fake.channel(space)["name"] == "hw-1-drucker-im-2-og-druckt-nur"
    assert topics(slack, space) == [
        "Status: neu · Priorität 2 · Bearbeitung: niemand · SLA fällig Di., 24. Nov., 19:50"]
    # the requester writes in the channel again and again: the log grows, the topic does not change
    for n in range(5):
        await slack.event({"type": "message", "channel": space, "channel_type": "group", "user": "U0REQ",
                           "text": f"noch ein Streifen {n}", "ts": f"1700000900.00010{n}"})
    await slack.settle()
    assert len(topics(slack, space)) == 1


async def test_a_rate_limited_topic_waits_for_retry_after_and_is_not_lost(make_slack: Factory) -> None:
    slack = await make_slack(**SLA)
    await slack.command("VPN drops")
    await slack.settle()
    space = await space_of(slack)
    slack.fake.fail("conversations.setTopic", "ratelimited", status=429, retry_after=30)
    await duty_command(slack, "take HW-1")
    # the 429: not set yet
    assert topics(slack, space) == ["State: new · Priority 2 · Assignee: nobody · SLA due Tue 24 Nov, 19:50"]
    [waiting] = await slack.rows(OutboxMessage, OutboxMessage.status != "sent")
    assert waiting.status == "pending" and waiting.attempts == 1
    slack.clock.advance(timedelta(seconds=31))
    await slack.settle()
    assert topics(slack, space)[-1] == "State: in progress · Priority 2 · Assignee: Anna · SLA due Tue 24 Nov, 19:50"
    assert await slack.rows(OutboxMessage, OutboxMessage.status != "sent") == []


async def test_a_desk_without_sla_shows_no_due_time(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.settle()
    space = await space_of(slack)
    assert topics(slack, space) == ["State: new · Priority 2 · Assignee: nobody"]
