"""Slack Web API failures → ``DeliveryError`` with a reason that says what to fix.

The reason ends up in the outbox row and in the dead-row report to the duty channel, so it
names the scope, the channel or the environment variable to change, never message content.
"""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.ports import DeliveryError

TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                          "team_access_not_granted", "no_permission", "ekm_access_denied"})
# errors that no retry can fix: the config, the workspace or the app must change first
PERMANENT = TOKEN_ERRORS | frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "missing_scope", "restricted_action",
    "user_not_found", "user_not_in_channel", "cannot_dm_bot", "user_disabled", "cant_delete_message",
    "message_not_found", "msg_too_long", "invalid_blocks", "invalid_arguments", "no_text", "too_many_attachments",
    "method_deprecated", "not_allowed_token_type", "access_denied", "channel_is_archived",
})


def error_code(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or "unknown_error")


def retry_after(exc: SlackApiError) -> float | None:
    """The ``Retry-After`` of a 429 answer, in seconds (Slack sends whole seconds)."""
    if exc.response.status_code != 429 and error_code(exc) != "ratelimited":
        return None
    for name, value in (exc.response.headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(float(raw), 0.0)
            except (TypeError, ValueError):
                break
    return 1.0


def hint(code: str, exc: SlackApiError | None = None, *, channel: str | None = None, bot: str = "dutydesk") -> str:
    """What an operator does about a Slack error code."""
    where = channel or "the channel"
    data = exc.response.data if exc is not None and isinstance(exc.response.data, dict) else {}
    if code == "not_in_channel":
        return f"Slack: the bot is not a member of {where}: invite it there with /invite @{bot}"
    if code == "channel_not_found":
        return (f"Slack: channel {where} was not found or the bot cannot see it: check the name under [channels] "
                f"in the config, and if the channel is private invite the bot with /invite @{bot}")
    if code in ("is_archived", "channel_is_archived"):
        return f"Slack: {where} is archived: unarchive it or name another channel in the config"
    if code == "missing_scope":
        needed = data.get("needed") or "?"
        return (f"Slack: the app lacks the OAuth scope {needed}: add it under OAuth & Permissions (or update the "
                "app from slack/manifest.yml) and reinstall the app to the workspace")
    if code == "account_inactive":
        return ("Slack: the bot token belongs to a deactivated account or uninstalled app (account_inactive): "
                "reinstall the app and update DUTYDESK_SLACK__BOT_TOKEN")
    if code in TOKEN_ERRORS:
        return (f"Slack rejected the bot token ({code}): check DUTYDESK_SLACK__BOT_TOKEN (the xoxb-… token under "
                "OAuth & Permissions) and that the app is installed in the workspace")
    if code == "restricted_action":
        return (f"Slack: the workspace's settings do not let the app do this in {where} (restricted_action): "
                "ask a workspace admin to allow apps to create private channels and post there")
    if code == "cant_delete_message":
        return ("Slack: the user token may not remove other people's messages: DUTYDESK_SLACK__USER_TOKEN must be "
                "the token of a workspace admin or owner, with the chat:write user scope")
    if code in ("user_not_found", "user_disabled", "cannot_dm_bot", "user_not_in_channel"):
        return f"Slack: cannot reach that person ({code}); check their slack id under [people] in the config"
    if code == "ratelimited":
        return "Slack: rate limited; retrying after Retry-After"
    return f"Slack API error {code}"


def delivery_error(exc: BaseException, *, channel: str | None = None, bot: str = "dutydesk") -> DeliveryError:
    """Classifies one failure of a Web API call made while delivering an outbox row."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, SlackApiError):
        code = error_code(exc)
        wait = retry_after(exc)
        if wait is not None:
            return DeliveryError(hint("ratelimited"), retry_after=wait)
        if code in PERMANENT:
            return DeliveryError(hint(code, exc, channel=channel, bot=bot), permanent=True)
        if exc.response.status_code >= 500 or code in ("internal_error", "fatal_error", "service_unavailable",
                                                       "request_timeout"):
            return DeliveryError(f"Slack is having trouble ({code}); retrying")
        return DeliveryError(hint(code, exc, channel=channel, bot=bot))
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return DeliveryError(f"cannot reach the Slack API ({type(exc).__name__}); retrying")
    return DeliveryError(type(exc).__name__)
