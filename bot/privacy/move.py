"""No problem discussed in public: move a public support thread into a private ticket.

The handbook's first rule ("Keine Diskussion von Problemen in öffentlichen Netzwerken"). A move
opens a ticket for the author of the thread's first message, copies the thread into the
ticket's private space in order, adds the agents who took part, tells everybody else where their
reply went, leaves one short notice without content in the channel, and removes the public
messages where the platform lets the bot. Later replies to a moved thread follow it.

Nothing of a moved message's content is written to a public place or to the log.
"""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.people import actor_for, resolve
from bot.core.context import Context
from bot.core.types import (
    MOVE_ACTION,
    Button,
    Capability,
    ChannelRef,
    MessageKind,
    Reply,
    Target,
    ThreadMessage,
    UserRef,
    Visibility,
)
from bot.i18n import t
from bot.infra.outbox import enqueue, enqueue_removal
from bot.tickets import limits, service
from storage.models import MovedThread, Person, Ticket
from storage.upsert import upsert

log = structlog.stdlib.get_logger(__name__)



async def moved_ticket(session: AsyncSession, channel: ChannelRef, root_id: str) -> Ticket | None:
    """The ticket a public conversation was moved into, by the id of any of its messages (``root_id``: the
    thread's root, or a message that was copied from it or followed it later)."""
    row = await session.scalar(select(MovedThread).where(
        MovedThread.platform == channel.platform.value, MovedThread.channel_id == channel.channel_id,
        MovedThread.root_id == root_id))
    return await session.get(Ticket, row.ticket_id) if row is not None else None


async def _leads_to(ctx: Context, channel: ChannelRef, message_ids: list[str], ticket: Ticket) -> None:
    """Each of ``message_ids`` leads to the ticket from now on: a plain reply (Matrix ``m.in_reply_to``)
    names the message it answers, which need not be the thread's root, and may answer an earlier reply."""
    rows = [{"platform": channel.platform.value, "channel_id": channel.channel_id, "root_id": message_id,
             "ticket_id": ticket.id, "moved_at": ctx.now} for message_id in dict.fromkeys(message_ids)]
    if rows:
        await ctx.session.execute(upsert(ctx.session, MovedThread, None, key=("platform", "channel_id", "root_id")),
                                  rows)


def _line(ctx: Context, message: ThreadMessage, author: Person, role: str) -> str:
    """One copied message. Who wrote it is marked by the bot, never by a name its author chose: the team by
    their configured name, the requester as the requester, anybody else by their account, as not part of the
    ticket (a reply under the name "Anna (support lead)" must not pass for the team's word)."""
    if role == "staff":
        who = ctx.t("privacy.who_staff", name=author.display_name)
    elif role == "requester":
        who = ctx.t("privacy.who_requester", name=author.display_name)
    else:
        who = ctx.t("privacy.who_outside", account=message.author.user_id)
    return ctx.t("privacy.copied_line", at=ctx.when(message.at, ctx.desk.settings.desk.timezone), who=who,
                 text=message.text)


def _remove(ctx: Context, channel: ChannelRef, message: ThreadMessage, ticket: Ticket) -> None:
    """Queues the removal of a public message; the outbox reports into the ticket when it can't."""
    target = Target(kind="channel", platform=channel.platform, channel_id=channel.channel_id,
                    thread_id=channel.thread_id)
    enqueue_removal(ctx.session, ctx.now, target, message.message_id, ticket=ticket.key)


def _tell(ctx: Context, user: UserRef, channel: ChannelRef, text: str, *, kind: MessageKind, ticket: str) -> None:
    """An ephemeral note in the channel where the platform has them, else a direct message."""
    if ctx.desk.can(user.platform, Capability.EPHEMERAL):
        target = Target(kind="ephemeral", platform=user.platform, channel_id=channel.channel_id,
                        thread_id=channel.thread_id, user_id=user.user_id)
        visibility = Visibility.EPHEMERAL
    else:
        target = Target(kind="dm", platform=user.platform, user_id=user.user_id)
        visibility = Visibility.PRIVATE
    enqueue(ctx.session, ctx.now, target, text, kind=kind, visibility=visibility, ticket=ticket)


async def may_move(ctx: Context, thread: tuple[ThreadMessage, ...]) -> bool:
    """The author of the first message or any member of the support team."""
    return ctx.actor.is_staff or (bool(thread) and thread[0].author.user_id == ctx.event.actor.user_id)


