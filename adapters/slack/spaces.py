"""Tickets' private spaces on Slack: one private channel per ticket, named by its id and a short slug of its title
(``#hw-42-vpn-drops``), its topic kept current by the core (state, priority, assignee, SLA due time).

The channel is created when the first message for the ticket is sent; the requester, the
assignee and the team members the core lists in ``ticket.data["members"]`` are invited (each
time a message goes there, so a new assignee joins too). The mapping lives in the core's key-value
store (the ``state`` port): ``slack:space:HW-1`` → channel id and ``slack:channel:C123`` → ``HW-1``.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections import OrderedDict

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.errors import delivery_error, error_code
from bot.core.ports import DeliveryError, Ports, line_memo, space_is_new
from bot.core.types import Platform
from bot.i18n import t

log = structlog.stdlib.get_logger(__name__)

SPACE_KEY = "slack:space:{ticket}"
CHANNEL_KEY = "slack:channel:{channel}"
MEMBERS = "slack:members"   # a delivery line's memo: a ticket's Slack user ids
CACHE = 10_000
NAME_ATTEMPTS = 4
NAME_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
TOPIC_LENGTH = 250   # conversations.setTopic: longer topics are refused (too_long)
# conversations.unarchive refusals a retry cannot fix: the bot token's (not_in_channel, Slack's documented
# limitation), a user token's that may not manage the channel, a missing scope
UNARCHIVE_REFUSED = frozenset({"not_in_channel", "channel_not_found", "missing_scope", "not_allowed_token_type",
                               "restricted_action", "access_denied", "method_not_supported_for_channel_type",
                               "cant_unarchive_channel", "no_permission"})
# invite errors that concern one person, not the channel: log them and go on
SKIPPABLE_INVITE = frozenset({"already_in_channel", "cant_invite_self", "user_not_found", "user_is_restricted",
                              "user_is_ultra_restricted", "ura_max_channels", "cant_invite", "user_disabled"})


# letters Slack's channel names cannot have, written as a reader of the language would (NFKD takes the rest:
# é → e, ł stays out); Russian by the passport rules (ГОСТ Р 52535.1-2006), as names are read aloud
_TRANSLIT = {
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa", "ł": "l", "đ": "d", "þ": "th",
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "iu", "я": "ia", "і": "i", "ї": "i", "є": "ie", "ґ": "g",
}
MAX_NAME = 80        # Slack: at most 80 characters, lowercase letters, digits, hyphens and underscores
SLUG_LENGTH = 30     # the title's part: a short reminder, cut at a word's end
SUFFIX_LENGTH = 5


def slug(title: str, limit: int = SLUG_LENGTH) -> str:
    """A title as a channel name's words: ``VPN drops every hour`` → ``vpn-drops-every-hour``, ``Drucker im 2. OG
    kaputt`` → ``drucker-im-2-og-kaputt``, ``Принтер не печатает`` → ``printer-ne-pechataet``, cut at a word's end."""
    lowered = "".join(_TRANSLIT.get(c, c) for c in title.lower())
    ascii_ = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_)
    result = ""
    for word in words:
        candidate = f"{result}-{word}" if result else word
        if len(candidate) > limit:
            if not result:  # one long word: cut it
                result = word[:limit]
            break
        result = candidate
    return result


def channel_name(ticket: str, title: str = "", attempt: int = 0) -> str:
    """``hw-42-vpn-drops`` — the ticket's id and a short slug of its title (lowercase letters, digits, hyphens;
    at most 80 characters); when that is taken, the name with a random part (``hw-42-vpn-drops-k3x9q``), which
    nobody can have taken ahead of the ticket (a guessable ``-2`` could be)."""
    key = re.sub(r"[^a-z0-9_-]+", "-", ticket.lower()).strip("-") or "ticket"
    words = slug(title)
    base = f"{key}-{words}" if words else key
    if attempt == 0:
        return base[:MAX_NAME].rstrip("-")
    random_part = "".join(secrets.choice(NAME_ALPHABET) for _ in range(SUFFIX_LENGTH))
    return f"{base[:MAX_NAME - SUFFIX_LENGTH - 1].rstrip('-')}-{random_part}"


async def member_ids(ports: Ports, ticket_key: str) -> list[str]:
    """The Slack user ids of a ticket's people, read once per delivery line (bot/core/ports.py: delivery_line): a
    new ticket's channel and its topic's App Home refresh are one line and share the read."""
    memo = line_memo()
    known = memo.get((MEMBERS, ticket_key)) if memo is not None else None
    if known is not None:
        return list(known)
    members = await ports.tickets.member_ids(ticket_key, Platform.SLACK)
    _keep_members(ticket_key, members)
    return members


def _keep_members(ticket_key: str, members: list[str]) -> None:
    memo = line_memo()
    if memo is not None:
        memo[(MEMBERS, ticket_key)] = tuple(members)


