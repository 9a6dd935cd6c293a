"""Tickets' private spaces on Slack: one private channel per ticket (``#ticket-hw-1``).

The channel is created when the first message for the ticket is sent; the requester, the
assignee and the team members the core lists in ``ticket.data["members"]`` are invited (each
time a message goes there, so a new assignee joins too). The mapping lives in the core's key-value
store (the ``state`` port): ``slack:space:HW-1`` → channel id and ``slack:channel:C123`` → ``HW-1``.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import delivery_error, error_code
from bot.core.ports import DeliveryError, Ports
from bot.core.types import Platform

log = structlog.stdlib.get_logger(__name__)

SPACE_KEY = "slack:space:{ticket}"
CHANNEL_KEY = "slack:channel:{channel}"
CACHE = 10_000
NAME_ATTEMPTS = 4
NAME_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
# invite errors that concern one person, not the channel: log them and go on
SKIPPABLE_INVITE = frozenset({"already_in_channel", "cant_invite_self", "user_not_found", "user_is_restricted",
                              "user_is_ultra_restricted", "ura_max_channels", "cant_invite", "user_disabled"})


def channel_name(ticket: str, attempt: int = 0) -> str:
    """``ticket-hw-1`` (lowercase letters, digits, hyphens; at most 80 characters); when that is taken, the name
    with a random part (``ticket-hw-1-k3x9q``), which nobody can have taken ahead of the ticket."""
    base = "ticket-" + re.sub(r"[^a-z0-9_-]+", "-", ticket.lower()).strip("-")
    if attempt == 0:
        return base[:80]
    return f"{base[:74]}-{''.join(secrets.choice(NAME_ALPHABET) for _ in range(5))}"


class TicketSpaces:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.ports: Ports | None = None   # set when the adapter is bound to the core
        self.bot_name = "dutydesk"
        # channel id → ticket key, or None for a channel that is no ticket's space
        self._tickets: OrderedDict[str, str | None] = OrderedDict()
        self._channels: dict[str, str] = {}
        self._invited: dict[str, set[str]] = {}

    def _remember(self, channel: str, ticket: str | None) -> None:
        self._tickets[channel] = ticket
        self._tickets.move_to_end(channel)
        while len(self._tickets) > CACHE:
            self._tickets.popitem(last=False)
        if ticket is not None:
            self._channels[ticket] = channel

    async def ticket_of(self, channel_id: str) -> str | None:
        """The ticket whose private space ``channel_id`` is, if any (remembered, so usually no query)."""
        if channel_id in self._tickets:
            return self._tickets[channel_id]
        if self.ports is None or not channel_id or channel_id[0] not in "CG":
            return None
        async with self.ports.state.read() as state:
            ticket = await state.get(CHANNEL_KEY.format(channel=channel_id))
        self._remember(channel_id, ticket)
        return ticket

    async def channel_for(self, ticket_key: str) -> str:
        """The ticket's private channel, created on first use, with its people invited."""
        assert self.ports is not None, "TicketSpaces.ports is set when the adapter is bound to the core"
        channel = self._channels.get(ticket_key)
        if channel is None:
            async with self.ports.state.read() as state:
                channel = await state.get(SPACE_KEY.format(ticket=ticket_key))
        members = await self.ports.tickets.member_ids(ticket_key, Platform.SLACK)
        if channel is None:
            channel = await self._create(ticket_key)
        self._remember(channel, ticket_key)
        await self._invite(channel, members)
        return channel

    async def existing(self, ticket_key: str) -> str | None:
        """The ticket's private channel if it has one (none is created)."""
        assert self.ports is not None
        channel = self._channels.get(ticket_key)
        if channel is None:
            async with self.ports.state.read() as state:
                channel = await state.get(SPACE_KEY.format(ticket=ticket_key))
        return channel

    async def archive(self, channel: str) -> None:
        try:
            await self.client.conversations_archive(channel=channel)
        except SlackApiError as exc:
            if error_code(exc) != "already_archived":
                raise
        self._invited.pop(channel, None)  # archiving takes everybody out; a reopening invites them again

    async def unarchive(self, channel: str) -> None:
        try:
            await self.client.conversations_unarchive(channel=channel)
        except SlackApiError as exc:
            if error_code(exc) != "not_archived":
                raise

    async def _create(self, ticket_key: str) -> str:
        for attempt in range(NAME_ATTEMPTS):
            name = channel_name(ticket_key, attempt)
            try:
                answer = await self.client.conversations_create(name=name, is_private=True)
            except SlackApiError as exc:
                if error_code(exc) == "name_taken":
                    continue
                raise delivery_error(exc, channel=f"#{name}", bot=self.bot_name) from exc
            channel = str(answer["channel"]["id"])
            return await self._store(ticket_key, channel)
        # four names taken, three of them with a random part: not a matter a retry can fix
        raise DeliveryError(f"Slack: no free channel name for the private channel of {ticket_key}: "
                            f"#{channel_name(ticket_key)} and {NAME_ATTEMPTS - 1} names with a random part are taken; "
                            "check for channels created in bulk with these names (archive or rename them)",
                            permanent=True)

    async def _store(self, ticket_key: str, channel: str) -> str:
        """Saves the mapping; when another replica was faster, its channel wins."""
        assert self.ports is not None
        async with self.ports.state.write() as state:
            winner = await state.put_new(SPACE_KEY.format(ticket=ticket_key), channel)
            await state.put_new(CHANNEL_KEY.format(channel=channel), ticket_key)
        if winner != channel:
            log.warning("slack: two private channels for a ticket, using the first", ticket=ticket_key)
        return str(winner)

    async def _invite(self, channel: str, members: list[str]) -> None:
        invited = self._invited.setdefault(channel, set())
        for user in members:
            if user in invited:
                continue
            try:
                await self.client.conversations_invite(channel=channel, users=user)
            except SlackApiError as exc:
                code = error_code(exc)
                if code not in SKIPPABLE_INVITE:
                    raise delivery_error(exc, channel=channel, bot=self.bot_name) from exc
                if code != "already_in_channel":
                    log.info("slack: could not invite a member to a ticket channel", code=code)
            invited.add(user)