async def move_thread(ctx: Context, channel: ChannelRef, thread: tuple[ThreadMessage, ...], *,
                      priority: int = 2, priority_source: str = "default") -> list[Reply]:
    """Moves ``thread`` (root first) from ``channel`` into a private ticket; idempotent per thread."""
    if not thread:
        return [Reply(text=ctx.t("privacy.nothing_to_move"), kind=MessageKind.ERROR)]
    root = thread[0]
    root_channel = channel.model_copy(update={"thread_id": root.message_id})
    existing = await moved_ticket(ctx.session, channel, root.message_id)
    if existing is not None:
        return [Reply(text=ctx.t("privacy.already_moved", key=existing.key), ticket=existing.key)]
    requester = await resolve(ctx.session, root.author, ctx.now)
    requester_actor = actor_for(requester, ctx.desk.settings)
    recent = await limits.full(ctx.session, ctx.desk, requester)
    if recent:  # the requester opened as many tickets as they may: the thread goes onto their newest one
        ticket = await limits.keep(ctx.session, ctx.desk, recent, requester, root.text)
    else:
        ticket = await service.create(ctx.session, ctx.desk, requester, text=root.text, priority=priority,
                                      topic=None, origin=root_channel, language=requester_actor.language,
                                      priority_source=priority_source)
    ctx.session.add(MovedThread(platform=channel.platform.value, channel_id=channel.channel_id,
                                root_id=root.message_id, ticket_id=ticket.id, moved_at=ctx.now))
    await _leads_to(ctx, channel, [m.message_id for m in thread[1:] if m.message_id != root.message_id], ticket)
    service.log(ctx.session, ticket, "moved", ctx.now, ctx.actor.person, old=channel.channel_id,
                new=str(len(thread)))
    lines = [ctx.t("privacy.copied_head", channel=channel.channel_id, count=len(thread))]
    members: set[int] = {requester.id}
    told: set[str] = set()
    for message in thread:
        author = await resolve(ctx.session, message.author, ctx.now)
        if message is root:
            role = service.role_in(ticket, author, author_is_staff=author.is_staff)
        else:
            role = await service.record_space_message(ctx.session, ctx.desk, ticket, author, message.text,
                                                      author_is_staff=author.is_staff)
        lines.append(_line(ctx, message, author, role))
        if author.is_staff:
            members.add(author.id)
        elif author.id != requester.id and message.author.user_id not in told:
            told.add(message.author.user_id)
            lang = actor_for(author, ctx.desk.settings).language
            enqueue(ctx.session, ctx.now, Target(kind="dm", platform=message.author.platform,
                                                 user_id=message.author.user_id),
                    t(lang, "privacy.reply_moved_other", informal=ctx.desk.informal, channel=channel.channel_id,
                      key=ticket.key, prefix=ctx.desk.prefixes.get(message.author.platform, "/")),
                    kind=MessageKind.NOTICE, visibility=Visibility.PRIVATE, ticket=ticket.key)
    ticket.data = {**(ticket.data or {}), "members": sorted(members), "moved_from": channel.channel_id}
    enqueue(ctx.session, ctx.now, service.space_target(ticket), "\n".join(lines), kind=MessageKind.MOVED,
            visibility=Visibility.PRIVATE, ticket=ticket.key)
    # the public notice: the ticket id and nothing of the content
    enqueue(ctx.session, ctx.now, Target(kind="channel", platform=channel.platform, channel_id=channel.channel_id),
            t(ctx.desk.language, "privacy.public_notice", key=ticket.key, prefix=ctx.prefix),
            kind=MessageKind.NOTICE, visibility=Visibility.PUBLIC, ticket=ticket.key)
    if ctx.desk.can(channel.platform, Capability.DELETE):
        for message in thread:
            _remove(ctx, root_channel, message, ticket)
    else:
        service.tell_requester(ctx.session, ctx.desk, ticket, "privacy.cannot_remove", channel=channel.channel_id)
    receipt = t(requester_actor.language, "privacy.moved_receipt", informal=ctx.desk.informal, key=ticket.key,
                channel=channel.channel_id)
    _tell(ctx, root.author, channel, receipt, kind=MessageKind.RECEIPT, ticket=ticket.key)
    log.info("privacy: thread moved into a ticket", messages=len(thread), ticket=ticket.key)
    if ctx.event.actor.user_id == root.author.user_id:
        return []
    return [Reply(text=ctx.t("privacy.moved_by_you", key=ticket.key), ticket=ticket.key)]


async def follow_reply(ctx: Context, ticket: Ticket, channel: ChannelRef) -> list[Reply]:
    """A later reply to a moved thread: into the ticket, out of the channel, and a note to its author."""
    event = ctx.event
    message = ThreadMessage(message_id=event.message_id or event.event_id, author=event.actor, text=event.text,
                            at=event.received_at)
    author = ctx.actor.person
    role = await service.record_space_message(ctx.session, ctx.desk, ticket, author, event.text,
                                              author_is_staff=ctx.actor.is_staff)
    await _leads_to(ctx, channel.model_copy(update={"thread_id": None}), [message.message_id], ticket)
    enqueue(ctx.session, ctx.now, service.space_target(ticket), _line(ctx, message, author, role),
            kind=MessageKind.MOVED, visibility=Visibility.PRIVATE, ticket=ticket.key)
    if ctx.desk.can(channel.platform, Capability.DELETE):
        _remove(ctx, channel, message, ticket)
    member = ctx.actor.is_staff or author.id == ticket.requester_id
    key = "privacy.late_reply_member" if member else "privacy.late_reply_other"
    if ctx.actor.is_staff and author.id not in (ticket.data or {}).get("members", []):
        ticket.data = {**ticket.data, "members": sorted({*ticket.data.get("members", []), author.id})}
    _tell(ctx, event.actor, channel, ctx.t(key, key=ticket.key, channel=channel.channel_id, prefix=ctx.prefix),
          kind=MessageKind.NOTICE,
          ticket=ticket.key)
    return []


def nudge(ctx: Context, message_id: str) -> list[Reply]:
    """Suggest mode: a private nudge to the author with a button that makes the thread a ticket."""
    text = ctx.t("privacy.nudge", prefix=ctx.prefix)
    button = Button(action=MOVE_ACTION, label=ctx.t("privacy.nudge_button"), value=message_id)
    if not ctx.desk.can(ctx.event.actor.platform, Capability.BUTTONS):
        text += "\n" + ctx.t("privacy.nudge_no_buttons", prefix=ctx.prefix)
    return [Reply(text=text, kind=MessageKind.NUDGE, buttons=(button,))]