class TicketSpaces:
    def __init__(self, client: AsyncWebClient, user_client: AsyncWebClient | None = None) -> None:
        self.client = client
        # an admin's user token (DUTYDESK_SLACK__USER_TOKEN): Slack lets only user tokens unarchive a channel
        self.user_client = user_client
        self.bot_user_id: str | None = None
        self.language = "en"
        self.ports: Ports | None = None   # set when the adapter is bound to the core
        self.bot_name = "dutydesk"
        # channel id → ticket key, or None for a channel that is no ticket's space
        self._tickets: OrderedDict[str, str | None] = OrderedDict()
        self._channels: dict[str, str] = {}
        self._invited: dict[str, set[str]] = {}
        self._topics: dict[str, str] = {}   # channel id → the topic it was given last (none set twice)

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
        if channel is None and not space_is_new(ticket_key):
            async with self.ports.state.read() as state:
                channel = await state.get(SPACE_KEY.format(ticket=ticket_key))
        if channel is None:   # the name's title and the people to invite in one read of the ticket
            facts = await self.ports.tickets.space_facts(ticket_key, Platform.SLACK)
            title, members = facts if facts is not None else ("", [])
            _keep_members(ticket_key, members)
            channel = await self._create(ticket_key, title=title)
        else:
            members = await member_ids(self.ports, ticket_key)
        self._remember(channel, ticket_key)
        await self._invite(channel, members)
        return channel

    async def existing(self, ticket_key: str) -> str | None:
        """The ticket's private channel if it has one (none is created)."""
        assert self.ports is not None
        channel = self._channels.get(ticket_key)
        if channel is None and not space_is_new(ticket_key):   # a new ticket's card and receipt: none yet
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

    async def unarchive(self, ticket_key: str, channel: str) -> str:
        """Makes the reopened ticket's channel usable again; returns the channel its conversation goes on in.

        Slack documents that bot tokens cannot unarchive (conversations.unarchive answers ``not_in_channel``):
        with an admin's user token (DUTYDESK_SLACK__USER_TOKEN, user scope groups:write) the bot unarchives it
        and that user brings the bot back in. Without one, or when Slack refuses even so, the ticket gets a new
        private channel that links the archived one, and the log says what to set; nothing of the ticket is lost.
        """
        client = self.user_client or self.client
        try:
            await client.conversations_unarchive(channel=channel)
        except SlackApiError as exc:
            code = error_code(exc)
            if code == "not_archived":
                return channel
            if code in UNARCHIVE_REFUSED:
                return await self._replace(ticket_key, channel, code)
            raise delivery_error(exc, channel=channel, bot=self.bot_name) from exc
        if self.user_client is not None and self.bot_user_id:
            try:  # the user who unarchived is in the channel now; the bot may not be
                await self.user_client.conversations_invite(channel=channel, users=self.bot_user_id)
            except SlackApiError as exc:
                if error_code(exc) not in SKIPPABLE_INVITE:
                    raise delivery_error(exc, channel=channel, bot=self.bot_name) from exc
        return channel

    async def _replace(self, ticket_key: str, old: str, code: str) -> str:
        """A new private channel for a reopened ticket whose archived one cannot be unarchived."""
        assert self.ports is not None
        if self.user_client is None:
            log.warning("slack: a bot token cannot unarchive a reopened ticket's channel (Slack's documented "
                        "limitation of conversations.unarchive); the ticket gets a new channel. To unarchive the old "
                        "one instead, set DUTYDESK_SLACK__USER_TOKEN to a workspace admin's user token with the user "
                        "scope groups:write", ticket=ticket_key, code=code)
        else:
            log.warning("slack: the user token could not unarchive a reopened ticket's channel; the ticket gets a "
                        "new channel (the token's user must be allowed to manage that private channel)",
                        ticket=ticket_key, code=code)
        channel = await self._create(ticket_key, replacing=True)
        self._remember(channel, ticket_key)
        await self.client.chat_postMessage(
            channel=channel, link_names=False, unfurl_links=False,
            text=render.escape(t(self.language, "slack.space_continued", key=ticket_key)) + f" <#{old}>")
        return channel

    async def set_topic(self, channel: str, text: str) -> None:
        """The channel's topic, unless it is that already (Slack: at most 250 characters)."""
        topic = render.clip(render.escape(text), TOPIC_LENGTH)
        if self._topics.get(channel) == topic:
            return
        await self.client.conversations_setTopic(channel=channel, topic=topic)
        self._topics[channel] = topic

    async def _create(self, ticket_key: str, *, replacing: bool = False, title: str | None = None) -> str:
        assert self.ports is not None
        if title is None:
            summary = await self.ports.tickets.summary(ticket_key, Platform.SLACK)
            title = summary.title if summary is not None else ""
        # a replacement's plain name is the archived channel's: it starts with the random part
        for attempt in range(1 if replacing else 0, NAME_ATTEMPTS + (1 if replacing else 0)):
            name = channel_name(ticket_key, title, attempt)
            try:
                answer = await self.client.conversations_create(name=name, is_private=True)
            except SlackApiError as exc:
                if error_code(exc) == "name_taken":
                    continue
                raise delivery_error(exc, channel=f"#{name}", bot=self.bot_name) from exc
            channel = str(answer["channel"]["id"])
            if replacing:
                async with self.ports.state.write() as state:
                    await state.put(SPACE_KEY.format(ticket=ticket_key), channel)
                    await state.put(CHANNEL_KEY.format(channel=channel), ticket_key)
                return channel
            return await self._store(ticket_key, channel)
        # four names taken, three of them with a random part: not a matter a retry can fix
        raise DeliveryError(f"Slack: no free channel name for the private channel of {ticket_key}: "
                            f"#{channel_name(ticket_key, title)} and {NAME_ATTEMPTS - 1} names with a random part "
                            "are taken; "
                            "check for channels created in bulk with these names (archive or rename them)",
                            permanent=True)

    async def _store(self, ticket_key: str, channel: str) -> str:
        """Saves the mapping; when another replica was faster, its channel wins."""
        assert self.ports is not None
        async with self.ports.state.write() as state:
            winner = await state.put_new(SPACE_KEY.format(ticket=ticket_key), channel)
            # the channel was created just now: nobody else has written its key (one statement, not two)
            await state.put(CHANNEL_KEY.format(channel=channel), ticket_key)
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
