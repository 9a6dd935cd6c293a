"""`/ticket ack ID` (the Prio-1 ping's button) and `/handover ack` (the handover's "taken over")."""

from __future__ import annotations

from pydantic import BaseModel

from bot.core.context import Context
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.duty import escalation, handover
from commands.ticket import KEY_ARG, KeyArgs, load, reply


class SlotArgs(BaseModel):
    slot: str | None = None


async def ack(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    pending = await escalation.acknowledge(ctx.session, ctx.desk, ticket, ctx.actor.person.key)
    return reply(ctx, "escalation.acked" if pending else "escalation.acked_nothing_pending", key=ticket.key,
                 ticket=ticket.key)


async def handover_ack(ctx: Context, _args: SlotArgs) -> list[Reply]:
    taken = await handover.acknowledge(ctx.session, ctx.desk, ctx.actor.person.key)
    return reply(ctx, "handover.acked" if taken else "handover.nothing_pending")


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", "ack"), KeyArgs, ack, "help.ticket_ack", (KEY_ARG,), permission="staff"))
    registry.add(Command(("handover", "ack"), SlotArgs, handover_ack, "help.handover_ack",
                         (Arg("slot", "positional", metavar="SLOT", required=False),), permission="staff"))
