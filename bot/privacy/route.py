"""Which inbound events the privacy rule acts on, and what it does with them."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import Parsed
from bot.core.types import TICKET_REACTIONS, MessageKind, Reply, ThreadMessage
from bot.privacy.move import MOVE_ACTION, follow_reply, may_move, move_thread, moved_ticket, nudge
from bot.tickets import service


def _in_public_channel(ctx: Context) -> bool:
    channel = ctx.event.channel
    return not (channel.is_direct or channel.is_private or ctx.event.ticket)


async def route(ctx: Context) -> list[Reply] | None:
    """The privacy answer to an event, or None when the event is not a privacy matter."""
    event = ctx.event
    if event.kind == "reaction" and (event.name or "") in TICKET_REACTIONS:
        return await _explicit_move(ctx)
    if event.kind == "action" and event.name == MOVE_ACTION:
        return await _explicit_move(ctx)
    if event.kind == "message" and event.channel.thread_id and not (event.channel.is_direct or event.ticket):
        # a reply in a moved thread follows it wherever the thread was: the reaction and the shortcut move
        # threads out of private and unguarded channels too
        channel = event.channel
        moved = await moved_ticket(ctx.session, channel.model_copy(update={"thread_id": None}),
                                   event.channel.thread_id)
        if moved is not None:
            return await follow_reply(ctx, moved, channel)
    if not _in_public_channel(ctx):
        return None
    if event.kind == "command" and event.channel.thread_id:
        return await _ticket_in_thread(ctx)
    if event.kind == "command" and event.message_id:
        return await _ticket_in_public(ctx)
    if event.kind == "message":
        return await _public_message(ctx)
    return None


async def _explicit_move(ctx: Context, priority: int | None = None) -> list[Reply]:
    """``priority``: the one the mover chose (``/ticket -p1`` in the thread), else the default."""
    thread = ctx.event.thread
    if not await may_move(ctx, thread):
        return [Reply(text=ctx.t("privacy.not_allowed"), kind=MessageKind.ERROR)]
    channel = ctx.event.channel.model_copy(update={"thread_id": None})
    if priority is None:
        return await move_thread(ctx, channel, thread)
    return await move_thread(ctx, channel, thread, priority=priority,
                             priority_source=service.chosen_by(ctx.actor.person))


def _problem_text(ctx: Context) -> tuple[str, int | None] | None:
    """The words and the chosen priority of a command that opens a ticket (``/ticket TEXT``, ``@dutydesk TEXT``,
    ``!ticket TEXT``); None for any other command (``/ticket show X`` is just that command)."""
    text = ctx.event.text.strip()
    first = text.split(maxsplit=1)[:1]
    if [word.lower() for word in first] != ["ticket"]:
        return None  # an empty command too: the registry answers it
    parsed = ctx.desk.registry.parse(text)
    if isinstance(parsed, Parsed) and parsed.command.default_for != ("ticket",):
        return None
    chosen = isinstance(parsed, Parsed) and "priority" in parsed.args.model_fields_set
    priority = parsed.args.priority if chosen else None  # type: ignore[union-attr]
    return (parsed.args.text if isinstance(parsed, Parsed) else ""), priority  # type: ignore[attr-defined]


async def _ticket_in_public(ctx: Context) -> list[Reply] | None:
    """Problem text written to the bot as a message everybody sees (``@dutydesk my password …`` on Slack, ``!ticket
    …`` on Matrix) in a guarded channel is moved like any other problem report: into a private ticket, out of the
    channel. (A Slack slash command is seen by nobody else: it opens its ticket as usual.)"""
    event = ctx.event
    if ctx.desk.settings.channels.mode_for(event.channel.channel_id) in (None, "off"):
        return None
    problem = _problem_text(ctx)
    if problem is None or not problem[0].strip():
        return None
    words, priority = problem
    ctx.event = event.model_copy(update={"thread": (ThreadMessage(
        message_id=event.message_id or event.event_id, author=event.actor, text=words, at=event.received_at),)})
    return await _explicit_move(ctx, priority)


async def _ticket_in_thread(ctx: Context) -> list[Reply] | None:
    """`/ticket` written inside a thread moves the whole thread (the words become a reply in it); inside a
    thread that was moved already, the words follow it into its ticket."""
    problem = _problem_text(ctx)
    if problem is None:
        return None
    words, priority = problem
    channel = ctx.event.channel
    moved = await moved_ticket(ctx.session, channel.model_copy(update={"thread_id": None}), channel.thread_id or "")
    if moved is not None and words.strip():
        ctx.event = ctx.event.model_copy(update={"text": words})
        return await follow_reply(ctx, moved, channel)
    thread = ctx.event.thread
    if words:
        thread = (*thread, ThreadMessage(message_id=ctx.event.message_id or ctx.event.event_id,
                                         author=ctx.event.actor, text=words, at=ctx.event.received_at))
    ctx.event = ctx.event.model_copy(update={"thread": thread})
    return await _explicit_move(ctx, priority)


async def _public_message(ctx: Context) -> list[Reply] | None:
    event = ctx.event
    channel = event.channel
    if channel.thread_id:
        return None  # a moved thread's replies were followed in route(); other threads are the channel's own
    mode = ctx.desk.settings.channels.mode_for(channel.channel_id)
    if mode in (None, "off") or not ctx.desk.detector.detect(event.text).is_problem:
        return None
    if mode == "suggest":
        return nudge(ctx, event.message_id or event.event_id)
    message = ThreadMessage(message_id=event.message_id or event.event_id, author=event.actor, text=event.text,
                            at=event.received_at)
    return await move_thread(ctx, channel, (message, *event.thread[1:]))
