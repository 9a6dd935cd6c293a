"""Closing the loop: `/ticket solve ID TEXT|LINK`, the requester's `/ticket satisfied ID` and
`/ticket notfixed ID [TEXT]` (the buttons of the satisfaction question), and `/kb WORDS`."""

from __future__ import annotations

from pydantic import BaseModel

from bot import access, kb
from bot.core.context import Context
from bot.core.errors import Refused
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.tickets import service
from bot.workflow import closing
from commands.ticket import KEY_ARG, KeyArgs, TextArgs, confirmed, load, reply
from storage.models import Ticket


class FeedbackArgs(KeyArgs):
    text: str | None = None


class SearchArgs(BaseModel):
    query: str


async def solve(ctx: Context, args: TextArgs) -> list[Reply]:
    ticket = await load(ctx, args.key, write=True)
    asked = await closing.solve(ctx.session, ctx.desk, ticket, ctx.actor.person, args.text)
    if asked:
        return await confirmed(ctx, ticket, "closing.solved_asked", "closing.solved", "asked")
    return reply(ctx, "closing.solved", key=ticket.key, ticket=ticket.key)


async def _requester_only(ctx: Context, key: str) -> Ticket:
    # a follower (whose duplicate was merged in) is told the question is the requester's
    ticket = await load(ctx, key, follow=True)
    if ctx.actor.is_staff and service.is_for_contact(ticket):
        return ticket  # an outside contact answered on the phone: the team records it
    if ticket.requester_id != ctx.actor.person.id:
        raise Refused("closing.requester_only", key=ticket.key)
    return ticket


async def satisfied(ctx: Context, args: FeedbackArgs) -> list[Reply]:
    ticket = await _requester_only(ctx, args.key)
    await closing.satisfied(ctx.session, ctx.desk, ticket, ctx.actor.person)
    return reply(ctx, "closing.satisfied_ok", key=ticket.key, ticket=ticket.key)


async def not_fixed(ctx: Context, args: FeedbackArgs) -> list[Reply]:
    ticket = await _requester_only(ctx, args.key)
    await closing.not_fixed(ctx.session, ctx.desk, ticket, ctx.actor.person, args.text)
    return reply(ctx, "closing.not_fixed_ok", key=ticket.key, ticket=ticket.key)


async def search(ctx: Context, args: SearchArgs) -> list[Reply]:
    settings = ctx.desk.settings
    faq = kb.search_faq(settings, args.query)
    solutions = await kb.search(ctx.session, args.query) if access.is_agent(ctx.actor) else []
    if not faq and not solutions:
        return reply(ctx, "kb.nothing" if access.is_agent(ctx.actor) else "kb.nothing_faq", query=args.query[:60],
                     prefix=ctx.prefix)
    lines = [ctx.t("kb.head", query=args.query[:60])]
    lines += [ctx.t("kb.faq_line", key=key, title=entry.title, url=entry.url) for key, entry in faq]
    for found in solutions:
        text = found.text if len(found.text) <= 200 else found.text[:199] + "…"
        lines.append(ctx.t("kb.solution_line", key=found.ticket, title=found.title, text=text,
                           at=ctx.when(found.at)))
    return [Reply(text="\n".join(lines))]


def register(registry: Registry) -> None:
    registry.add(Command(("ticket", "solve"), TextArgs, solve, "help.ticket_solve",
                         (KEY_ARG, Arg("text", "rest", metavar="SOLUTION")), permission="agent"))
    registry.add(Command(("ticket", "satisfied"), FeedbackArgs, satisfied, "help.ticket_satisfied", (KEY_ARG,)))
    registry.add(Command(("ticket", "notfixed"), FeedbackArgs, not_fixed, "help.ticket_notfixed",
                         (KEY_ARG, Arg("text", "rest", metavar="TEXT", required=False))))
    registry.add(Command(("kb",), SearchArgs, search, "help.kb", (Arg("query", "rest", metavar="WORDS"),)))
