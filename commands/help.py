"""`/help [COMMAND]`: generated from the registry, so it never disagrees with the parser."""

from __future__ import annotations

from pydantic import BaseModel

from bot import access
from bot.core.context import Context
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply


class HelpArgs(BaseModel):
    topic: str | None = None


def _allowed(ctx: Context, command: Command) -> bool:
    return access.refusal(ctx.actor, command.permission) is None


def usage_lines(ctx: Context, commands: list[Command]) -> list[str]:
    staff = ctx.actor.is_staff
    return [f"{c.usage(ctx.prefix, ctx.actor.language, staff=staff)} — {ctx.t(c.summary)}" for c in commands
            if _allowed(ctx, c)]


# what people do every day comes first in /help: open a ticket, their tickets, the queue, the duty
EVERYDAY = (("ticket", "new"), ("ticket", "list"), ("ticket", "show"), ("queue",), ("duty",), ("kb",))


def _order(command: Command) -> tuple[int, tuple[str, ...]]:
    return (EVERYDAY.index(command.path) if command.path in EVERYDAY else len(EVERYDAY), command.path)


def make_help(registry: Registry):
    async def help_(ctx: Context, args: HelpArgs) -> list[Reply]:
        commands = sorted(registry.commands.values(), key=_order)
        if args.topic:
            # "/help ticket vendor": that command; "/help ticket": its group
            words = [word.lower() for word in args.topic.lstrip("/!").split()]
            commands = [c for c in commands if list(c.path[: len(words)]) == words]
            if not commands:
                return [Reply(text=ctx.t("help.unknown", topic=args.topic[:40], prefix=ctx.prefix))]
        seen: set[str] = set()
        lines = [ctx.t("help.head", desk=ctx.desk.settings.desk.name)]
        for line in usage_lines(ctx, commands):
            if line not in seen:
                seen.add(line)
                lines.append(line)
        return [Reply(text="\n".join(lines))]

    return help_


def register(registry: Registry) -> None:
    registry.add(Command(("help",), HelpArgs, make_help(registry), "help.help",
                         (Arg("topic", "rest", metavar="COMMAND", required=False),)))
