"""`/mailbox ticket|add|answered|forward ID`, `/mailbox list`: what the mailbox holder makes of a mail to a
colleague personally (bot/mailbox). The buttons of the holder's message run these; they may be typed too."""

from __future__ import annotations

from pydantic import BaseModel

from bot.core.context import Context
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.mailbox import service


class HeldArgs(BaseModel):
    id: str


class TicketArgs(HeldArgs):
    person: str | None = None


class AddArgs(HeldArgs):
    key: str | None = None


class NoArgs(BaseModel):
    pass


async def ticket(ctx: Context, args: TicketArgs) -> list[Reply]:
    return await service.open_ticket(ctx, args.id, args.person)


async def add(ctx: Context, args: AddArgs) -> list[Reply]:
    return await service.add_to(ctx, args.id, args.key)


async def answered(ctx: Context, args: HeldArgs) -> list[Reply]:
    return await service.answered(ctx, args.id)


async def forward(ctx: Context, args: HeldArgs) -> list[Reply]:
    return await service.forward(ctx, args.id)


async def waiting(ctx: Context, _args: NoArgs) -> list[Reply]:
    return await service.waiting(ctx)


def register(registry: Registry) -> None:
    held = Arg("id", "positional", metavar="MAIL")
    registry.add(Command(("mailbox", "ticket"), TicketArgs, ticket, "help.mailbox_ticket",
                         (held, Arg("person", "positional", metavar="@PERSON", required=False)), permission="staff"))
    registry.add(Command(("mailbox", "add"), AddArgs, add, "help.mailbox_add",
                         (held, Arg("key", "positional", metavar="ID", required=False)), permission="staff"))
    registry.add(Command(("mailbox", "answered"), HeldArgs, answered, "help.mailbox_answered", (held,),
                         permission="staff"))
    registry.add(Command(("mailbox", "forward"), HeldArgs, forward, "help.mailbox_forward", (held,),
                         permission="staff"))
    registry.add(Command(("mailbox", "list"), NoArgs, waiting, "help.mailbox_list", permission="staff"))
