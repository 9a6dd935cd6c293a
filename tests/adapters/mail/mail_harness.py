"""The mail test harness: the whole bot with the mail runtime on a real Dovecot and a real SMTP server, plus a
recording chat platform (``sim``) for the team's side (duty channel, agents' commands and direct messages).

The bot runs as `dutydesk run` runs it (its background: outbox, timers, recovery); tests wait for what they
expect with ``until`` (polling the database or the SMTP server), never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from mail_servers import PASSWORD, USER, Dovecot, Received, SmtpSink
from sqlalchemy import select

from adapters.mail.runtime import MailRuntime
from bot.app import Bot, build
from bot.core.clock import SystemClock
from bot.core.types import Capability, ChannelRef, InboundEvent, OutboundMessage, Platform, Removal, UserRef
from bot.settings import Settings, settings_from_data
from storage.models import Ticket, TicketEvent

_IDS = itertools.count(1)


class ChatRecorder:
    """The team's chat platform in these tests: keeps what the bot sends there."""

    platform = Platform.SIM
    capabilities = frozenset({Capability.DMS, Capability.PRIVATE_ROOMS, Capability.THREADS})

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> str | None:
        self.sent.append(message)
        return f"sim-{message.id}"

    async def remove(self, removal: Removal) -> str | None:
        return None


def desk_data(dovecot: Dovecot, smtp: SmtpSink, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "desk": {"name": "HalloWelt Support", "language": "en", "ticket_prefix": "HW", "calendar": "office"},
        "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
        "people": {"anna": {"name": "Anna", "roles": ["agent", "lead"]},
                   "carla": {"name": "Carla", "roles": ["agent", "coordinator"], "email": "carla@example.org"}},
        "channels": {"duty": ["#support-duty"]},
        "mail": {"address": USER, "username": USER, "imap": dovecot.url, "smtp": smtp.url, "poll": "1s"},
        "ops": {"enabled": False},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def mail(sender: str = "Maria Huber <maria@example.com>", subject: str = "The printer is on fire",
         text: str = "It smokes since this morning.", *, message_id: str | None = None,
         in_reply_to: str | None = None, headers: dict[str, str] | None = None,
         attachments: list[tuple[str, str, bytes]] = ()) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = USER
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<m{next(_IDS)}.{time.monotonic_ns()}@example.com>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    for name, mime, data in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


class MailHarness:
    def __init__(self, dovecot: Dovecot, smtp: SmtpSink, db_url: str) -> None:
        self.dovecot = dovecot
        self.smtp = smtp
        self.db_url = db_url
        self.clock = SystemClock()
        self.chat = ChatRecorder()
        self.settings: Settings | None = None
        self.bot: Bot | None = None
        self.runtime: MailRuntime | None = None
        self._background: Any = None

    async def start(self, **sections: Any) -> MailHarness:
        if self.settings is None or sections:
            self.settings = settings_from_data(desk_data(self.dovecot, self.smtp, **sections), "(mail test desk)",
                                               env={"DUTYDESK_MAIL__PASSWORD": PASSWORD})
        runtime = MailRuntime(self.settings)
        bot = await build(self.settings, self.clock, [runtime, self.chat], db_url=self.db_url)
        self.bot, self.runtime = bot, runtime
        await runtime.start(bot.ports)
        self._background = bot.background()
        await self._background.__aenter__()
        return self

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        if self.bot is not None:
            await self.bot.inbox.drain(5)
            if self._background is not None:
                await self._background.__aexit__(None, None, None)
            await self.runtime.close()  # type: ignore[union-attr]
            await self.bot.close()
        self.bot = self.runtime = self._background = None

    async def close(self) -> None:
        await self.stop()

    # ------------------------------------------------------------------ waiting

    async def until(self, check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}")
            await asyncio.sleep(0.1)

    async def tickets(self) -> list[Ticket]:
        assert self.bot is not None
        async with self.bot.desk.sessions() as session:
            return list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())

    async def events(self, key: str) -> list[TicketEvent]:
        assert self.bot is not None
        async with self.bot.desk.sessions() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.key == key))
            assert ticket is not None
            return list((await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                               .order_by(TicketEvent.id))).all())

    async def ticket_count(self, count: int, timeout: float = 20.0) -> list[Ticket]:
        async def enough() -> list[Ticket] | None:
            found = await self.tickets()
            return found if len(found) >= count else None

        return await self.until(enough, timeout, f"{count} tickets")  # type: ignore[no-any-return]

    async def sent(self, count: int, timeout: float = 20.0) -> list[Received]:
        received = await asyncio.to_thread(self.smtp.wait_for, count, timeout)
        assert len(received) >= count, f"{len(received)} mails sent, expected {count}: " + \
            "; ".join(str(r.message["Subject"]) for r in received)
        return received

    async def deliver(self, message: EmailMessage | bytes, **kwargs: Any) -> None:
        await asyncio.to_thread(self.dovecot.deliver, message, **kwargs)
        if self.runtime is not None and self.runtime.intake is not None:
            self.runtime.intake.wake.set()

    async def command(self, who: str, text: str) -> None:
        """A staff member types a command on the team's chat platform."""
        assert self.bot is not None
        event = InboundEvent(kind="command", event_id=f"cmd-{next(_IDS)}", text=text,
                             actor=UserRef(platform=Platform.SIM, user_id=who, display_name=who.title()),
                             channel=ChannelRef(platform=Platform.SIM, channel_id="#support-duty", is_private=True),
                             received_at=datetime.now(UTC))
        await self.bot.handle(event)

    def chat_texts(self) -> list[str]:
        return [m.text for m in self.chat.sent]
