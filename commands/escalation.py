"""`/ticket ack ID` (the Prio-1 ping's button), `/ticket confirm ID` (the phone duty confirms a requester's
Prio-1, which pages the standby) and `/handover ack` (the handover's "taken over")."""

from __future__ import annotations

from pydantic import BaseModel

from bot.core.context import Context
from bot.core.registry import Arg, Command, Registry
from bot.core.types import MessageKind, Reply
from bot.duty import escalation, handover
from commands.ticket import KEY_ARG, KeyArgs, load, reply


class SlotArgs(BaseModel):
    slot: str | None = None


async def ack(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    pending = await escalation.acknowledge(ctx.session, ctx.desk, ticket, ctx.actor.person.key)
    return reply(ctx, "escalation.acked" if pending else "escalation.acked_nothing_pending", key=ticket.key,
                 ticket=ticket.key)


async def confirm(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    if ticket.priority != 1:
        return reply(ctx, "escalation.confirm_not_p1", kind=MessageKind.ERROR, key=ticket.key,
                     priority=ticket.priority, prefix=ctx.prefix, ticket=ticket.key)
    await escalation.confirm(ctx.session, ctx.desk, ticket, ctx.actor.person)
    return reply(ctx, "escalation.confirmed", key=ticket.key, ticket=ticket.key)


async def handover_ack(ctx: Context, _args: SlotArgs) -> list[Reply]:
    taken = await handover.acknowledge(ctx.session, ctx.desk, ctx.actor.person.key)
    return reply(ctx, "handover.acked" if taken else "handover.nothing_pending")


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", "ack"), KeyArgs, ack, "help.ticket_ack", (KEY_ARG,), permission="staff"))
    registry.add(Command(("ticket", "confirm"), KeyArgs, confirm, "help.ticket_confirm", (KEY_ARG,),
                         permission="staff"))
    registry.add(Command(("handover", "ack"), SlotArgs, handover_ack, "help.handover_ack",
                         (Arg("slot", "positional", metavar="SLOT", required=False),), permission="staff"))
