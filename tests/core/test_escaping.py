"""Mentions and markup in people's text never ping and never render.

The core keeps a person's text as written (receipts, ``/ticket show``, ``/queue``, the moved-thread
copy, the Prio-1 digest, duty notices); each adapter's render escapes everything it shows, in one
place: ``adapters.slack.render.escape`` (``&<>`` as entities, ``@here/@channel/@everyone`` defused,
``link_names`` off) and ``adapters.matrix.render`` (HTML-escaped ``formatted_body``, ``@room``
defused, empty ``m.mentions``). This test runs hostile text through the whole bot (the simulator,
every kind of message that embeds it) and renders every message with both adapters.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import yaml

from adapters.matrix import render as matrix_render
from adapters.slack import render as slack_render
from bot.core.types import Button, OutboundMessage, Platform, Target, Visibility
from bot.simulate import simulate

HOSTILE = ("@channel @here @everyone @Room <!everyone> <!channel> <!here|here> <@U0ANNA> <#C123> "
           "<!subteam^S1|@team> <https://evil.example|click me> <b>bold</b> <script>alert(1)</script> "
           "<a href=\"https://evil.example\">x</a> &lt;!here&gt; @room")
CONFIG: dict[str, Any] = {
    "desk": {"name": "Escape desk", "ticket_prefix": "ES", "timezone": "Europe/Berlin"},
    "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]}, "lea": {"name": "Lea <b>@here</b>"}},
    "channels": {"duty": ["#support-duty"], "guarded": ["#general"], "privacy_mode": "move"},
    "duty": {"window": "mon-sun 16:00-18:00", "members": ["anna", "lea"], "anchor": "2026-11-23"},
}
SLACK_PING = re.compile(r"<[!@#]|<https?:|(?<![\w\u2060])@(here|channel|everyone)\b", re.IGNORECASE)
ROOM_PING = re.compile(r"(?<![\w\u2060])@room\b", re.IGNORECASE)


async def transcript(tmp_path: Path, platform: str) -> list[dict]:
    p = "/" if platform == "slack" else "!"
    steps = [
        {"at": "2026-11-24T15:55:00+01:00", "user": "ben", "channel": "#general", "text": f"shop down {HOSTILE}",
         "id": "m1"},
        {"user": "carl", "thread": "m1", "text": f"same here {HOSTILE}"},
        {"user": "anna", "react": "ticket" if platform == "slack" else "🎫", "message": "m1"},
        {"user": "dora", "dm": True, "text": f"{p}ticket -p1 {HOSTILE}"},
        {"user": "dora", "dm": True, "text": f"{p}ticket show ES-2"},
        {"user": "anna", "dm": True, "text": f"{p}queue"},
        {"user": "anna", "dm": True, "text": f"{p}ticket note ES-2 {HOSTILE}"},
        {"user": "anna", "dm": True, "text": f"{p}ticket show ES-2"},
        {"until": "2026-11-24T17:05:00+01:00"},
    ]
    path = tmp_path / f"{platform}.yaml"
    path.write_text(yaml.safe_dump({"config": CONFIG, "platform": platform, "start": "2026-11-24T15:50:00+01:00",
                                    "steps": steps}, allow_unicode=True))
    out = io.StringIO()
    await simulate(path, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def message(line: dict) -> OutboundMessage:
    buttons = tuple(Button(action=a, label=f"{a} {HOSTILE}", value="ES-1") for a in line.get("buttons", ()))
    return OutboundMessage(id=1, target=Target(kind="channel", platform=Platform.SLACK, channel_id="C1"),
                           text=line["text"], kind=line["kind"], visibility=Visibility(line["visibility"]),
                           buttons=buttons)


def assert_slack_shows_it_as_written(msg: OutboundMessage) -> None:
    args = slack_render.message_args(msg)
    assert args["link_names"] is False and args["unfurl_links"] is False
    texts = [args["text"]] + [b["text"]["text"] for b in args.get("blocks", ()) if b["type"] == "section"]
    for text in texts:
        assert not SLACK_PING.search(text), text
    # nothing is lost: unescaping gives back what the core said (the joiners aside)
    shown = args["text"].replace("\u2060", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert shown == msg.text or (shown.endswith("…") and msg.text.startswith(shown[:-1]))


def assert_matrix_shows_it_as_written(msg: OutboundMessage) -> None:
    content = matrix_render.content(msg, "en")
    assert content["m.mentions"] == {}
    assert not ROOM_PING.search(content["body"])
    assert set(re.findall(r"<[^>]*>", content["formatted_body"])) <= {"<br>"}, content["formatted_body"]
    assert not ROOM_PING.search(content["formatted_body"])


async def test_hostile_text_in_every_kind_of_message_never_pings_or_renders(tmp_path: Path) -> None:
    seen: set[str] = set()
    for platform in ("slack", "matrix"):
        lines = [line for line in await transcript(tmp_path, platform) if "text" in line]
        for line in lines:
            if "@channel" in line["text"] or "<script>" in line["text"]:
                seen.add(line["kind"])
            msg = message(line)
            assert_slack_shows_it_as_written(msg)
            assert_matrix_shows_it_as_written(msg)
        # the public channel shows none of it: the thread moved, one short notice stayed
        assert not any(line.get("visibility") == "public" and "@channel" in line["text"] for line in lines)
    # the text really went through these messages: the moved copy, the digest, the receipt and /ticket show
    assert {"moved", "digest", "reply"} <= seen, seen


def test_the_renderers_on_their_own() -> None:
    text = HOSTILE + "\n<@U0ANNA|anna> @here\u200b <!date^1392734382^{date}|x>"
    msg = OutboundMessage(id=7, target=Target(kind="dm", platform=Platform.MATRIX, user_id="@a:x"), text=text,
                          kind="reply", visibility=Visibility.PRIVATE,
                          buttons=(Button(action="take", label="<!channel> take", value="<@U1>"),))
    assert_slack_shows_it_as_written(msg)
    assert_matrix_shows_it_as_written(msg)
    home = slack_render.home_view([HOSTILE], hint="<!here> hint")
    assert not any(SLACK_PING.search(json.dumps(block)) for block in home["blocks"])
    matrix_text = matrix_render.text_of(msg, "en")
    assert matrix_text.lower().count("@\u2060room") == 2 and not ROOM_PING.search(matrix_text)
