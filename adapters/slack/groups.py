"""Desk roles from Slack user groups (``[access] slack_groups``): the members of each watched group
kept by the core (its ``groups`` port, bot/core/ports.py).

At start (and after Socket Mode reconnects) every watched group is read in full with
``usergroups.users.list``; while running, ``subteam_members_changed`` (``added_users`` /
``removed_users``) and ``subteam_updated`` (the group's full ``users`` list) keep it current.
Reading user groups needs the bot scope ``usergroups:read``; without it the start stops with the
message that names the scope to add (a desk whose roles silently come from nowhere is worse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import error_code, hint
from bot.core.ports import Ports
from bot.core.types import Platform
from bot.settings import ConfigError

log = structlog.stdlib.get_logger(__name__)

# answers that no retry fixes: the app, the plan or the config must change (a start stops on them)
PERMANENT = frozenset({"missing_scope", "no_such_subteam", "subteam_not_found", "paid_teams_only", "paid_only",
                       "plan_upgrade_required", "not_allowed_token_type", "invalid_auth", "not_authed",
                       "token_revoked", "account_inactive"})


def _ids(value: Any) -> list[str]:
    """A user id list from an event field (Slack sends lists of ids; anything else counts as none)."""
    return [str(item) for item in value if isinstance(item, str) and item] if isinstance(value, list) else []


def group_problem(group_id: str, exc: SlackApiError) -> str:
    """What to do when Slack refuses to list the members of a user group."""
    code = error_code(exc)
    if code in ("no_such_subteam", "subteam_not_found"):
        return (f"Slack: there is no user group {group_id} (access.slack_groups): use the id of the group "
                "(S…, from the group's page or usergroups.list), not its @handle")
    if code in ("paid_teams_only", "paid_only", "plan_upgrade_required"):
        return (f"Slack: user groups are not available on this workspace's plan ({code}); remove "
                "access.slack_groups from the config and list the team under [people] instead")
    return hint(code, exc)


class SlackGroups:
    """Keeps the members of the watched user groups in the database."""

    def __init__(self, client: AsyncWebClient, ports: Ports) -> None:
        self.client = client
        self.settings = ports.settings
        self.store = ports.groups
        self.watched = ports.groups.watched(Platform.SLACK)

    async def members(self, group_id: str) -> list[str]:
        answer = await self.client.usergroups_users_list(usergroup=group_id, include_disabled=False)
        return _ids(answer.get("users"))

    async def sync_all(self, *, strict: bool = False) -> list[str]:
        """Reads every watched group and replaces its stored members; returns the problems met.

        ``strict`` (the start): a problem no retry fixes raises ConfigError with what to change.
        A group that cannot be read keeps the members stored before."""
        found: dict[str, list[str]] = {}
        problems: list[str] = []
        permanent: list[str] = []
        for group_id in sorted(self.watched):
            try:
                found[group_id] = await self.members(group_id)
            except SlackApiError as exc:
                problem = group_problem(group_id, exc)
                problems.append(problem)
                if error_code(exc) in PERMANENT:
                    permanent.append(f"{self.settings.source}: access.slack_groups: {problem}")
                log.error("slack: cannot read the members of a user group", group=group_id, problem=problem)
            except OSError as exc:
                problems.append(f"cannot reach the Slack API ({type(exc).__name__})")
                log.warning("slack: cannot read a user group, keeping the members stored before", group=group_id,
                            error=type(exc).__name__)
        if strict and permanent:
            raise ConfigError(permanent)
        if strict:
            # Slack lets every member edit user groups unless an admin restricts it, and the API cannot tell
            log.warning("slack: access.slack_groups: whoever is in %s gets its desk role; unless a workspace admin "
                        "restricted who may change user groups (workspace settings, Permissions, User Groups), "
                        "any member can add themselves and get it", ", ".join(sorted(self.watched)))
        if found:
            await self.replace(found)
            log.info("slack: desk roles read", groups=len(found), members=sum(len(v) for v in found.values()))
        return problems

    async def replace(self, members: Mapping[str, Iterable[str]]) -> None:
        await self.store.replace(Platform.SLACK, members)

    async def changed(self, group_id: str, added: Iterable[str], removed: Iterable[str]) -> bool:
        """``subteam_members_changed``: True when the group is one of the watched ones."""
        if group_id not in self.watched:
            return False
        added, removed = list(added), list(removed)
        if not added and not removed:
            return True
        await self.store.changed(Platform.SLACK, group_id, added, removed)
        log.info("slack: user group changed", group=group_id, joined=len(added), left=len(removed))
        return True

    async def on_members_changed(self, event: Mapping[str, Any]) -> None:
        await self.changed(str(event.get("subteam_id") or ""), _ids(event.get("added_users")),
                           _ids(event.get("removed_users")))

    async def on_updated(self, event: Mapping[str, Any]) -> None:
        """``subteam_updated``: the group's whole member list (absent when only its name changed)."""
        subteam = event.get("subteam") or {}
        group_id = str(subteam.get("id") or "")
        if group_id not in self.watched or not isinstance(subteam.get("users"), list):
            return
        if subteam.get("date_delete"):
            # a disabled group gives nobody a role any more
            await self.replace({group_id: []})
            return
        await self.replace({group_id: _ids(subteam.get("users"))})
