"""The command registry: parse a command line once, into a pydantic model, and generate help from it.

A command is a path of words (``ticket show``) with declared arguments. Parsing takes the
longest registered path that prefixes the line, then fills the arguments: options (``-p1``,
``-p 1``, ``--priority=1``), positionals in order, and a trailing free-text argument that
keeps the user's original spelling (quotes and apostrophes included).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from bot.core.errors import BadValue, Worded
from bot.i18n import catalogue, t

if TYPE_CHECKING:
    from bot.core.context import Context
    from bot.core.types import Reply

# who may run a command (bot/access): anyone; staff (any staff role); agent (agents, leads, admins);
# or one role (admins may do everything)
Permission = Literal["anyone", "staff", "agent", "lead", "coordinator", "admin"]
Handler = Callable[["Context", Any], Awaitable["list[Reply]"]]

_TOKEN = re.compile(r"\S+")
# what a ticket id looks like (HW-42): inside a ticket's space a command's ID may be left out, and a first word
# of this shape is still read as an explicit id (another ticket named from inside this one)
TICKET_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}-\d{1,9}")
_WORD = re.compile(r"[A-Z](?:[A-Z\-]*[A-Z])?")


def metavar(lang: str, name: str) -> str:
    """A placeholder of a usage in the reader's language: ``ID`` → ``НОМЕР``, ``faq:KEY`` → ``faq:SCHLÜSSEL``."""
    words = catalogue(lang)
    return _WORD.sub(lambda m: str(words.get(f"metavar.{m.group()}", m.group())), name)


@dataclass(frozen=True)
class Arg:
    name: str
    kind: Literal["positional", "rest", "option"]
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    required: bool = True
    # a ticket's id: inside that ticket's private space the space's ticket stands in when it is left out
    space_ticket: bool = False
    # an option only the support team may use (``/ticket --for``): left out of a requester's usage lines
    staff: bool = False

    @property
    def label(self) -> str:
        return self.metavar or self.name.upper()

    def worded(self) -> Worded:
        return Worded(self.label, lambda lang: metavar(lang, self.label))

    def usage(self, lang: str = "en") -> str:
        label = metavar(lang, self.label)
        if self.kind == "option":
            text = f"{self.flags[0]} {label}"
            return text if self.required else f"[{text}]"
        if self.kind == "rest":
            label += "…"
        return label if self.required else f"[{label}]"


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    model: type[BaseModel]
    handler: Handler
    summary: str  # catalogue key
    args: tuple[Arg, ...] = ()
    permission: Permission = "anyone"
    # the command runs when the path is followed by text that is no subcommand (``/ticket TEXT``)
    default_for: tuple[str, ...] | None = None
    # the catalogue key of the refusal when the actor lacks the permission (default: by permission)
    refusal: str | None = None

    def usage(self, prefix: str, lang: str = "en", *, staff: bool = True) -> str:
        """The command's usage line in ``lang``; ``staff`` False leaves out the options only the team may use."""
        words = " ".join(self.default_for or self.path)
        parts = [f"{prefix}{words}", *(arg.usage(lang) for arg in self.args if staff or not arg.staff)]
        return " ".join(parts)


@dataclass(frozen=True)
class Parsed:
    command: Command
    args: BaseModel


@dataclass(frozen=True)
class ParseError:
    """Why a line could not be parsed; ``command`` is set when the command itself was known."""

    reason: str  # catalogue key
    detail: dict[str, str] = field(default_factory=dict)  # values; a Worded one is worded for the reader
    command: Command | None = None
    group: tuple[str, ...] = ()


@dataclass
class Registry:
    commands: dict[tuple[str, ...], Command] = field(default_factory=dict)
    defaults: dict[tuple[str, ...], Command] = field(default_factory=dict)

    def add(self, command: Command) -> None:
        key = command.path
        if key in self.commands:
            raise ValueError(f"command registered twice: {' '.join(key)}")
        self.commands[key] = command
        if command.default_for is not None:
            self.defaults[command.default_for] = command

    def groups(self) -> set[str]:
        return {path[0] for path in self.commands} | {path[0] for path in self.defaults}

    def mistyped(self, text: str) -> tuple[Command, str] | None:
        """A line that runs a group's default command (``ticket clsoe KS-7`` opens a ticket) whose next word is
        close to one of the group's subcommands: that command and the line as it was likely meant."""
        tokens = text.split(maxsplit=2)
        if len(tokens) < 2 or tokens[0].lower() not in {path[0] for path in self.defaults}:
            return None
        group, word = tokens[0].lower(), tokens[1].lower()
        subcommands = {c.path[1]: c for c in self.commands.values() if len(c.path) > 1 and c.path[0] == group}
        if word in subcommands or not word.isalpha():
            return None
        starts = [name for name in subcommands if len(word) >= 3 and name.startswith(word)]
        close = difflib.get_close_matches(word, list(subcommands), n=1, cutoff=0.75)
        guess = starts[0] if len(starts) == 1 else (close[0] if close else None)
        if guess is None:
            return None
        return subcommands[guess], " ".join([group, guess, *tokens[2:]])

    def in_group(self, group: str) -> list[Command]:
        return sorted((c for c in self.commands.values() if c.path[0] == group), key=lambda c: c.path)

    def parse(self, text: str, *, space_ticket: str | None = None) -> Parsed | ParseError:
        """``space_ticket``: the command was written in this ticket's private space, where an ID argument may
        be left out (``/ticket take``, ``/ticket solve It was the cache``)."""
        tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
        if not tokens:
            return ParseError("parse.empty")
        words = [t.lower() for t, _ in tokens]
        best: Command | None = None
        used = 0
        for length in range(len(words), 0, -1):
            command = self.commands.get(tuple(words[:length]))
            if command is not None:
                best, used = command, length
                break
        if best is None:
            for length in range(len(words), 0, -1):
                command = self.defaults.get(tuple(words[:length]))
                if command is not None:
                    best, used = command, length
                    break
        if best is None:
            group = (words[0],) if words[0] in self.groups() else ()
            return ParseError("parse.unknown", {"command": words[0]}, group=group)
        return _fill(best, text, tokens[used:], space_ticket)


