"""`/queue`: the state of the queue in one short message, for staff, in any channel."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import Command, Registry
from bot.core.types import Reply
from bot.i18n.format import duration
from bot.tickets.queue import QueueLine, snapshot
from bot.tickets.states import State
from commands.ticket import NoArgs


def _line(ctx: Context, line: QueueLine, with_title: bool) -> str:
    text = ctx.t("queue.line", key=line.key, priority=line.priority, state=ctx.t(f"state.{line.state}"),
                 age=duration(ctx.actor.language, ctx.now - line.created_at),
                 assignee=line.assignee or ctx.t("ticket.nobody"))
    # titles may carry a member's problem: only the (private) duty channel shows them
    return f"{text} — {line.title}" if with_title else text


async def queue(ctx: Context, _args: NoArgs) -> list[Reply]:
    snap = await snapshot(ctx.session)
    if snap.total == 0:
        return [Reply(text=ctx.t("queue.empty"))]
    with_titles = ctx.desk.is_duty_channel(ctx.event.channel.channel_id)
    states = " · ".join(
        f"{ctx.t(f'state.{s.value}')} {snap.by_state[s.value]}" for s in State if snap.by_state.get(s.value)
    )
    prios = " · ".join(f"P{p} {snap.by_priority[p]}" for p in sorted(snap.by_priority))
    lines = [ctx.t("queue.head", total=snap.total, states=states, priorities=prios)]
    lines.append(ctx.t("queue.oldest"))
    lines += [_line(ctx, line, with_titles) for line in snap.oldest]
    if snap.unassigned_total:
        lines.append(ctx.t("queue.unassigned", count=snap.unassigned_total))
        lines += [_line(ctx, line, with_titles) for line in snap.unassigned]
    return [Reply(text="\n".join(lines))]


def register(registry: Registry) -> None:
    registry.add(Command(("queue",), NoArgs, queue, "help.queue", permission="agent", refusal="access.queue"))
