"""IMAP intake: the support mailbox's folder read over IMAP, every new mail handed to the core's inbox.

Exactly once: a mail is stored in the core's inbox (keyed by its Message-ID, or a hash of its bytes) before
it is marked seen and before the last UID moves on in the database. A crash in between fetches it again after
the restart and the inbox drops the duplicate; a mail is never lost, a ticket never made twice. The folder's
UIDVALIDITY is kept with the UID: when the server renumbers the folder, the unseen mails are read again (the
inbox keys keep them from becoming tickets twice).

The wait between passes is IMAP IDLE where the server offers it (woken by the server when mail arrives,
renewed every minute), else ``[mail] poll``. A mailbox that cannot be read (login refused, TLS, the server
away) is retried with backoff and shows on ``/healthz`` as a stale ``mail`` sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

import aioimaplib
import structlog

from adapters.mail.connect import MailboxError, close_imap, open_imap
from adapters.mail.message import InboundMail, parse
from adapters.mail.threads import get_json, put_json
from bot.core.ports import Ports
from bot.core.types import Platform

log = structlog.stdlib.get_logger(__name__)

IDLE_RENEW = 60.0   # seconds: IDLE is renewed (and the health sync reported) at least this often
FETCH_BATCH = 50
_T = TypeVar("_T")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _number(lines: list[bytes], name: str) -> int | None:
    for line in lines:
        match = re.search(rb"\[" + name.encode() + rb" (\d+)\]", bytes(line))
        if match:
            return int(match[1])
    return None


def imap_date(day: date) -> str:
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


class MailIntake:
    """Reads ``[mail] folder``; ``handle`` takes each new mail (raw bytes, parsed) into the core and raises
    when it could not be stored (the mail is then fetched again on the next pass)."""

    def __init__(self, ports: Ports, handle: Callable[[bytes, InboundMail], Awaitable[None]]) -> None:
        self.ports = ports
        self.config = ports.settings.mail
        self.handle = handle
        self.imap: aioimaplib.IMAP4 | None = None
        self.idle = False
        self.wake = asyncio.Event()
        self.passes = 0
        # the server closed the connection (a restart, the network); cleared at the next connect
        self.gone = asyncio.Event()
        self.state_key = f"mail:uid:{self.config.folder}"

    async def connect(self) -> aioimaplib.IMAP4:
        if self.imap is not None and self.imap.get_state() == "SELECTED":
            return self.imap
        await self.disconnect()
        imap = await open_imap(self.config)
        self.gone.clear()
        # the server went away (a restart, the network): the wait ends at once instead of at IDLE's renewal
        imap.protocol.conn_lost_cb = self._lost
        answer = await imap.select(self.config.folder)
        if answer.result != "OK":
            await close_imap(imap)
            raise MailboxError(f"the mailbox has no folder {self.config.folder!r}; check mail.folder", permanent=True)
        self.imap = imap
        self.idle = imap.has_capability("IDLE")
        self._selected = list(answer.lines)
        return imap

    def _lost(self, _exc: Exception | None) -> None:
        self.gone.set()
        self.wake.set()

    async def _exchange(self, step: Awaitable[_T]) -> _T:
        """An IMAP command's answer, or ConnectionResetError as soon as the connection is lost: aioimaplib leaves
        the command waiting (until its timeout, or for ever for IDLE's start), and the duty channel would hear
        of the mailbox that late."""
        answer = asyncio.ensure_future(step)
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            answer.cancel()
            raise
        finally:
            gone.cancel()
        if not answer.done():
            answer.cancel()
            raise ConnectionResetError("the IMAP server closed the connection")
        return answer.result()

    async def disconnect(self) -> None:
        if self.imap is not None:
            imap, self.imap = self.imap, None
            # a lost connection is closed without a LOGOUT: it would wait behind a command that gets no answer
            await close_imap(imap, polite=not self.gone.is_set())

    # ------------------------------------------------------------------ one pass

    async def one_pass(self) -> int:
        """Takes every new mail in; returns how many."""
        try:
            imap = await self.connect()
            taken = await self._take_new(imap)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self.disconnect()
            raise MailboxError(f"the IMAP connection broke ({type(exc).__name__})") from exc
        except BaseException:
            await self.disconnect()
            raise
        self.passes += 1
        self.ports.health.synced(Platform.MAIL.value, self.ports.clock.now())
        return taken

    async def _take_new(self, imap: aioimaplib.IMAP4) -> int:
        validity = _number(self._selected, "UIDVALIDITY") or 0
        async with self.ports.state.read() as tx:
            stored = await get_json(tx, self.state_key)
        criteria: list[str] = []
        if not isinstance(stored, dict) or stored.get("validity") != validity:
            last, criteria = await self._first_look(imap, stored if isinstance(stored, dict) else None)
            async with self.ports.state.write() as tx:
                await put_json(tx, self.state_key, {"validity": validity, "last": last})
        else:
            last = int(stored.get("last", 0))
        answer = await self._exchange(imap.uid_search(f"UID {last + 1}:*", *criteria, charset=None))
        if answer.result != "OK":
            raise MailboxError(f"the IMAP server refused the search in {self.config.folder!r}")
        # "n:*" always names the highest UID, even one below n
        uids = sorted(u for u in (int(x) for line in answer.lines[:1] for x in bytes(line).split() if x.isdigit())
                      if u > last)
        for uid in uids:
            raw = await self._fetch(imap, uid)
            if raw is not None:
                await self.handle(raw, parse(raw))   # stored in the core's inbox, or it raises
                await self._exchange(imap.uid("store", str(uid), "+FLAGS.SILENT (\\Seen)"))
            async with self.ports.state.write() as tx:
                await put_json(tx, self.state_key, {"validity": validity, "last": uid})
        if criteria:
            # the first look took the unseen mails; from here on every mail above the folder's end at the
            # time of the SELECT is new (a read one below it stays as it is)
            end = (_number(self._selected, "UIDNEXT") or 1) - 1
            if end > (uids[-1] if uids else last):
                async with self.ports.state.write() as tx:
                    await put_json(tx, self.state_key, {"validity": validity, "last": end})
        return len(uids)

    async def _first_look(self, imap: aioimaplib.IMAP4, stored: dict[str, object] | None) -> tuple[int, list[str]]:
        """Where the first pass starts: ``[mail] backlog`` at the very first start; after the server renumbered
        the folder (a new UIDVALIDITY), the unseen mails again."""
        backlog = self.config.backlog if stored is None else "unseen"
        if backlog == "none":
            uidnext = _number(self._selected, "UIDNEXT")
            if uidnext is None:
                answer = await self._exchange(imap.status(self.config.folder, "(UIDNEXT)"))
                match = re.search(rb"UIDNEXT (\d+)", b" ".join(bytes(x) for x in answer.lines))
                uidnext = int(match[1]) if match else 1
            log.info("mail: first start, the mail already in the folder is left alone", folder=self.config.folder)
            return uidnext - 1, []
        since = self.config.backlog_since
        if stored is not None:
            log.warning("mail: the folder was renumbered (UIDVALIDITY), its unseen mails are read again",
                        folder=self.config.folder)
        return 0, ["UNSEEN", *(["SINCE", imap_date(since)] if since is not None else [])]

    async def _fetch(self, imap: aioimaplib.IMAP4, uid: int) -> bytes | None:
        answer = await self._exchange(imap.uid("fetch", str(uid), "(BODY.PEEK[])"))
        if answer.result != "OK":
            raise MailboxError(f"the IMAP server refused to hand out a mail of {self.config.folder!r}")
        for line in answer.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None   # expunged meanwhile

    # ------------------------------------------------------------------ waiting for mail

    async def wait(self, poll: float) -> None:
        """Until the server says there is mail (IDLE), ``poll`` seconds pass (no IDLE), or ``wake`` is set."""
        imap = self.imap
        if self.gone.is_set():
            await self.disconnect()
        elif imap is None or not self.idle:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=poll)
        else:
            await self._idle(imap)
        self.wake.clear()

    async def _idle(self, imap: aioimaplib.IMAP4) -> None:
        """One IDLE, until the server pushes, ``wake`` is set or IDLE is due for renewal; a lost connection (during it
        or at its end) is closed, for the next pass to connect again."""
        try:
            idle = await self._exchange(imap.idle_start(timeout=IDLE_RENEW))
            waker = asyncio.ensure_future(self.wake.wait())
            pushed = asyncio.ensure_future(imap.wait_server_push(timeout=IDLE_RENEW + 5))
            try:
                await asyncio.wait({waker, pushed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
                pushed.cancel()
            if not self.gone.is_set():
                imap.idle_done()
                await asyncio.wait_for(self._exchange(idle), 10)
                return
        except (OSError, TimeoutError, aioimaplib.AioImapException):
            pass
        await self.disconnect()
