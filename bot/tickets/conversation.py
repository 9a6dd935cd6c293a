"""A requester's direct messages as a conversation, not one ticket per message (#17).

- Within ``[desk] follow_up`` (30 min) of the requester's last message on their open ticket, a DM goes into
  that ticket: "Passwort weg" and, two minutes later, "Ach so, ich nutze Firefox 133" are one ticket.
- After that window, with an open ticket, the DM is kept aside on that ticket (``data["pending"]``) and the
  requester is asked whether it belongs there or is something new: two buttons (numbered choices where a
  platform has none), and the commands ``ticket append ID`` / ``ticket separate ID`` that do the same.
- A question left unanswered for ``follow_up`` does not keep the DMs from the team: they become a new ticket
  (a new problem added to an old ticket could be closed unseen with it; two tickets are joined by the team).
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

from bot.access.people import identity_of
from bot.core.context import Context
from bot.core.desk import Desk
from bot.core.types import Attachment, Button, ChannelRef, MessageKind, Platform, Reply, Target, Visibility
from bot.i18n import t
from bot.infra.outbox import enqueue
from bot.tickets import service
from bot.tickets.states import OPEN_STATES
from storage.models import Person, Ticket, TicketEvent, Timer

APPEND = "append"      # button: the DM belongs to the open ticket (`ticket append ID`)
SEPARATE = "separate"  # button: the DM is a new request (`ticket separate ID`)
# the requester's own words on a ticket: what "their last message" is measured from
SAID = ("created", "message")
MAX_PENDING = 20       # DMs kept aside on one ticket while the question is unanswered; older ones are joined
UNANSWERED_TIMER = "conversation:unanswered"  # the question's answer is overdue: the DMs become a new ticket

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
    if text.strip():
        await service.record_space_message(ctx.session, ctx.desk, ticket, person, text, author_is_staff=False)
        enqueue(ctx.session, ctx.now, service.space_target(ticket),
                t(ticket.language, "conversation.forwarded", who=person.display_name, text=text),
                kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE, ticket=ticket.key)
    if not attachments:
        return []
    refusals = await files.receive(ctx.session, ctx.desk, ticket, person, attachments, ctx.actor.language)
    return [Reply(text=refusal, kind=MessageKind.ERROR, ticket=ticket.key) for refusal in refusals]


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
    if not pending:  # the first DM of a question: it is answered by the requester or, at this time, by the bot
        due = ctx.now + ctx.desk.settings.desk.follow_up
        ctx.session.add(Timer(ticket_id=ticket.id, kind=UNANSWERED_TIMER, due_at=due,
                              data={"event": ctx.event.idempotency_key}))
    pending.append({"text": text, "at": ctx.now.isoformat(), "event": ctx.event.idempotency_key,
                    "channel": ctx.event.channel.model_dump(mode="json"),
                    "files": [a.model_dump(mode="json") for a in attachments]})
    if len(pending) > MAX_PENDING:  # a requester who keeps writing without answering: keep everything, joined
        head = pending[: len(pending) - MAX_PENDING + 1]
        # the first DM's event names the question (its timer), the last one's channel is where to answer
        joined = {"text": "\n".join(p["text"] for p in head if p["text"]), "at": head[-1]["at"],
                  "event": head[0]["event"], "channel": head[-1].get("channel"),
                  "files": [f for p in head for f in p.get("files") or []]}
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


async def unanswered(session: AsyncSession, desk: Desk, timer: Timer) -> None:
    """The requester has not said where the DMs kept aside belong: they become a new ticket, so that a new
    problem is neither lost nor closed with the old ticket; the requester is told, and the team may join them."""
    from bot import routing  # routing builds on tickets, not the other way
    from bot.workflow import attachments as files

    old = await session.get(Ticket, timer.ticket_id)
    pending = list((old.data or {}).get("pending") or []) if old is not None else []
    if old is None or not pending or pending[0].get("event") != (timer.data or {}).get("event"):
        return  # answered in time (the DMs were placed), or a later question has its own timer
    requester = await session.get(Person, old.requester_id)
    assert requester is not None
    channel = next((p["channel"] for p in reversed(pending) if p.get("channel")), None)
    origin = ChannelRef.model_validate(channel) if channel else ChannelRef(
        platform=Platform(old.origin_platform), channel_id=old.origin_channel or "", is_direct=True)
    text, attachments = joined(take_pending(old))
    if not text.strip():
        text = t(old.language, "ticket.files_only", names=", ".join(f.name for f in attachments))
    topic = routing.topic_for(desk.settings, text=text, topic=None, channel=origin.channel_id)
    priority, source = routing.initial_priority(desk.settings, topic, None)
    ticket = await service.create(session, desk, requester, text=text, priority=priority, topic=topic, origin=origin,
                                  language=old.language, priority_source=source)
    refusals = await files.receive(session, desk, ticket, requester, attachments, old.language) if attachments else []
    # told in the direct chat where the question was asked
    user_id = await identity_of(session, requester.id, origin.platform)
    where = service.space_target(ticket) if user_id is None else Target(kind="dm", platform=origin.platform,
                                                                         user_id=user_id)
    next_step = await service.next_step(session, desk, ticket, old.language)
    for text, kind in ((t(old.language, "conversation.unanswered", informal=desk.informal, key=ticket.key,
                          old=old.key, priority=priority, next=next_step), MessageKind.RECEIPT),
                       *((refusal, MessageKind.ERROR) for refusal in refusals)):
        enqueue(session, desk.clock.now(), where, text, kind=kind, visibility=Visibility.PRIVATE, ticket=ticket.key)
