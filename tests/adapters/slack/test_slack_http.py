"""The Slack adapter end to end over HTTP: signed requests into the real bolt app, the bot's Web
API calls recorded by a fake Slack on loopback, a real SQLite database behind it."""

from __future__ import annotations

import json
import re

from slack_harness import BOT_TOKEN, USER_TOKEN, Factory, SlackHarness

from storage.models import KeyValue, OutboxMessage, ProcessedEvent, Ticket, TicketEvent


async def test_ticket_command_opens_ticket_receipt_and_private_channel(slack: SlackHarness) -> None:
    status, body = await slack.command("printer on fire")
    assert (status, body) == (200, "")
    await slack.settle()

    [ticket] = await slack.rows(Ticket)
    assert (ticket.key, ticket.title, ticket.origin_platform, ticket.origin_channel) == (
        "HW-1", "printer on fire", "slack", "#general")
    [receipt] = slack.fake.to("chat.postEphemeral")
    assert (receipt["channel"], receipt["user"]) == ("C0GEN", "U0REQ")
    assert "HW-1" in receipt["text"]
    [created] = slack.fake.to("conversations.create")
    assert created["name"] == "hw-1-printer-on-fire" and created["is_private"] in (True, "true", "1")
    assert [c["users"] for c in slack.fake.to("conversations.invite")] == ["U0REQ"]
    posts = {p["channel"]: p["text"] for p in slack.fake.to("chat.postMessage")}
    space = next(c for c in posts if c.startswith("C0T"))
    assert "printer on fire" in posts[space]
    assert "HW-1" in posts["C0DUTY"]  # the duty channel, by its config name #support-duty
    mapping = {row.key: row.value for row in await slack.rows(KeyValue)}
    assert mapping["slack:space:HW-1"] == space and mapping[f"slack:channel:{space}"] == "HW-1"


async def test_ticket_without_text_opens_the_form_which_validates(slack: SlackHarness) -> None:
    status, _ = await slack.command("", channel="C0RANDOM", channel_name="random")
    assert status == 200
    [opened] = slack.fake.to("views.open")
    view = opened["view"]
    assert view["callback_id"] == "ticket" and opened["trigger_id"]
    assert [b["block_id"] for b in view["blocks"]] == [
        "description", "steps", "object_id", "environment", "urgency", "topic", "priority"]  # rita: no "for"
    urgency = next(b for b in view["blocks"] if b["block_id"] == "urgency")
    assert [o["value"] for o in urgency["element"]["options"]] == ["SHOW-STOPPER", "LIMITED USABILITY",
                                                                   "NICE TO HAVE"]

    def submission(description: str, urgency: str | None) -> dict:
        def text(value: str) -> dict:
            return {"type": "plain_text_input", "value": value}

        def select(value: str | None) -> dict:
            return {"type": "static_select", "selected_option": {"value": value} if value else None}

        return {
            "type": "view_submission", "team": {"id": "T0TEAM"}, "api_app_id": "A0APP",
            "user": {"id": "U0REQ", "username": "rita", "name": "rita", "team_id": "T0TEAM"},
            "view": {
                "id": "V0FORM1", "type": "modal", "callback_id": "ticket", "hash": "1.abc",
                "private_metadata": view["private_metadata"],
                "state": {"values": {
                    "description": {"description": text(description)},
                    "steps": {"steps": text("1. open the shop\n2. click pay")},
                    "object_id": {"object_id": text("order 4711")},
                    "environment": {"environment": text("Windows 11, Firefox 132")},
                    "urgency": {"urgency": select(urgency)},
                    "topic": {"topic": text("")},
                    "priority": {"priority": select(None)},
                }},
            },
        }

    status, body = await slack.interactive(submission("broken", None))
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"description", "urgency"}
    await slack.settle()
    assert await slack.count(Ticket) == 0

    status, body = await slack.interactive(submission("Payment fails with error 500\nsince 9 am", "SHOW-STOPPER"))
    assert (status, body) == (200, "")
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "Payment fails with error 500"
    assert ticket.priority == 1  # from the urgency
    assert ticket.data["doc"] == {"steps": "1. open the shop\n2. click pay", "object_id": "order 4711",
                                  "environment": "Windows 11, Firefox 132", "urgency": "SHOW-STOPPER"}
    [receipt] = slack.fake.to("chat.postEphemeral")
    assert (receipt["channel"], receipt["user"]) == ("C0RANDOM", "U0REQ") and "HW-1" in receipt["text"]


