"""`/ticket sla ID`: each SLA clock of a ticket — due, business time left, state — in the viewer's
time zone and the calendar's."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import Command, Registry
from bot.core.types import Reply
from bot.sla.service import clocks_of, vendor_due, vendor_policy_of
from bot.sla.wording import business_left
from bot.workflow.vendor import queued_for
from commands.ticket import KEY_ARG, KeyArgs, load
from storage.models import Ticket


def _when(ctx: Context, value, calendar_zone: str) -> str:
    mine = ctx.when(value)
    theirs = ctx.when(value, calendar_zone)
    return mine if mine == theirs else ctx.t("sla.two_zones", mine=mine, theirs=theirs)


async def sla(ctx: Context, args: KeyArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, follow=True)
    clocks = await clocks_of(ctx.session, ctx.desk, ticket)
    waiting = await _vendor_waiting(ctx, ticket) if not any(c.name == "vendor" for c in clocks) else None
    if not clocks and waiting is None:
        vendor = ctx.desk.settings.vendor
        if vendor is not None and vendor_policy_of(ctx.desk) is not None:
            return [Reply(text=ctx.t("sla.none_vendor", key=ticket.key, vendor=vendor.name), ticket=ticket.key)]
        return [Reply(text=ctx.t("sla.none", key=ticket.key), ticket=ticket.key)]
    lines = [ctx.t("sla.head", key=ticket.key, priority=ticket.priority)]
    now = ctx.now
    for clock in clocks:
        state = clock.state_at(now)
        zone = clock.policy.calendar.zone.key
        due = clock.due
        left = clock.remaining(now)
        lang = ctx.actor.language
        # a target in working days says "days" (without "business time": a working day is business time)
        days = clock.target.within.is_days
        if state in ("met", "breached") and clock.stopped_at is not None:
            detail = ctx.t("sla.detail_done", at=_when(ctx, clock.stopped_at, zone),
                           due=_when(ctx, due, zone) if due else "—")
        elif due is None:
            detail = ctx.t("sla.detail_held_days" if days else "sla.detail_held",
                           left=business_left(lang, clock, left, now))
        elif left.total_seconds() >= 0:
            detail = ctx.t("sla.detail_left_days" if days else "sla.detail_left", due=_when(ctx, due, zone),
                           left=business_left(lang, clock, left, now))
        else:
            detail = ctx.t("sla.detail_over_days" if days else "sla.detail_over", due=_when(ctx, due, zone),
                           over=business_left(lang, clock, -left, now))
        # the target's name is the desk's own word ("merge", "response-P1"): the team sees it, a requester not
        values = dict(clock=ctx.t(f"sla.clock_{clock.name}"), state=ctx.t(f"sla.state_{state}"), detail=detail)
        if ctx.actor.is_staff:
            lines.append(ctx.t("sla.line", target=clock.target.name, **values))
        else:
            lines.append(ctx.t("sla.line_plain", **values))
    if waiting is not None:
        lines.append(waiting)
    return [Reply(text="\n".join(lines), ticket=ticket.key)]


async def _vendor_waiting(ctx: Context, ticket: Ticket) -> str | None:
    """The vendor clock of a report queued for the vendor's opening: when it starts, and its due then."""
    opens = await queued_for(ctx.session, ticket)
    vendor = ctx.desk.settings.vendor
    if opens is None or vendor is None:
        return None
    due = vendor_due(ctx.desk, ticket.priority, opens)
    values = dict(clock=ctx.t("sla.clock_vendor"), vendor=vendor.name, opens=ctx.when(opens))
    if due is None:
        return ctx.t("sla.vendor_queued_no_sla", **values)
    return ctx.t("sla.vendor_queued", due=ctx.when(due), **values)


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", "sla"), KeyArgs, sla, "help.ticket_sla", (KEY_ARG,)))
