"""The Slack adapter's pure parts: escaping and Block Kit, the rate limiter, markup conversion,
and the manifest kept in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapters.slack import convert, render
from adapters.slack.app import MOVE_SHORTCUT
from adapters.slack.ratelimit import ChannelRateLimiter
from adapters.slack.spaces import channel_name
from bot.core.types import Button, OutboundMessage, Platform, Target, Visibility
from bot.features import build_registry
from bot.tickets.form import ticket_form

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- rendering


def test_escape_defangs_mentions_links_and_special_words() -> None:
    assert render.escape("a <@U1> & <!here> <https://x|y>") == "a &lt;@U1&gt; &amp; &lt;!here&gt; &lt;https://x|y&gt;"
    assert render.escape("@here @Channel @everyone @hereby") == "@\u2060here @\u2060Channel @\u2060everyone @hereby"


def test_long_text_is_split_into_sections_on_line_ends() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    pieces = render.chunks(text, 1000)
    assert all(len(p) <= 1000 for p in pieces) and "\n".join(pieces) == text
    assert render.chunks("y" * 2500, 1000) == ["y" * 1000, "y" * 1000, "y" * 500]


def test_message_args_only_use_blocks_for_buttons() -> None:
    target = Target(kind="channel", platform=Platform.SLACK, channel_id="#x")
    plain = OutboundMessage(id=1, target=target, text="hi <b>", kind="reply", visibility=Visibility.PUBLIC)
    assert render.message_args(plain)["text"] == "hi &lt;b&gt;" and "blocks" not in render.message_args(plain)
    many = tuple(Button(action="rate", label=str(i), value=str(i)) for i in range(30))
    args = render.message_args(plain.model_copy(update={"buttons": many}))
    actions = [b for b in args["blocks"] if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    ids = [e["action_id"] for a in actions for e in a["elements"]]
    assert len(set(ids)) == 30 and {render.action_name(i) for i in ids} == {"rate"}
    assert all(b["text"]["verbatim"] for b in args["blocks"] if b["type"] == "section")


def test_action_names_survive_their_uniqueness_suffix() -> None:
    assert render.action_name("duty-accept") == "duty-accept"
    assert render.action_name("take~3") == "take"
    assert render.action_name("odd~name") == "odd~name"


def test_the_ticket_form_as_a_modal_and_back() -> None:
    view = render.modal(ticket_form("de", ["blog2social"]), submit="Ticket anlegen", close="Abbrechen",
                        metadata={"channel": "C1"})
    assert view["type"] == "modal" and view["callback_id"] == "ticket" and view["title"]["text"] == "Neues Ticket"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["description"]["element"]["multiline"] and not blocks["description"]["optional"]
    assert blocks["topic"]["element"]["type"] == "static_select"
    assert blocks["object_id"]["optional"] and not blocks["object_id"]["element"]["multiline"]
    state = {"values": {
        "description": {"description": {"type": "plain_text_input", "value": "Login geht nicht"}},
        "urgency": {"urgency": {"type": "static_select", "selected_option": {"value": "NICE TO HAVE"}}},
        "priority": {"priority": {"type": "static_select", "selected_option": None}},
    }}
    assert render.view_values({"state": state}) == {"description": "Login geht nicht", "urgency": "NICE TO HAVE",
                                                    "priority": ""}


def test_home_view_is_escaped() -> None:
    view = render.home_view(["Your tickets (1):\nHW-1 · <!here>"], hint="Open one with /ticket")
    assert view["type"] == "home" and "&lt;!here&gt;" in view["blocks"][0]["text"]["text"]


# --------------------------------------------------------------------------- rate limiter


async def test_the_rate_limiter_allows_a_burst_then_one_per_second_per_channel() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = ChannelRateLimiter(rate=1.0, burst=3, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await limiter.acquire("C1")
    assert slept == [1.0, 1.0]
    await limiter.acquire("C2")  # another channel has its own bucket
    assert slept == [1.0, 1.0]
    now[0] += 10
    for _ in range(3):
        await limiter.acquire("C1")
    assert slept == [1.0, 1.0]


# --------------------------------------------------------------------------- conversion


def test_markup_becomes_what_a_person_reads() -> None:
    names = {"U0ANNA": "anna"}.get
    assert convert.plain("<@U0ANNA|a.k> <@U9> <#C1|general> <!here> &lt;b&gt; &amp; <https://x.y|x.y>", names) == (
        "@anna @U9 #general @here <b> & x.y")
    assert convert.plain("<!subteam^S1|@ops> <mailto:a@b.c|a@b.c> <https://x.y/z|docs>") == (
        "@ops a@b.c docs (https://x.y/z)")


def test_mentions_of_the_bot_are_stripped() -> None:
    assert convert.strip_mentions("<@U0BOT> ticket take HW-1 <@U0ANNA>", "U0BOT") == "ticket take HW-1 <@U0ANNA>"
    assert convert.mentions("hi <@U0BOT|dutydesk>", "U0BOT") and not convert.mentions("hi", "U0BOT")


def test_command_idempotency_keys_come_from_the_trigger() -> None:
    assert convert.trigger_key("cmd", "1.2.3") == convert.trigger_key("cmd", "1.2.3")
    assert convert.trigger_key("cmd", "1.2.3") != convert.trigger_key("cmd", "1.2.4")


def test_ticket_channel_names() -> None:
    assert channel_name("HW-42", "VPN drops") == "hw-42-vpn-drops"
    assert channel_name("HW-1") == "hw-1"  # no title words (only emoji): the id alone
    assert channel_name("HW-1", "🔥🔥🔥") == "hw-1"
    # Slack's rules: lowercase letters, digits, - and _; umlauts and Cyrillic transliterated as readers would
    assert channel_name("HW-7", "Drucker im 2. OG: Übergröße hängt") == "hw-7-drucker-im-2-og-uebergroesse"
    assert channel_name("HW-8", "Принтер не печатает") == "hw-8-printer-ne-pechataet"
    assert channel_name("HW-9", "Ça ne marche pas à Łódź") == "hw-9-ca-ne-marche-pas-a-lodz"
    # a short slug, cut at a word's end; a requester's markup is no part of a name
    assert channel_name("HW-3", "VPN drops every ten minutes since the update on Monday") == \
        "hw-3-vpn-drops-every-ten-minutes"
    assert channel_name("HW-4", "<!channel> @here <@U0ANNA> *bold* `code`") == "hw-4-channel-here-u0anna-bold-code"
    for title in ("x" * 500, "Ü" * 300, "-" * 90, "a b " * 100, "\u202e\u200b evil \x00 name"):
        name = channel_name("X" * 8 + "-" + "9" * 70, title)
        assert len(name) <= 80 and re.fullmatch(r"[a-z0-9_-]+", name) and not name.endswith("-")
    # a taken name is not followed by a guessable one (hw-1-printer-2 … could all be taken ahead of the ticket)
    others = {channel_name("HW-1", "Printer", 1) for _ in range(20)}
    assert len(others) == 20 and all(re.fullmatch(r"hw-1-printer-[a-z2-9]{5}", name) for name in others)
    assert len(channel_name("X" * 8 + "-" + "9" * 70, "long title words", 1)) <= 80


# --------------------------------------------------------------------------- the manifest


METHOD_SCOPES = {  # https://api.slack.com/methods: the bot scope each Web API method needs
    "auth.test": set(), "views.open": set(), "views.publish": set(),
    "chat.postMessage": {"chat:write"}, "chat.postEphemeral": {"chat:write"}, "chat.delete": {"chat:write"},
    "chat.update": {"chat:write"}, "conversations.archive": {"groups:write"},
    "conversations.unarchive": {"groups:write"}, "conversations.setTopic": {"groups:write"},
    "conversations.open": {"im:write"}, "conversations.create": {"groups:write"},
    "conversations.invite": {"groups:write"}, "conversations.list": {"channels:read", "groups:read"},
    "conversations.info": {"channels:read", "groups:read"},
    "conversations.replies": {"channels:history", "groups:history"}, "users.info": {"users:read"},
    "usergroups.users.list": {"usergroups:read"}, "views.update": set(),
    "files.info": {"files:read"},
    "files.getUploadURLExternal": {"files:write"}, "files.completeUploadExternal": {"files:write"},
}
EVENT_SCOPES = {"app_mention": {"app_mentions:read"}, "message.channels": {"channels:history"},
                "message.groups": {"groups:history"}, "message.im": {"im:history"},
                "reaction_added": {"reactions:read"}, "app_home_opened": set(),
                "subteam_members_changed": {"usergroups:read"}, "subteam_updated": {"usergroups:read"}}


def _code(name: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "adapters" / "slack").glob(f"{name}.py"))


def test_manifest_commands_are_the_bots_command_groups() -> None:
    commands = {c["command"].lstrip("/") for c in MANIFEST["features"]["slash_commands"]}
    assert commands == build_registry().groups()
    assert all(c["should_escape"] for c in MANIFEST["features"]["slash_commands"])


def test_manifest_events_shortcuts_and_interactivity_match_the_listeners() -> None:
    listened = set(re.findall(r'app\.event\("([\w.]+)"\)', _code("app")))
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert {e.split(".")[0] for e in events} == listened
    assert [s["callback_id"] for s in MANIFEST["features"]["shortcuts"]] == [MOVE_SHORTCUT]
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] and MANIFEST["settings"]["socket_mode_enabled"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"]


def test_manifest_scopes_are_exactly_those_the_calls_and_events_need() -> None:
    methods = {m.replace("_", ".") for m in re.findall(r"client\.(\w+)\(", _code("*"))}
    assert methods <= set(METHOD_SCOPES), f"add the scope of {methods - set(METHOD_SCOPES)} to the test and manifest"
    needed = {"commands"}
    for method in methods - {"chat.delete"}:  # chat.delete is called with the user token only
        needed |= METHOD_SCOPES[method]
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed
    assert MANIFEST["oauth_config"]["scopes"]["user"] == ["chat:write", "groups:write"]


# --------------------------------------------------------------------------- acks first


async def test_work_yields_to_requests_being_received_but_not_for_long(monkeypatch) -> None:
    import asyncio

    from bot.core import inbox
    from bot.core.inbox import FlowControl

    flow = FlowControl()
    assert await flow.yield_to_requests() is False  # no request being received: work goes on at once

    monkeypatch.setattr(inbox, "YIELD_MAX", 0.01)
    async with flow.arriving():  # a request that takes longer than YIELD_MAX: work goes on anyway
        assert await flow.yield_to_requests() is False

    monkeypatch.setattr(inbox, "YIELD_MAX", 60.0)
    order: list[str] = []
    received = asyncio.Event()

    async def request() -> None:
        async with flow.arriving():
            received.set()
            await asyncio.sleep(0.01)
            order.append("request")

    async def work() -> None:
        await received.wait()
        assert await flow.yield_to_requests() is False  # waited for the request, not for YIELD_MAX
        order.append("work")

    await asyncio.gather(work(), request())
    assert order == ["request", "work"]


def test_only_the_bots_own_marks_become_slack_mentions() -> None:
    from adapters.slack.render import shown
    from bot.core.mentions import mention, space_link

    text = (f"Ask {mention('anna', 'Anna')} or {mention('zed', 'zed')} <@U0X> <!here> "
            f"{space_link('HW-1', 'HW-1')} \ue000")
    # resolved ones become Slack's markup, unresolved ones their text; typed markup and stray marks stay text
    assert shown(text, {"anna": "<@U0ANNA>"}) == "Ask <@U0ANNA> or zed &lt;@U0X&gt; &lt;!here&gt; HW-1 "
    assert shown(text) == "Ask Anna or zed &lt;@U0X&gt; &lt;!here&gt; HW-1 "
    # the visible text of a mention is escaped too
    assert shown(mention("anna", "<!channel> @here")) == "&lt;!channel&gt; @\u2060here"