async def test_queue_for_the_team_and_refused_for_others(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.command("", command="/queue", user="U0ANNA", user_name="anna")
    await slack.command("", command="/queue", user="U0REQ", user_name="rita")
    await slack.settle()
    answers = {p["user"]: p["text"] for p in slack.fake.to("chat.postEphemeral") if "HW-1 is open" not in p["text"]}
    assert answers["U0ANNA"].startswith("Queue: 1 open")
    assert "Only the support team" in answers["U0REQ"]


async def test_help_and_ticket_subcommands_as_slash_commands(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.command("", command="/help")
    await slack.command("show HW-1")
    await slack.settle()
    texts = [p["text"] for p in slack.fake.to("chat.postEphemeral")]
    assert any("/ticket show" in text for text in texts)  # the help
    assert any(text.startswith("HW-1: printer on fire") for text in texts)


async def test_dm_opens_a_ticket_answered_by_dm(slack: SlackHarness) -> None:
    status, _ = await slack.event({"type": "message", "channel": "D0REQ", "channel_type": "im", "user": "U0REQ",
                                   "text": "my laptop does not boot", "ts": "1700000100.000100",
                                   "client_msg_id": "c1"})
    assert status == 200
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "my laptop does not boot"
    assert any(p["users"] == "U0REQ" for p in slack.fake.to("conversations.open"))
    dms = [p for p in slack.fake.to("chat.postMessage") if p["channel"] == "D0REQ"]
    assert len(dms) == 1 and "HW-1" in dms[0]["text"]
    assert not slack.fake.to("chat.postEphemeral")


async def test_app_mention_works_like_a_command(slack: SlackHarness) -> None:
    await slack.event({"type": "app_mention", "channel": "C0RANDOM", "user": "U0REQ",
                       "text": "<@U0BOT> the wifi in room 4 is down", "ts": "1700000200.000100"})
    await slack.event({"type": "app_mention", "channel": "C0RANDOM", "user": "U0ANNA",
                       "text": "<@U0BOT> queue", "ts": "1700000201.000100"})
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "the wifi in room 4 is down"
    answers = {p["user"]: p["text"] for p in slack.fake.to("chat.postEphemeral")}
    assert "HW-1" in answers["U0REQ"] and answers["U0ANNA"].startswith("Queue: 1 open")


async def test_take_button_assigns_and_invites_the_assignee(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.settle()
    status, body = await slack.interactive({
        "type": "block_actions", "user": {"id": "U0ANNA", "username": "anna", "name": "anna", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "container": {"type": "message", "message_ts": "1700000000.000002",
                                             "channel_id": "C0DUTY", "is_ephemeral": False},
        "channel": {"id": "C0DUTY", "name": "support-duty"}, "response_url": slack.fake.response_url(),
        "message": {"type": "message", "ts": "1700000000.000002", "text": "New ticket HW-1"},
        "actions": [{"action_id": "take", "block_id": "b1", "type": "button", "value": "HW-1",
                     "text": {"type": "plain_text", "text": "Take"}, "action_ts": "1700000300.000001"}],
    })
    assert (status, body) == (200, "")
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.state == "in_progress"
    assert [c["users"] for c in slack.fake.to("conversations.invite")] == ["U0REQ", "U0ANNA"]
    assert any("You have taken HW-1" in p["text"] for p in slack.fake.to("chat.postEphemeral"))


async def test_messages_in_a_ticket_channel_belong_to_the_ticket(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.settle()
    space = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    await slack.event({"type": "message", "channel": space, "channel_type": "group", "user": "U0REQ",
                       "text": "it smells of smoke now", "ts": "1700000400.000100"})
    await slack.settle()
    [row] = [r for r in await slack.rows(ProcessedEvent) if r.payload["kind"] == "message"]
    assert row.payload["ticket"] == "HW-1" and row.status == "done"
    assert row.payload["channel"]["is_private"] is True


async def test_ticket_reaction_arrives_as_a_reaction_event(slack: SlackHarness) -> None:
    slack.fake.threads[("C0GEN", "1700000500.000100")] = [
        {"type": "message", "user": "U0REQ", "text": "the shop shows error 500", "ts": "1700000500.000100",
         "thread_ts": "1700000500.000100", "reply_count": 1},
        {"type": "message", "user": "U0BEN", "text": "same here", "ts": "1700000501.000100",
         "thread_ts": "1700000500.000100"},
    ]
    status, _ = await slack.event({"type": "reaction_added", "user": "U0ANNA", "reaction": "ticket",
                                   "item_user": "U0REQ", "event_ts": "1700000600.000100",
                                   "item": {"type": "message", "channel": "C0GEN", "ts": "1700000500.000100"}})
    assert status == 200
    await slack.settle()
    [row] = await slack.rows(ProcessedEvent)
    event = row.payload
    assert (event["kind"], event["name"], event["message_id"]) == ("reaction", "ticket", "1700000500.000100")
    assert event["channel"]["channel_id"] == "#general"
    assert [m["text"] for m in event["thread"]] == ["the shop shows error 500", "same here"]
    # the core's privacy rule moved the thread into a private ticket for the thread's author
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "the shop shows error 500"


async def test_move_shortcut_arrives_as_a_reaction_event(slack: SlackHarness) -> None:
    status, _ = await slack.interactive({
        "type": "message_action", "callback_id": "move_to_ticket", "team": {"id": "T0TEAM"},
        "user": {"id": "U0ANNA", "username": "anna", "name": "anna"}, "channel": {"id": "C0GEN", "name": "general"},
        "message": {"type": "message", "user": "U0REQ", "text": "cannot log in", "ts": "1700000700.000100"},
        "message_ts": "1700000700.000100", "response_url": slack.fake.response_url(),
    })
    assert status == 200
    await slack.settle()
    [row] = await slack.rows(ProcessedEvent)
    assert (row.payload["kind"], row.payload["name"]) == ("reaction", "ticket")
    assert row.payload["message_id"] == "1700000700.000100"


async def test_a_retried_delivery_makes_one_ticket(slack: SlackHarness) -> None:
    event = {"type": "message", "channel": "D0REQ", "channel_type": "im", "user": "U0REQ",
             "text": "vpn drops every hour", "ts": "1700000800.000100"}
    first = await slack.event(event, event_id="Ev0RETRY01")
    await slack.settle()
    retried = await slack.event(event, event_id="Ev0RETRY01", retry=1)
    again = await slack.event(event, event_id="Ev0RETRY01", retry=2)
    await slack.settle()
    assert first[0] == retried[0] == again[0] == 200
    assert await slack.count(Ticket) == 1
    assert await slack.count(ProcessedEvent) == 1


async def test_a_bad_signature_is_refused_and_nothing_stored(slack: SlackHarness) -> None:
    status, _ = await slack.command("printer on fire", secret="not-the-secret")
    assert status == 401
    status, _ = await slack.event({"type": "message", "channel": "D0REQ", "channel_type": "im", "user": "U0REQ",
                                   "text": "hello", "ts": "1.1"}, secret="wrong")
    assert status == 401
    await slack.settle()
    assert await slack.count(ProcessedEvent) == 0
    assert not [m for m in slack.fake.methods() if m not in ("auth.test", "conversations.list")]


async def test_an_old_timestamp_is_refused(slack: SlackHarness) -> None:
    import time

    status, _ = await slack.command("printer on fire", timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    await slack.settle()
    assert await slack.count(ProcessedEvent) == 0


async def test_url_verification_echoes_the_challenge(slack: SlackHarness) -> None:
    status, body = await slack.post(json.dumps({"token": "x", "challenge": "c-123", "type": "url_verification"}),
                                    "application/json")
    assert status == 200 and "c-123" in body


async def test_app_home_lists_the_persons_tickets(slack: SlackHarness) -> None:
    await slack.command("printer on fire")
    await slack.command("scanner jammed")
    await slack.settle()
    await slack.event({"type": "app_home_opened", "user": "U0REQ", "channel": "D0REQ", "tab": "home"})
    await slack.settle()
    [published] = slack.fake.to("views.publish")
    assert published["user_id"] == "U0REQ"
    text = json.dumps(published["view"])
    assert "HW-1" in text and "HW-2" in text and "scanner jammed" in text


async def test_user_text_cannot_ping_or_mention(slack: SlackHarness) -> None:
    # what Slack sends when someone types: <!channel> is typed, then a real @channel, @anna, &, @here and a link
    await slack.command("&lt;!channel&gt; is typed <!channel> <@U0ANNA|anna.k> &amp; @here the <https://evil.example|site>")
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.title == "<!channel> is typed @channel @anna & @here the site (https://evil.example)"
    duty = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY"]
    assert duty and all("<" not in text and ">" not in text for text in duty)
    assert "&lt;!channel&gt; is typed @\u2060channel @anna &amp; @\u2060here" in duty[0]
    for call in slack.fake.to("chat.postMessage") + slack.fake.to("chat.postEphemeral"):
        assert not re.search(r"<[!@#]|@(here|channel|everyone)\b", call["text"])
        assert call.get("link_names") in (False, "false", "0")


async def test_a_tickets_card_in_the_duty_channel_changes_in_place_and_keeps_its_thread(make_slack) -> None:
    """#17: one message per ticket in the duty channel with buttons; later notices of the ticket are replies in
    its thread; pressing Take changes the message (chat.update) and the used button is gone."""
    slack = await make_slack(limits={"tickets": 1, "per": "1h"})
    await slack.command("printer on fire")
    await slack.settle()
    [card] = [p for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY"]
    actions = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["take", "priority", "close"] and not card.get("thread_ts")
    await slack.command("and the scanner is dead too")  # beyond the limit: kept on HW-1, the duty channel is told
    await slack.settle()
    [*_, told] = [p for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY"]
    assert "limit" in told["text"] and told["thread_ts"]
    card_ts_value = told["thread_ts"]

    status, _ = await slack.interactive({
        "type": "block_actions", "user": {"id": "U0ANNA", "username": "anna", "name": "anna", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "container": {"type": "message", "message_ts": card_ts_value, "channel_id": "C0DUTY",
                                             "is_ephemeral": False},
        "channel": {"id": "C0DUTY", "name": "support-duty"}, "response_url": slack.fake.response_url(),
        "message": {"type": "message", "ts": card_ts_value, "text": card["text"]},
        "actions": [{"action_id": "take", "block_id": "b1", "type": "button", "value": "HW-1",
                     "text": {"type": "plain_text", "text": "Take"}, "action_ts": "1700000300.000001"}],
    })
    assert status == 200
    await slack.settle()
    [update] = slack.fake.to("chat.update")
    assert (update["channel"], update["ts"]) == ("C0DUTY", card_ts_value)
    assert update["text"].endswith("in progress · P2 · <@U0ANNA> (last change: Anna)")  # the assignee mentioned
    left = [e["action_id"] for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert left == ["priority", "close"]
    # the duty channel got no new top-level post for the ticket: the card, changed, and a reply in its thread
    top = [p for p in slack.fake.to("chat.postMessage") if p["channel"] == "C0DUTY" and not p.get("thread_ts")]
    assert top == [card]


async def test_a_closed_tickets_channel_is_archived_after_the_goodbye_and_unarchived_on_reopen(make_slack: Factory
                                                                                             ) -> None:
    # with an admin's user token: Slack lets only user tokens unarchive (conversations.unarchive, "Bug alert")
    slack = await make_slack(user_token=True)
    await slack.command("printer on fire")
    await slack.settle()
    space = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    await slack.command("close HW-1", user="U0ANNA", user_name="anna", channel="C0DUTY", channel_name="support-duty")
    await slack.settle()
    said = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == space]
    assert said[-1].startswith("HW-1 is closed. This space is archived now")
    [archived] = slack.fake.to("conversations.archive")
    assert archived["channel"] == space and slack.fake.channel(space)["is_archived"]
    calls = [c.method for c in slack.fake.calls if c.params.get("channel") == space]
    assert calls[-2:] == ["chat.postMessage", "conversations.archive"]  # the goodbye first, then archived

    await slack.command("reopen HW-1", user="U0REQ", channel="C0GEN", channel_name="general")
    await slack.settle()
    [unarchive] = [c for c in slack.fake.calls if c.method == "conversations.unarchive"]
    assert (unarchive.params["channel"], unarchive.token, unarchive.ok) == (space, USER_TOKEN, True)
    assert not slack.fake.channel(space)["is_archived"]
    # the admin who unarchived it brings the bot back in, with the user token
    back = [c for c in slack.fake.calls if c.method == "conversations.invite" and c.token == USER_TOKEN]
    assert [(c.params["channel"], c.params["users"]) for c in back] == [(space, "U0BOT")]
    calls = [c.method for c in slack.fake.calls if c.params.get("channel") == space]
    i = calls.index("conversations.unarchive")
    assert "chat.postMessage" in calls[i + 1:]  # the reopening is said there after it is usable again
    assert "conversations.invite" in calls[i + 1:]  # and its people are invited again
    assert (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value == space  # the same channel
    assert await slack.rows(OutboxMessage, OutboxMessage.status != "sent") == []


async def test_a_bot_token_cannot_unarchive_so_a_reopened_ticket_goes_on_in_a_new_channel(slack: SlackHarness
                                                                                         ) -> None:
    await slack.command("printer on fire")
    await slack.settle()
    old = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    await slack.command("close HW-1", user="U0ANNA", user_name="anna", channel="C0DUTY", channel_name="support-duty")
    await slack.settle()
    assert slack.fake.channel(old)["is_archived"]

    await slack.command("reopen HW-1", user="U0REQ", channel="C0GEN", channel_name="general")
    await slack.settle()
    # the bot tried with its own token, and Slack answered as documented
    [refused] = [c for c in slack.fake.calls if c.method == "conversations.unarchive"]
    assert (refused.params["channel"], refused.token, refused.ok) == (old, BOT_TOKEN, False)
    new = (await slack.rows(KeyValue, KeyValue.key == "slack:space:HW-1"))[0].value
    assert new != old and slack.fake.channel(old)["is_archived"]
    created = slack.fake.to("conversations.create")
    assert created[0]["name"] == "hw-1-printer-on-fire"   # the archived channel keeps its name: a random part
    assert re.fullmatch(r"hw-1-printer-on-fire-[a-z2-9]{5}", created[1]["name"])
    said = [p["text"] for p in slack.fake.to("chat.postMessage") if p["channel"] == new]
    assert said[0].startswith("HW-1 is open again and goes on in this channel") and said[0].endswith(f"<#{old}>")
    assert any("reopened" in text or "triage" in text for text in said[1:])  # the reopening is said there
    assert "U0REQ" in [c["users"] for c in slack.fake.to("conversations.invite") if c["channel"] == new]
    # messages in the new channel belong to the ticket
    await slack.event({"type": "message", "channel": new, "channel_type": "group", "user": "U0REQ",
                       "text": "it jams again", "ts": "1700000900.000100"})
    await slack.settle()
    assert "it jams again" in [e.body for e in await slack.rows(TicketEvent, TicketEvent.kind == "message")]
    # nothing was lost or left undelivered on the way
    assert await slack.rows(OutboxMessage, OutboxMessage.status != "sent") == []
