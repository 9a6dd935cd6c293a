"""The App Home tab: a "New ticket" button that opens the ticket form, and the person's tickets with their state.

Published (``views.publish``) when a person opens the tab (``app_home_opened``), and again for the people of a
ticket (its requester, assignee and members) who opened it before whenever the ticket's state, priority or
assignee changes: the core then gives its space a new topic (outbox space operation ``topic``), and the adapter
refreshes their tabs after setting it. Who opened the tab is kept in the state store (``slack:home:U…``), so the
refresh also works after a restart. A failed publish is logged and never holds a delivery.
"""

from __future__ import annotations

import time

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.errors import error_code
from adapters.slack.spaces import member_ids
from bot.core.ports import Ports
from bot.core.types import Platform
from bot.i18n import t
from bot.settings import Settings

log = structlog.stdlib.get_logger(__name__)

HOME_KEY = "slack:home:{user}"
NOT_OPENED_FRESH = 60.0   # seconds a "has not opened the tab" read from the state store is believed
NOT_OPENED_KEPT = 10_000
NEW_TICKET = "home_new_ticket"   # the button's action_id


class AppHome:
    def __init__(self, client: AsyncWebClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.ports: Ports | None = None
        self._opened: set[str] = set()   # users known to have opened the tab (a cache of the state store)
        # users the state store said had not opened it, and when (believed for NOT_OPENED_FRESH: one who opens it
        # through another replica meanwhile gets their tab refreshed that much later, and at every opening anyway)
        self._not_opened: dict[str, float] = {}

    def language_of(self, user_id: str) -> str:
        key = self.settings.person_key_for("slack", user_id)
        person = self.settings.people.get(key) if key else None
        return (person.language if person is not None else None) or self.settings.desk.language

    async def opened(self, user_id: str) -> None:
        """``user_id`` opened the tab: it is published, and kept current from now on."""
        if user_id not in self._opened and self.ports is not None:
            async with self.ports.state.write() as state:
                await state.put(HOME_KEY.format(user=user_id), "1")
            self._opened.add(user_id)
            self._not_opened.pop(user_id, None)
        await self.publish(user_id)

    async def publish(self, user_id: str) -> None:
        """The tab of ``user_id``: the button, their tickets (for the team, those assigned to them first)."""
        if self.ports is None:
            return
        lang = self.language_of(user_id)
        sections = await self.ports.tickets.home_sections(Platform.SLACK, user_id, lang)
        view = render.home_view(sections, hint=t(lang, "slack.home_hint"), new_ticket=t(lang, "slack.home_new"),
                                action=NEW_TICKET)
        try:
            await self.client.views_publish(user_id=user_id, view=view)
        except SlackApiError as exc:
            log.warning("slack: views.publish failed", error=error_code(exc))

    async def refresh(self, ticket_key: str) -> None:
        """The tabs of the ticket's people who opened theirs: one of their tickets changed."""
        if self.ports is None:
            return
        try:
            members = await member_ids(self.ports, ticket_key)   # read once for the channel's line
            now = time.monotonic()
            unknown = [user for user in members if user not in self._opened
                       and now - self._not_opened.get(user, -NOT_OPENED_FRESH) >= NOT_OPENED_FRESH]
            if unknown:
                async with self.ports.state.read() as state:
                    found = await state.get_many([HOME_KEY.format(user=user) for user in unknown])
                for user in unknown:
                    if HOME_KEY.format(user=user) in found:
                        self._opened.add(user)
                        self._not_opened.pop(user, None)
                    else:
                        self._not_opened[user] = now
                if len(self._not_opened) > NOT_OPENED_KEPT:   # the oldest half goes
                    for user in sorted(self._not_opened, key=self._not_opened.__getitem__)[:NOT_OPENED_KEPT // 2]:
                        del self._not_opened[user]
            for user in members:
                if user in self._opened:
                    await self.publish(user)
        except Exception as exc:  # the topic that triggered it is set; a tab is refreshed at its next opening
            log.warning("slack: the App Home could not be refreshed", ticket=ticket_key, error=type(exc).__name__)
