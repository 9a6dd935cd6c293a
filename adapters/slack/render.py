"""Core messages, forms and lists → Slack Web API arguments (text, Block Kit, modals, App Home).

Everything the bot shows is escaped: ``&``, ``<`` and ``>`` become entities, so a person's text
can neither mention anybody (``<@U…>``, ``<!here>``) nor link anything, and the special words
``@here``, ``@channel`` and ``@everyone`` get an invisible joiner so no client turns them into a ping.
Only the bot's own mentions (bot/core/mentions.py: marks no text from outside carries) become Slack's
``<@U…>`` (a person, so their client notifies them) and ``<#C…>`` (a ticket's private channel), as the
adapter resolved them (``links``: marked key → markup); a mention it could not resolve shows its plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.types import Button, FormField, FormSpec, OutboundMessage, split

MAX_TEXT = 39_000          # chat.postMessage truncates at 40 000 characters
MAX_SECTION = 2_900        # a section block's text: at most 3 000
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100      # a Home tab's view
MAX_BUTTONS = 25           # elements per actions block
MAX_BUTTON_LABEL = 75
MAX_VALUE = 2_000
MAX_TITLE = 24             # modal title, submit and close labels
MAX_LABEL = 2_000
MAX_OPTION = 75
ACTION_SUFFIX = "~"        # action_ids must be unique per message: take, take~2, …

_SPECIAL = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_MARKS = re.compile("[\ue000-\ue002]")  # bot/core/mentions.py


def escape(text: str) -> str:
    """Text that Slack shows as written: no mentions, no links, no pings (and no mark of a mention)."""
    text = _MARKS.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(lambda m: "@\u2060" + m.group(1), text)


def shown(text: str, links: Mapping[str, str] | None = None) -> str:
    """``text`` escaped, with the bot's own mentions in it as ``links`` gives them (``<@U…>``, ``<#C…>``)."""
    parts = []
    for part in split(text):
        if isinstance(part, str):
            parts.append(escape(part))
        else:
            key, visible = part
            parts.append((links or {}).get(key) or escape(visible))
    return "".join(parts)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chunks(text: str, limit: int = MAX_SECTION) -> list[str]:
    """Splits on line ends where it can, so each piece fits a section block."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def action_ids(buttons: Iterable[Button]) -> list[str]:
    """``button.action`` as the action_id, made unique within the message by a suffix."""
    seen: dict[str, int] = {}
    ids = []
    for button in buttons:
        n = seen.get(button.action, 0) + 1
        seen[button.action] = n
        ids.append(button.action if n == 1 else f"{button.action}{ACTION_SUFFIX}{n}")
    return ids


def action_name(action_id: str) -> str:
    """The core's action name behind an action_id (the uniqueness suffix removed)."""
    name, sep, n = action_id.rpartition(ACTION_SUFFIX)
    return name if sep and n.isdigit() else action_id


def message_args(message: OutboundMessage, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``text`` (and ``blocks`` when there are buttons) for chat.postMessage / chat.postEphemeral."""
    text = clip(shown(message.text, links), MAX_TEXT) or " "
    args: dict[str, Any] = {"text": text, "link_names": False, "unfurl_links": False, "unfurl_media": False}
    if message.buttons:
        args["blocks"] = blocks(text, message.buttons)
    return args


def update_args(message: OutboundMessage, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``text`` and ``blocks`` for chat.update: the blocks are always given, since a message without them keeps its
    old ones (and a used button would stay clickable)."""
    text = clip(shown(message.text, links), MAX_TEXT) or " "
    return {"text": text, "link_names": False, "blocks": blocks(text, message.buttons)}


def blocks(text: str, buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """Sections (verbatim mrkdwn, so nothing is auto-linked) followed by the buttons."""
    result: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece or " ", "verbatim": True}}
        for piece in chunks(text)
    ]
    ids = action_ids(buttons)
    rows = [list(zip(ids, buttons, strict=True))[i: i + MAX_BUTTONS] for i in range(0, len(buttons), MAX_BUTTONS)]
    room = MAX_BLOCKS - len(rows)
    if len(result) > room:
        result = [*result[: room - 1], {"type": "section", "text": {"type": "plain_text", "text": "…"}}]
    for row in rows:
        result.append({
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": action_id, "value": clip(button.value, MAX_VALUE),
                 "text": {"type": "plain_text", "text": clip(button.label, MAX_BUTTON_LABEL) or "·", "emoji": True}}
                for action_id, button in row
            ],
        })
    return result


