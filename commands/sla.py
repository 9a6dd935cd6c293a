"""`/ticket sla ID`: each SLA clock of a ticket — due, business time left, state — in the viewer's
time zone and the calendar's."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import Command, Registry
from bot.core.types import Reply
from bot.i18n.format import duration, instant
from bot.sla.service import clocks_of
from commands.ticket import KEY_ARG, KeyArgs, load


def _when(ctx: Context, value, calendar_zone: str) -> str:
    mine = instant(value, ctx.actor.timezone)
    theirs = instant(value, calendar_zone)
    return mine if mine == theirs else ctx.t("sla.two_zones", mine=mine, theirs=theirs)


async def sla(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, follow=True)
    clocks = await clocks_of(ctx.session, ctx.desk, ticket)
    if not clocks:
        return [Reply(text=ctx.t("sla.none", key=ticket.key), ticket=ticket.key)]
    lines = [ctx.t("sla.head", key=ticket.key, priority=ticket.priority)]
    now = ctx.now
    for clock in clocks:
        state = clock.state_at(now)
        zone = clock.policy.calendar.zone.key
        due = clock.due
        left = clock.remaining(now)
        if state in ("met", "breached") and clock.stopped_at is not None:
            detail = ctx.t("sla.detail_done", at=_when(ctx, clock.stopped_at, zone),
                           due=_when(ctx, due, zone) if due else "—")
        elif due is None:
            detail = ctx.t("sla.detail_held", left=duration(ctx.actor.language, left))
        elif left.total_seconds() >= 0:
            detail = ctx.t("sla.detail_left", due=_when(ctx, due, zone), left=duration(ctx.actor.language, left))
        else:
            detail = ctx.t("sla.detail_over", due=_when(ctx, due, zone), over=duration(ctx.actor.language, -left))
        lines.append(ctx.t("sla.line", clock=ctx.t(f"sla.clock_{clock.name}"), target=clock.target.name,
                           state=ctx.t(f"sla.state_{state}"), detail=detail))
    return [Reply(text="\n".join(lines), ticket=ticket.key)]


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", "sla"), KeyArgs, sla, "help.ticket_sla", (KEY_ARG,)))
