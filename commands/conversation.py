"""`/ticket append ID` · `/ticket separate ID`: the answer to "does this belong to ID, or is it new?" — the
question the bot asks when a requester writes a DM outside ``[desk] follow_up`` while a ticket of theirs is open
(bot/tickets/conversation.py). The question's two buttons run these commands; they may be typed too."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.errors import Refused
from bot.core.registry import Command, Registry
from bot.core.types import Attachment, Reply
from bot.tickets import conversation
from commands.ticket import KEY_ARG, CreateArgs, KeyArgs, create, load
from storage.models import Ticket


async def _pending_of(ctx: Context, key: str) -> tuple[Ticket, str, tuple[Attachment, ...]]:
    ticket = await load(ctx, key)
    # only the requester's own words are kept aside on their ticket; nobody else may place them
    if ticket.requester_id != ctx.actor.person.id or not (ticket.data or {}).get("pending"):
        raise Refused("conversation.nothing_pending", key=ticket.key)
    text, files = conversation.joined(conversation.take_pending(ticket))
    return ticket, text, files


async def append(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket, text, files = await _pending_of(ctx, args.key)
    refused = await conversation.add_to(ctx, ticket, text, files)
    return [Reply(text=ctx.t("conversation.added", key=ticket.key), ticket=ticket.key), *refused]


async def separate(ctx: Context, args: KeyArgs) -> list[Reply]:
    _ticket, text, files = await _pending_of(ctx, args.key)
    if not text.strip():  # files alone: worded as a DM of files is
        text = ctx.t("ticket.files_only", names=", ".join(f.name for f in files))
    if files:
        ctx.event = ctx.event.model_copy(update={"attachments": files})
    return await create(ctx, CreateArgs(text=text))


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", conversation.APPEND), KeyArgs, append, "help.ticket_append", (KEY_ARG,)))
    registry.add(Command(("ticket", conversation.SEPARATE), KeyArgs, separate, "help.ticket_separate", (KEY_ARG,)))
