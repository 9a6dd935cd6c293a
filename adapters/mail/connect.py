"""Connections to the mail servers of ``[mail]``: an IMAP session (aioimaplib) and an SMTP session (aiosmtplib).

TLS: ``imaps://`` and ``smtps://`` speak TLS from the first byte; ``imap://`` and ``smtp://`` upgrade with
STARTTLS. A server that does not offer STARTTLS is used in the clear only on loopback (a local relay, the
tests); anywhere else the password would cross the network readable, so the connection is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from typing import Any

import aioimaplib
import aiosmtplib

from bot.settings import MailConfig, MailServer

TIMEOUT = 20.0


class MailboxError(Exception):
    """The mailbox cannot be used; ``reason`` says what to fix (one line, no secret)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


async def _starttls(imap: aioimaplib.IMAP4, server: MailServer) -> None:
    """STARTTLS on an aioimaplib connection (the library has no command for it): the command, then the
    transport upgraded in place, then the capabilities asked again (they may change after TLS)."""
    protocol: Any = imap.protocol
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    answer = await asyncio.wait_for(protocol.execute(command), TIMEOUT)
    if answer.result != "OK":
        raise MailboxError(f"the IMAP server {server.host} refused STARTTLS")
    loop = asyncio.get_running_loop()
    transport = await loop.start_tls(protocol.transport, protocol, _tls_context(), server_hostname=server.host)
    protocol.transport = transport
    await asyncio.wait_for(protocol.capability(), TIMEOUT)


async def open_imap(config: MailConfig) -> aioimaplib.IMAP4:
    """A logged-in IMAP session; MailboxError with what to fix when it cannot be had."""
    server = config.imap_server
    password = config.password.get_secret_value() if config.password else ""
    try:
        if server.tls:
            imap: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(host=server.host, port=server.port, timeout=TIMEOUT,
                                                          ssl_context=_tls_context())
        else:
            imap = aioimaplib.IMAP4(host=server.host, port=server.port, timeout=TIMEOUT)
        await imap.wait_hello_from_server()
    except (OSError, TimeoutError) as exc:
        raise MailboxError(f"cannot reach the IMAP server {server.host}:{server.port} ({_why(exc)})") from exc
    try:
        if not server.tls:
            if imap.has_capability("STARTTLS"):
                await _starttls(imap, server)
            elif not loopback(server.host):
                raise MailboxError(f"the IMAP server {server.host} offers no STARTTLS; use imaps://{server.host} so "
                                   "the password does not cross the network in the clear", permanent=True)
        answer = await imap.login(config.login, password)
    except MailboxError:
        await close_imap(imap)
        raise
    except (OSError, TimeoutError, aioimaplib.AioImapException, ssl.SSLError) as exc:
        await close_imap(imap)
        raise MailboxError(f"the IMAP server {server.host} broke off the login ({_why(exc)})") from exc
    if answer.result != "OK":
        await close_imap(imap)
        raise MailboxError(f"the IMAP server {server.host} refused the login of {config.login}: check "
                           "DUTYDESK_MAIL__PASSWORD (an app password where the provider asks for one) and "
                           "mail.username",
                           permanent=True)
    return imap


async def close_imap(imap: aioimaplib.IMAP4, *, polite: bool = True) -> None:
    """Logs out (``polite``: the connection still works) and closes the connection."""
    try:
        if polite and imap.has_pending_idle():
            imap.idle_done()
        if polite and imap.get_state() in ("AUTH", "SELECTED"):
            await asyncio.wait_for(imap.logout(), 5)
    except Exception:
        pass
    transport = getattr(imap.protocol, "transport", None)
    if transport is not None:
        transport.close()


async def open_smtp(config: MailConfig) -> aiosmtplib.SMTP:
    """A logged-in SMTP session; MailboxError with what to fix when it cannot be had."""
    server = config.smtp_server
    password = config.password.get_secret_value() if config.password else ""
    local = loopback(server.host)
    smtp = aiosmtplib.SMTP(hostname=server.host, port=server.port, use_tls=server.tls, timeout=TIMEOUT,
                           # STARTTLS is required off loopback, used where offered on it
                           start_tls=None if local else (not server.tls),
                           tls_context=_tls_context())
    try:
        await smtp.connect()
    except aiosmtplib.SMTPConnectError as exc:
        raise MailboxError(f"cannot reach the SMTP server {server.host}:{server.port} ({_why(exc)})") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailboxError(f"the SMTP server {server.host} broke off the connection ({_why(exc)})") from exc
    try:
        # a relay on loopback may take mail without a login; anywhere else the login is required
        if smtp.supports_extension("auth") or not local:
            await smtp.login(config.login, password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        smtp.close()
        raise MailboxError(f"the SMTP server {server.host} refused the login of {config.login}: check "
                           "DUTYDESK_MAIL__PASSWORD and mail.username", permanent=True) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        smtp.close()
        raise MailboxError(f"the SMTP server {server.host} broke off the login ({_why(exc)})") from exc
    return smtp


def _why(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc)).strip()
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
