"""`/ticket vendor ID [VENDOR-TICKET-ID]`: report a ticket to the vendor (only the authorised people,
only documented tickets, on the vendor's hours; see bot/workflow/vendor.py)."""

from __future__ import annotations

from pydantic import field_validator

from bot.core.context import Context
from bot.core.errors import BadValue
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.workflow import vendor
from commands.ticket import KEY_ARG, KeyArgs, load, reply


class VendorArgs(KeyArgs):
    vendor_ticket: str | None = None

    @field_validator("vendor_ticket")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 100:
            raise BadValue("args.vendor_id", count=100)
        return value


async def report(ctx: Context, args: VendorArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    done = await vendor.report(ctx.session, ctx.desk, ticket, ctx.actor.person, args.vendor_ticket)
    config = ctx.desk.settings.vendor
    name = config.name if config else "vendor"
    if done.outcome == "id_recorded":
        return reply(ctx, "vendor.id_recorded", key=ticket.key, id=args.vendor_ticket, vendor=name,
                     ticket=ticket.key)
    lines = []
    if done.outcome == "reported":
        lines.append(ctx.t("vendor.reported", key=ticket.key, vendor=name, id=args.vendor_ticket or "—"))
    else:
        assert done.opens is not None
        opens = ctx.when(done.opens)
        if done.outcome == "queued_already":
            lines.append(ctx.t("vendor.queued_id" if args.vendor_ticket else "vendor.queued_already", key=ticket.key,
                               vendor=name, opens=opens, id=args.vendor_ticket or "—"))
        else:
            lines.append(ctx.t("vendor.queued", key=ticket.key, vendor=name, opens=opens))
    if done.mailed:
        lines.append(ctx.t("vendor.mailed" if done.outcome == "reported" else "vendor.mailed_queued",
                           address=done.mailed))
    if done.due is not None:
        lines.append(ctx.t("vendor.due" if done.outcome == "reported" else "vendor.due_queued", vendor=name,
                           due=ctx.when(done.due)))
    if done.outcome != "reported" and done.emergency:
        lines.append(ctx.t("vendor.emergency", phone=done.emergency))
    if done.phone:
        lines.append(ctx.t("vendor.phone_p1", phone=done.phone))
    return [Reply(text="\n".join(lines), ticket=ticket.key)]


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", "vendor"), VendorArgs, report, "help.ticket_vendor",
                         (KEY_ARG, Arg("vendor_ticket", "positional", metavar="VENDOR-TICKET-ID", required=False)),
                         permission="staff"))
