"""A requester's direct messages as a conversation, not one ticket per message (#17).

- Within ``[desk] follow_up`` (30 min) of the requester's last message on their open ticket, a DM goes into
  that ticket: "Passwort weg" and, two minutes later, "Ach so, ich nutze Firefox 133" are one ticket.
- After that window, with an open ticket, the DM is kept aside on that ticket (``data["pending"]``) and the
  requester is asked whether it belongs there or is something new: two buttons (numbered choices where a
  platform has none), and the commands ``ticket append ID`` / ``ticket separate ID`` that do the same.
- Pleasantries and acknowledgements ("danke", "thanks!", "ok", "спасибо", one emoji) open no ticket: one short
  answer, and they go into the open ticket if there is one.

Without an open ticket a DM opens a ticket as before.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Context
from bot.core.types import Attachment, Button, MessageKind, Platform, Reply, Visibility
from bot.i18n import t
from bot.infra.outbox import enqueue
from bot.tickets import service
from bot.tickets.states import OPEN_STATES
from storage.models import Person, Ticket, TicketEvent

APPEND = "append"      # button: the DM belongs to the open ticket (`ticket append ID`)
SEPARATE = "separate"  # button: the DM is a new request (`ticket separate ID`)
# the requester's own words on a ticket: what "their last message" is measured from
SAID = ("created", "message")
MAX_PENDING = 20       # DMs kept aside on one ticket while the question is unanswered; older ones are joined

# words that only thank or acknowledge, in the desk's languages (lowercase, without punctuation)
_THANKS = {
    "danke", "dankeschön", "danke schön", "danke sehr", "vielen dank", "besten dank", "merci", "super", "prima",
    "perfekt", "passt", "alles klar", "gut", "ok", "okay", "okey", "k", "kk", "jo", "ja", "top", "klasse",
    "thanks", "thank you", "thank you very much", "thanks a lot", "many thanks", "thx", "ty", "cheers",
    "great", "cool", "perfect", "got it", "sounds good", "will do", "fine", "nice", "yes", "noted",
    "спасибо", "спасибо большое", "большое спасибо", "спс", "ок", "окей", "хорошо", "ладно", "понял",
    "поняла", "отлично", "супер", "ясно", "благодарю", "да",
}
_JOINERS = {"and", "und", "и", "you", "dir", "euch", "ihnen", "вам", "тебе", "so", "much", "sehr", "very"}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _emoji_only(text: str) -> bool:
    """One emoji (or a few of the same kind, 👍👍): symbols, joiners, variation selectors, skin tones only."""
    chars = [c for c in text if not c.isspace()]
    if not chars or len(chars) > 8:
        return False
    return all(unicodedata.category(c) in ("So", "Sk", "Mn", "Cf") or c in "\u200d\ufe0f" for c in chars) \
        and any(unicodedata.category(c) == "So" for c in chars)


def is_pleasantry(text: str) -> bool:
    """``text`` only thanks or acknowledges: "danke!", "Thanks :)", "ok, danke", "спасибо", "👍"."""
    text = text.strip()
    if not text or len(text) > 40:
        return False
    if _emoji_only(text):
        return True
    lowered = re.sub(r":[a-z0-9_+-]+:", " ", text.lower())   # Slack's :pray: and friends
    words = _WORD.findall(lowered)
    if not words or any(c.isdigit() for c in lowered):
        return False
    rest = " ".join(words)
    # greedily strip known phrases (longest first) until nothing but joiners remains
    for phrase in sorted(_THANKS, key=len, reverse=True):
        rest = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", rest)
    return all(word in _JOINERS for word in rest.split()) and len(rest.split()) < len(words)


async def open_ticket_of(session: AsyncSession, person: Person) -> Ticket | None:
    """The requester's open ticket a DM may belong to: the one most recently changed."""
    return await session.scalar(
        select(Ticket).where(Ticket.requester_id == person.id, Ticket.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))


async def last_said(session: AsyncSession, ticket: Ticket, person: Person) -> datetime | None:
    """When the requester last wrote on ``ticket`` (its report, a message in its space or a DM added to it)."""
    return await session.scalar(select(func.max(TicketEvent.at)).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.actor_id == person.id, TicketEvent.kind.in_(SAID)))


def _aware(at: datetime, like: datetime) -> datetime:
    # SQLite hands back naive instants (stored as UTC)
    return at.replace(tzinfo=like.tzinfo) if at.tzinfo is None and like.tzinfo is not None else at


