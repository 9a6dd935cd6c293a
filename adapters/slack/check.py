"""``dutydesk check --online``, the Slack part: the tokens Slack accepts, the scopes of slack/manifest.yml granted,
the configured channels there with the bot in them (the duty channel private), the user groups readable.

Only reading calls (``auth.test``, ``apps.connections.open``, ``conversations.list``, ``usergroups.users.list``);
``apps.connections.open`` hands out a Socket Mode URL that nobody connects to, which is how an app token is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.adapter import HTTP_TIMEOUT, make_client
from adapters.slack.directory import configured_channels
from adapters.slack.errors import error_code, hint
from adapters.slack.groups import group_problem
from bot.core.ports import Finding, failed, passed
from bot.settings import Settings

AREA = "slack"
# oauth_config.scopes.bot of slack/manifest.yml (tests/adapters/slack/test_slack_check.py keeps them equal)
BOT_SCOPES = frozenset({
    "app_mentions:read", "channels:history", "channels:read", "chat:write", "commands", "files:read",
    "files:write", "groups:history", "groups:read", "groups:write", "im:history", "im:write", "reactions:read",
    "usergroups:read", "users:read",
})
USER_SCOPES = frozenset({"chat:write", "groups:write"})  # chat.delete; conversations.unarchive
REINSTALL = "add them under OAuth & Permissions (or update the app from slack/manifest.yml) and reinstall the app"


def granted_scopes(headers: Mapping[str, Any]) -> set[str] | None:
    """The scopes Slack reports for a token (``X-OAuth-Scopes`` on every Web API answer); None when absent."""
    for name, value in headers.items():
        if name.lower() == "x-oauth-scopes":
            raw = value[0] if isinstance(value, list | tuple) else value
            return {scope.strip() for scope in str(raw).split(",") if scope.strip()}
    return None


class SlackProbe:
    area = AREA

    def applies(self, settings: Settings) -> bool:
        return settings.slack_enabled

    async def run(self, settings: Settings) -> list[Finding]:
        slack = settings.slack
        assert slack.bot_token is not None   # applies() said so
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT)) as http:
            bot = make_client(slack.bot_token.get_secret_value(), slack.api_base_url)
            bot.session = http
            try:
                auth = await bot.auth_test()
            except SlackApiError as exc:
                return [failed(AREA, "bot token", hint(error_code(exc), exc))]
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return [failed(AREA, "api", f"cannot reach {slack.api_base_url} ({type(exc).__name__}); check the "
                                            "network and slack.api_base_url")]
            name = str(auth.get("user") or "dutydesk")
            findings = [passed(AREA, "bot token", f"accepted: @{name} in workspace {auth.get('team') or '?'} "
                                                  f"({auth.get('team_id') or '?'})")]
            findings.append(_scopes("bot token scopes", granted_scopes(auth.headers), BOT_SCOPES))
            findings.extend(await _other_tokens(settings, http))
            findings.extend(await _channels(settings, bot, name))
            findings.extend(await _groups(settings, bot))
            return findings


def _scopes(subject: str, granted: set[str] | None, needed: frozenset[str]) -> Finding:
    if granted is None:
        return failed(AREA, subject, "Slack did not report the token's scopes (no X-OAuth-Scopes header); check "
                                     "slack.api_base_url")
    missing = sorted(needed - granted)
    if missing:
        return failed(AREA, subject, f"missing {', '.join(missing)}: {REINSTALL}")
    return passed(AREA, subject, f"all {len(needed)} scopes of slack/manifest.yml granted")


async def _other_tokens(settings: Settings, http: aiohttp.ClientSession) -> list[Finding]:
    slack = settings.slack
    findings = []
    if slack.mode == "socket" and slack.app_token is not None:
        app = AsyncWebClient(base_url=slack.api_base_url, timeout=HTTP_TIMEOUT, session=http)
        try:
            await app.apps_connections_open(app_token=slack.app_token.get_secret_value())
            findings.append(passed(AREA, "app token", "accepted for Socket Mode"))
        except SlackApiError as exc:
            findings.append(failed(AREA, "app token", f"Slack refused DUTYDESK_SLACK__APP_TOKEN ({error_code(exc)}): "
                                                      "generate an app-level token with the scope connections:write "
                                                      "(Basic Information → App-Level Tokens)"))
    if slack.user_token is not None:
        user = make_client(slack.user_token.get_secret_value(), slack.api_base_url)
        user.session = http
        try:
            auth = await user.auth_test()
            findings.append(_scopes("user token scopes", granted_scopes(auth.headers), USER_SCOPES))
        except SlackApiError as exc:
            findings.append(failed(AREA, "user token", f"Slack refused DUTYDESK_SLACK__USER_TOKEN "
                                                       f"({error_code(exc)}): it must be a workspace admin's user "
                                                       "token (xoxp-…) with the user scopes chat:write and "
                                                       "groups:write"))
    return findings


async def _channels(settings: Settings, client: AsyncWebClient, bot: str) -> list[Finding]:
    """The configured channels exist, the bot is in each (it sees no message elsewhere), and the duty channel is
    private (it shows ticket titles)."""
    wanted = sorted(configured_channels(settings))
    if not wanted:
        return []
    try:
        found = await _channel_list(client)
    except SlackApiError as exc:
        return [failed(AREA, "channels", hint(error_code(exc), exc))]
    duty = {channel for only, channel in settings.channels.duty_entries() if only in (None, "slack")}
    findings = []
    for name in wanted:
        channel = found.get(name)
        role = "duty channel" if name in duty else "channel"
        if channel is None:
            findings.append(failed(AREA, name, f"no such {role} that the bot can see: create it"
                                               f"{' as a private channel' if name in duty else ''} and invite the bot "
                                               f"(/invite @{bot}), or fix the name under [channels]"))
        elif name in duty and not channel.get("is_private"):
            findings.append(failed(AREA, name, "the duty channel is public, but it shows ticket titles: convert it "
                                               "to a private channel or name a private one"))
        elif not channel.get("is_member"):
            findings.append(failed(AREA, name, f"the bot is not a member of this {role}: /invite @{bot} there"))
        else:
            findings.append(passed(AREA, name, f"{'private ' if channel.get('is_private') else ''}{role}, the bot "
                                               "is a member"))
    return findings


async def _channel_list(client: AsyncWebClient) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        page = await client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                               limit=1000, cursor=cursor)
        for raw in page.get("channels") or []:
            found[f"#{raw.get('name') or raw['id']}"] = raw
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return found


async def _groups(settings: Settings, client: AsyncWebClient) -> list[Finding]:
    """Each user group of ``[access] slack_groups`` can be read (its members get desk roles)."""
    findings = []
    for group_id in sorted({gid for ids in settings.access.groups("slack").values() for gid in ids}):
        subject = f"user group {group_id}"
        try:
            answer = await client.usergroups_users_list(usergroup=group_id, include_disabled=False)
        except SlackApiError as exc:
            findings.append(failed(AREA, subject, group_problem(group_id, exc)))
            continue
        findings.append(passed(AREA, subject, f"readable, {len(answer.get('users') or [])} members"))
    return findings
