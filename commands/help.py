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


def make_help(registry: Registry):
    async def help_(ctx: Context, args: HelpArgs) -> list[Reply]:
        commands = sorted(registry.commands.values(), key=lambda c: c.path)
        if args.topic:
            topic = args.topic.lstrip("/!").lower()
            commands = [c for c in commands if c.path[0] == topic]
            if not commands:
                return [Reply(text=ctx.t("help.unknown", topic=args.topic, prefix=ctx.prefix))]
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
                         (Arg("topic", "positional", metavar="COMMAND", required=False),)))