def _unquote(text: str, tokens: list[tuple[str, int]], i: int) -> tuple[str, int]:
    """Joins a quoted value that spans tokens (``--topic "two words"``); returns it and the next index."""
    token, start = tokens[i]
    quote = token[0]
    if quote not in "\"'" or (len(token) > 1 and token.endswith(quote)):
        return (token[1:-1] if quote in "\"'" and len(token) > 1 else token), i + 1
    for j in range(i + 1, len(tokens)):
        if tokens[j][0].endswith(quote):
            end = tokens[j][1] + len(tokens[j][0])
            return text[start + 1 : end - 1], j + 1
    return token, i + 1


def _fill(command: Command, text: str, tokens: list[tuple[str, int]], space_ticket: str | None = None
          ) -> Parsed | ParseError:
    options = {flag: arg for arg in command.args if arg.kind == "option" for flag in arg.flags}
    positionals = [arg for arg in command.args if arg.kind == "positional"]
    rest = next((arg for arg in command.args if arg.kind == "rest"), None)
    values: dict[str, Any] = {}
    if space_ticket and positionals and positionals[0].space_ticket \
            and not (tokens and TICKET_KEY.fullmatch(tokens[0][0])):
        values[positionals.pop(0).name] = space_ticket
    rest_start: int | None = None
    i = 0
    only_text = False
    while i < len(tokens):
        token, start = tokens[i]
        if not only_text and token == "--":
            only_text = True
            i += 1
            continue
        if not only_text and token.startswith("-") and len(token) > 1 and rest_start is None:
            name, _, inline = token.partition("=")
            arg = options.get(name)
            if arg is None and len(name) > 2 and not name.startswith("--"):
                arg = options.get(name[:2])
                inline = name[2:] if arg is not None else inline
            if arg is not None:
                if inline:
                    values[arg.name] = inline
                    i += 1
                elif i + 1 < len(tokens):
                    values[arg.name], i = _unquote(text, tokens, i + 1)
                else:
                    return ParseError("parse.missing_value", {"option": name}, command)
                continue
            # "-x" and "--xyz" are mistyped options; "-5 degrees" is the start of the text
            if rest is None or token.lstrip("-")[:1].isalpha():
                return ParseError("parse.unknown_option", {"option": name}, command)
        if positionals:
            arg = positionals.pop(0)
            values[arg.name], i = _unquote(text, tokens, i)
            continue
        if rest is not None:
            if rest_start is None:
                rest_start = start
            i += 1
            continue
        return ParseError("parse.extra", {"value": token[:40]}, command)
    if rest is not None and rest_start is not None:
        values[rest.name] = text[rest_start:].strip()
    for arg in command.args:
        if arg.required and arg.name not in values:
            return ParseError("parse.missing", {"argument": arg.worded()}, command)
    try:
        model = command.model.model_validate(values)
    except ValidationError as exc:
        return ParseError("parse.invalid", _invalid(command, exc), command)
    return Parsed(command, model)


def _invalid(command: Command, exc: ValidationError) -> dict[str, str]:
    """What was wrong with an argument, worded for the reader: the validator's :class:`BadValue`, or (for a type
    pydantic refused) the value typed and its placeholder, never pydantic's English."""
    err = exc.errors()[0]
    loc = str(err["loc"][0]) if err["loc"] else ""
    arg = next((a for a in command.args if a.name == loc), None)
    argument = arg.worded() if arg is not None else Worded(loc, lambda _lang: loc)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, BadValue):
        return {"argument": argument, "problem": Worded(cause.key, cause.text)}
    typed = str(err.get("input", ""))[:40]
    return {"argument": argument,
            "problem": Worded("parse.bad_value", lambda lang: t(lang, "parse.bad_value", value=typed,
                                                                 argument=argument(lang)))}
