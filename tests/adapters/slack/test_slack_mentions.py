"""Real mentions on Slack (#17), end to end through signed requests into the bolt app and the fake Web API: the
duty card mentions the assignee (``<@U…>``, so their client notifies them) and links the ticket's private channel
(``<#C…>``); the digest's, the handover's and the Prio-1 notices' mentions (bot/core/mentions.py) become ``<@U…>``;
and a requester's own text never mentions anybody (``<!channel>``, ``<!here>``, ``<@U…>``, a forged mark)."""

from __future__ import annotations

import re

from slack_harness import SlackHarness

from bot.core.mentions import space_link
from bot.core.types import MessageKind, Visibility
from bot.duty.notify import mention_of
from bot.infra.outbox import enqueue
from storage.models import KeyValue, Ticket

FORGED = "\ue000anna\ue001@Anna\ue002 \ue000#HW-1\ue001HW-1\ue002"
HOSTILE = f"<!channel> <!here> @here <@U0ANNA> <#C0DUTY> <https://evil.example|click> {FORGED} VPN is down"


def bot_markup(text: str) -> list[str]:
    """Every mention, channel link and special ping in a text as Slack reads it."""
    return re.findall(r"<[@#!][^>]*>", text)


async def take(slack: SlackHarness, user: str = "U0ANNA", name: str = "anna") -> None:
    await slack.command("take HW-1", user=user, user_name=name, channel="C0DUTY", channel_name="support-duty")
    await slack.settle()


async def test_the_card_mentions_the_assignee_and_links_the_tickets_channel(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.settle()
    space = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    await take(slack)
    [update] = slack.fake.to("chat.update")
    head, status = update["text"].split("\n")
    assert head == f"New ticket HW-1 <#{space}> (P2) from rita: printer on fire"
    assert status == "in progress · P2 · <@U0ANNA> (last change: Anna)"
    # the blocks say the same (verbatim mrkdwn: nothing else is auto-linked, the bot's markup stays)
    section = update["blocks"][0]["text"]
    assert section["verbatim"] is True and bot_markup(section["text"]) == [f"<#{space}>", "<@U0ANNA>"]
    # assigned to Carla: she is mentioned now
    await slack.command("assign HW-1 @carla", user="U0ANNA", user_name="anna", channel="C0DUTY",
                        channel_name="support-duty")
    await slack.settle()
    assert bot_markup(slack.fake.to("chat.update")[-1]["text"]) == [f"<#{space}>", "<@U0CARLA>"]


async def test_notices_that_name_people_mention_them_on_slack(slack: SlackHarness) -> None:
    """As the digest names the phone duty and the Prio-1 notices whom to call: people with a Slack account are
    mentioned, one without (or not in [people]) keeps their plain name."""
    desk = slack.bot.desk
    [duty] = [t for t in desk.duty_targets() if t.platform.value == "slack"]
    async with desk.sessions.begin() as session:
        enqueue(session, slack.clock.now(), duty, f"Prio-1 digest for {mention_of(desk, 'carla', at=True)}: "
                f"nothing open. Ask {mention_of(desk, 'anna')} or {mention_of(desk, 'zed')}; "
                f"see {space_link('HW-9', 'HW-9')}.", kind=MessageKind.DIGEST, visibility=Visibility.PRIVATE)
    await slack.bot.outbox.drain()
    [digest] = [p for p in slack.fake.to("chat.postMessage") if "digest" in p["text"]]
    # HW-9 has no channel: its id stays plain text
    assert digest["text"] == "Prio-1 digest for <@U0CARLA>: nothing open. Ask <@U0ANNA> or zed; see HW-9."
    assert digest["channel"] == "C0DUTY"


async def test_a_requesters_text_mentions_nobody_anywhere(slack: SlackHarness) -> None:
    """The attack: a requester's report tries <!channel>, <!here>, @here, a typed <@U…>, a channel link, a link with
    a label and forged marks of the bot's own mentions; the card, the ticket's channel, the receipt and the
    topic show all of it as text."""
    await slack.command(HOSTILE, user="U0REQ", user_name="rita")
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert "\ue000" not in ticket.title and "\ue000" not in ticket.description
    space = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    # a DM and a message in the ticket's channel try again
    await slack.event({"type": "message", "channel": space, "channel_type": "group", "user": "U0REQ",
                       "text": HOSTILE, "ts": "1700000900.000100"})
    await slack.event({"type": "message", "channel": "D0REQ", "channel_type": "im", "user": "U0REQ",
                       "text": f"and {HOSTILE}", "ts": "1700000900.000200"})
    await slack.settle()
    await take(slack)
    said = [p["text"] for p in slack.fake.to("chat.postMessage")]
    said += [p["text"] for p in slack.fake.to("chat.postEphemeral")]
    said += [p["text"] for p in slack.fake.to("chat.update")]
    said += [p["topic"] for p in slack.fake.to("conversations.setTopic")]
    assert any("VPN is down" in text for text in said)
    for text in said:
        assert "\ue000" not in text and "\ue001" not in text
        markup = bot_markup(text)
        # only the bot's own: the assignee and the ticket's channel on the changed card
        assert markup in ([], [f"<#{space}>"], [f"<#{space}>", "<@U0ANNA>"]), (markup, text)
        assert "@here" not in text and "@channel" not in text   # defused: "@\u2060here"
    # Slack's markup typed by the requester arrives as plain words (adapters/slack/convert.py) and is shown so
    card = slack.fake.to("chat.update")[-1]["text"]
    assert "@\u2060channel @\u2060here" in card and "@anna #C0DUTY click (https://evil.example)" in card
    assert card.count("<@U0ANNA>") == 1 and card.split("\n")[1].startswith("in progress · P2 · <@U0ANNA>")