# --------------------------------------------------------------------------- modals

MULTILINE_LIMIT = 3000


def modal(form: FormSpec, *, submit: str, close: str, metadata: Mapping[str, Any], dispatch: str | None = None,
          selected: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A modal view for a core form: one input block per field, block_id = action_id = field name.

    ``dispatch``: the field whose choice is sent at once (``dispatch_action``: the topic, which changes
    what the form asks); ``selected``: choices shown as already chosen (after such a change)."""
    return {
        "type": "modal",
        "callback_id": form.form_id,
        "title": {"type": "plain_text", "text": clip(form.title, MAX_TITLE)},
        "submit": {"type": "plain_text", "text": clip(submit, MAX_TITLE)},
        "close": {"type": "plain_text", "text": clip(close, MAX_TITLE)},
        "private_metadata": json.dumps(dict(metadata), separators=(",", ":")),
        "blocks": [_input(field, dispatch=field.name == dispatch, selected=(selected or {}).get(field.name))
                   for field in form.fields],
    }


def _option(choice: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": clip(choice, MAX_OPTION)}, "value": choice}


def _input(field: FormField, *, dispatch: bool = False, selected: str | None = None) -> dict[str, Any]:
    element: dict[str, Any]
    if field.choices:
        element = {
            "type": "static_select",
            "action_id": field.name,
            "options": [_option(choice) for choice in field.choices[:100]],
        }
        if selected in field.choices[:100]:
            element["initial_option"] = _option(selected)
    else:
        element = {"type": "plain_text_input", "action_id": field.name,
                   "multiline": field.multiline, "max_length": MULTILINE_LIMIT}
    block = {
        "type": "input",
        "block_id": field.name,
        "optional": not field.required,
        "label": {"type": "plain_text", "text": clip(field.label, MAX_LABEL)},
        "element": element,
    }
    if dispatch and field.choices:
        block["dispatch_action"] = True
    return block


def view_values(view: Mapping[str, Any]) -> dict[str, str]:
    """The submitted values of a modal: field name → text or the selected option's value ('' when empty)."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state", {}).get("values") or {}).items():
        for action in actions.values():
            kind = action.get("type")
            if kind == "static_select":
                selected = action.get("selected_option") or {}
                values[block_id] = str(selected.get("value") or "")
            else:
                values[block_id] = str(action.get("value") or "")
    return values


# --------------------------------------------------------------------------- App Home


def home_view(sections: list[str], *, hint: str, new_ticket: str | None = None,
              action: str = "home_new_ticket") -> dict[str, Any]:
    """The App Home tab: a "New ticket" button (``action``, it opens the ticket form), the person's tickets as
    plain sections, then a hint how else to open one."""
    result: list[dict[str, Any]] = []
    if new_ticket:
        result.append({"type": "actions", "block_id": "home_actions", "elements": [
            {"type": "button", "action_id": action, "value": "new", "style": "primary",
             "text": {"type": "plain_text", "text": clip(new_ticket, MAX_BUTTON_LABEL) or "·", "emoji": True}}]})
    for text in sections:
        for piece in chunks(escape(text)):
            result.append({"type": "section", "text": {"type": "mrkdwn", "text": piece or " ", "verbatim": True}})
        result.append({"type": "divider"})
    result.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(hint), "verbatim": True}]})
    if len(result) > MAX_HOME_BLOCKS:  # Slack: at most 100 blocks on the tab
        result = [*result[: MAX_HOME_BLOCKS - 1], result[-1]]
    return {"type": "home", "blocks": result}
