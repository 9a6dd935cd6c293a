"""The interactive console adapter: the embedded default, for trying the bot with no chat platform.

You type as a person; ``/as NAME`` switches the person, ``/in #channel``, ``/dm`` and
``/space HW-1`` choose where you write, ``/quit`` ends the session. As a runtime of `dutydesk run`
(bot/core/ports.py) each line is handled through the inbox's ``handle_now``, so the replies are
printed before the next prompt; the end of the input (or ``/quit``) stops the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import tempfile
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.core.clock import Clock
from bot.core.ports import DeliveryError, Ports
from bot.core.types import (
    Capability,
    ChannelRef,
    InboundEvent,
    OutboundMessage,
    Platform,
    Removal,
    UserRef,
    button_command,
)
from bot.i18n import t

CAPABILITIES = frozenset({Capability.EPHEMERAL, Capability.DMS, Capability.PRIVATE_ROOMS, Capability.BUTTONS})
META = ("as", "in", "dm", "space", "quit", "exit")
# C0/C1 control characters (but newline and tab) in ticket text from other people would move the cursor, clear
# the screen or retitle the terminal; they are shown as U+FFFD instead
_CONTROLS = {c: "\ufffd" for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}


def printable(text: str) -> str:
    return text.translate(_CONTROLS)


class ConsoleAdapter:
    platform = Platform.CONSOLE
    capabilities = CAPABILITIES

    def __init__(self, clock: Clock, user: str, language: str, out: TextIO = sys.stdout,
                 stdin: TextIO = sys.stdin, files_dir: Path | None = None) -> None:
        self.clock = clock
        # where files the bot sends (the report's chart) are saved; None: a fresh temporary directory at the first
        self.files_dir = files_dir
        self.stdin = stdin
        self._task: asyncio.Task[None] | None = None
        self.user = user
        self.language = language
        self.out = out
        self.channel = ChannelRef(platform=Platform.CONSOLE, channel_id="#console")
        self.ticket: str | None = None
        self._ids = itertools.count(1)
        self._session = f"{int(clock.now().timestamp())}"

    def prompt(self) -> str:
        where = f"ticket:{self.ticket}" if self.ticket else ("@dutydesk" if self.channel.is_direct else
                                                           self.channel.channel_id)
        return f"{self.user} in {where}> "

    def _event(self, kind: str, text: str) -> InboundEvent:
        return InboundEvent(
            kind=kind,
            event_id=f"{self._session}-{next(self._ids)}",
            actor=UserRef(platform=Platform.CONSOLE, user_id=self.user, display_name=self.user),
            channel=self.channel,
            text=text,
            received_at=self.clock.now(),
            ticket=self.ticket,
        )

    def convert(self, line: str) -> InboundEvent | bool | None:
        """The event a typed line stands for; None for a meta command, False to quit."""
        line = line.strip()
        if not line:
            return None
        if line.startswith("/"):
            word, _, rest = line[1:].partition(" ")
            word, rest = word.lower(), rest.strip()
            if word in META:
                return self._meta(word, rest)
            return self._event("command", line[1:])
        if self.channel.is_direct and not self.ticket:
            return self._event("dm", line)
        return self._event("message", line)

    def _meta(self, word: str, rest: str) -> bool | None:
        if word in ("quit", "exit"):
            return False
        if word == "as" and rest:
            self.user = rest.removeprefix("@")
        elif word == "in" and rest:
            channel_id = rest if rest.startswith("#") else f"#{rest}"
            self.channel = ChannelRef(platform=Platform.CONSOLE, channel_id=channel_id)
            self.ticket = None
        elif word == "dm":
            self.channel = ChannelRef(platform=Platform.CONSOLE, channel_id=f"@{self.user}", is_direct=True,
                                      is_private=True)
            self.ticket = None
        elif word == "space" and rest:
            self.ticket = rest.upper()
            self.channel = ChannelRef(platform=Platform.CONSOLE, channel_id=f"ticket:{self.ticket}", is_private=True)
        else:
            self.out.write(t(self.language, "console.meta_usage") + "\n")
        return None

    async def send(self, message: OutboundMessage) -> str | None:
        target = message.target
        if target.kind == "ephemeral":
            where = f"{target.channel_id} (only {target.user_id})"
        elif target.kind == "dm":
            where = f"@{target.user_id} (direct)"
        elif target.kind == "ticket":
            where = f"ticket:{target.ticket}"
        else:
            where = target.channel_id or "?"
        buttons = "".join(f"  [{b.label}: /{button_command(b) or b.action}]" for b in message.buttons)
        # a terminal cannot change a line printed before: the new state is printed, marked as a change
        changed = f" ({t(self.language, 'console.changed')})" if message.updates is not None else ""
        self.out.write(printable(f"[{where}]{changed} dutydesk: {message.text}{buttons}") + "\n")
        for file in message.files:  # a terminal shows no image: the file is saved, its path printed
            path = self.save(message.id, file.name, file.data)
            self.out.write(printable(f"[{where}] dutydesk: " + t(self.language, "console.file",
                                                                 title=file.title or file.name, path=path)) + "\n")
        self.out.flush()
        return message.updates or f"console-{message.id}"

    def save(self, message_id: int, name: str, data: bytes) -> Path:
        """Writes a file the bot sent as ``<dir>/<row id>-<name>`` (only the name's last part, so a name can
        never point elsewhere); the same row sent again overwrites its own file."""
        if self.files_dir is None:
            self.files_dir = Path(tempfile.mkdtemp(prefix="dutydesk-files-"))
        safe = Path(name.replace("\\", "/")).name.lstrip(".") or "file"
        path = self.files_dir / f"{message_id}-{safe}"
        path.write_bytes(data)
        return path

    async def remove(self, removal: Removal) -> str | None:
        # what was typed at a terminal cannot be taken back (no Capability.DELETE: the outbox never asks)
        raise DeliveryError("the console cannot delete a message", permanent=True)

    async def run(self, handle: Callable[[InboundEvent], Awaitable[object]], stdin: TextIO | None = None) -> None:
        """The prompt: each line typed is an event handled before the next prompt, until the input ends."""
        self.out.write(t(self.language, "console.banner") + "\n")
        async with contextlib.aclosing(_lines(stdin or self.stdin)) as lines:
            while True:
                self.out.write(self.prompt())
                self.out.flush()
                line = await anext(lines, "")
                if not line:
                    return
                event = self.convert(line)
                if event is False:
                    return
                if isinstance(event, InboundEvent):
                    await handle(event)

    # ----------------------------------------------------------------- the runtime protocol

    async def start(self, ports: Ports) -> None:
        async def prompt() -> None:
            try:
                await self.run(ports.inbox.handle_now)
            finally:
                ports.request_stop()   # the last line (or /quit) ends `dutydesk run`

        self._task = asyncio.get_running_loop().create_task(prompt(), name="console")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def close(self) -> None:
        self.out.flush()


async def _lines(stdin: TextIO) -> AsyncGenerator[str, None]:
    """The lines of ``stdin`` as they are typed. A daemon thread reads them, so a signal that stops the
    bot does not wait for a line that never comes."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def put(line: str) -> None:
        with contextlib.suppress(RuntimeError):   # the loop has closed: nobody waits for the line
            loop.call_soon_threadsafe(queue.put_nowait, line)

    def read() -> None:
        for line in iter(stdin.readline, ""):
            put(line)
        put("")

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    while line := await queue.get():
        yield line