async def add_to(ctx: Context, ticket: Ticket, text: str, attachments: tuple[Attachment, ...]) -> list[Reply]:
    """The requester's DM becomes part of ``ticket``'s conversation: its history keeps it, the team sees it in
    the ticket's space, and the files go onto the ticket."""
    from bot.workflow import attachments as files  # the workflow feature builds on tickets, not the other way

    person = ctx.actor.person
    replies: list[Reply] = []
    if text.strip():
        await service.record_space_message(ctx.session, ctx.desk, ticket, person, text, author_is_staff=False)
        enqueue(ctx.session, ctx.now, service.space_target(ticket),
                t(ticket.language, "conversation.forwarded", who=person.display_name, text=text),
                kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE, ticket=ticket.key)
    if attachments:
        refusals = await files.receive(ctx.session, ctx.desk, ticket, person, attachments, ctx.actor.language)
        replies += [Reply(text=refusal, kind=MessageKind.ERROR, ticket=ticket.key) for refusal in refusals]
    return replies


async def direct_message(ctx: Context) -> list[Reply] | None:
    """Decides what a DM is; None when it opens a new ticket as before (no open ticket, nothing to ask)."""
    event = ctx.event
    if event.channel.platform == Platform.MAIL:
        # mail threads itself (a reply names its ticket by its headers or [ID] subject; a new mail is a new
        # request), and what a chat conversation adds ("Added to your ticket", the team's copy) would go out by mail
        return None
    person = ctx.actor.person
    text = event.text.strip()
    ticket = await open_ticket_of(ctx.session, person)
    if is_pleasantry(text) and not event.attachments:
        if ticket is not None:
            await service.record_space_message(ctx.session, ctx.desk, ticket, person, text, author_is_staff=False)
            return [Reply(text=ctx.t("conversation.thanks_noted", key=ticket.key), ticket=ticket.key)]
        return [Reply(text=ctx.t("conversation.thanks"))]
    if ticket is None:
        return None
    last = await last_said(ctx.session, ticket, person)
    window = ctx.desk.settings.desk.follow_up
    if last is not None and ctx.now - _aware(last, ctx.now) <= window:
        refused = await add_to(ctx, ticket, text, event.attachments)
        return [Reply(text=ctx.t("conversation.added", key=ticket.key), ticket=ticket.key), *refused]
    return [ask(ctx, ticket, text, event.attachments)]


def ask(ctx: Context, ticket: Ticket, text: str, attachments: tuple[Attachment, ...]) -> Reply:
    """Keeps the DM aside on ``ticket`` and asks whether it belongs there; the DM is stored before anything
    else happens, so an unanswered question loses nothing."""
    data = dict(ticket.data or {})
    pending = list(data.get("pending") or [])
    pending.append({"text": text, "at": ctx.now.isoformat(), "event": ctx.event.idempotency_key,
                    "files": [a.model_dump(mode="json") for a in attachments]})
    if len(pending) > MAX_PENDING:  # a requester who keeps writing without answering: keep everything, joined
        head = pending[: len(pending) - MAX_PENDING + 1]
        joined = {"text": "\n".join(p["text"] for p in head if p["text"]), "at": head[-1]["at"],
                  "event": head[-1]["event"], "files": [f for p in head for f in p.get("files") or []]}
        pending = [joined, *pending[len(head):]]
    data["pending"] = pending
    ticket.data = data
    key = ticket.key
    buttons = (Button(action=APPEND, label=ctx.t("conversation.button_append", key=key), value=key),
               Button(action=SEPARATE, label=ctx.t("conversation.button_separate"), value=key))
    return Reply(text=ctx.t("conversation.which", key=key, title=ticket.title, prefix=ctx.prefix),
                 kind=MessageKind.REPLY, ticket=key, buttons=buttons)


def take_pending(ticket: Ticket) -> list[dict[str, object]]:
    """The DMs kept aside on ``ticket``, removed from it."""
    data = dict(ticket.data or {})
    pending = list(data.pop("pending", None) or [])
    ticket.data = data
    return pending


def joined(pending: list[dict[str, object]]) -> tuple[str, tuple[Attachment, ...]]:
    text = "\n".join(str(p["text"]) for p in pending if p.get("text"))
    files = tuple(Attachment.model_validate(f) for p in pending for f in (p.get("files") or []))  # type: ignore[attr-defined]
    return text, files
