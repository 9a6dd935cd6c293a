"""The matrix-nio client: configuration, login (password or access token, one stable device),
and the one place where nio's ``XResponse | XError`` results become exceptions.

Rate limits: nio retries a 429 itself, sleeping ``retry_after_ms``, at most ``max_limit_exceeded``
times; connection errors and timeouts at most ``max_timeouts`` times (nio's defaults retry
forever). What is left after that becomes a ``DeliveryError`` with ``retry_after`` for the outbox.

End-to-end encryption (``[matrix] e2ee``, ``store_path``): nio's crypto store (the device's Olm
account, its sessions and the room keys it received) is opened right after the login, for the one
stable device id; a restart therefore keeps the device and can read what was encrypted for it.
:func:`share_keys` runs around every sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    KeysClaimResponse,
    KeysQueryResponse,
    KeysUploadResponse,
    LocalProtocolError,
    LoginResponse,
    WhoamiResponse,
)

from bot.core.ports import DeliveryError
from bot.settings import E2E_INSTALL, ConfigError, Settings, e2e_installed

log = structlog.stdlib.get_logger(__name__)

MAX_LIMIT_EXCEEDED = 3        # 429s nio sleeps through per request before the outbox takes over
MAX_TIMEOUTS = 3
REQUEST_TIMEOUT = 30.0
DEVICE_NAME = "dutydesk"


class MatrixError(Exception):
    """A homeserver answer that is an error: ``errcode`` (``M_FORBIDDEN`` …), HTTP-ish status, wait."""

    def __init__(self, what: str, errcode: str | None, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(f"{what}: {errcode or 'error'} {message}".strip())
        self.what = what
        self.errcode = errcode or ""
        self.message = message
        self.retry_after_ms = retry_after_ms


def check(response: Any, expected: type, what: str) -> Any:
    """``response`` if it is an ``expected``; otherwise raises :class:`MatrixError`."""
    if isinstance(response, expected):
        return response
    if isinstance(response, ErrorResponse):
        raise MatrixError(what, str(response.status_code or ""), response.message or "",
                          retry_after_ms=response.retry_after_ms)
    raise MatrixError(what, None, type(response).__name__)


def server_of(user_id: str) -> str:
    """``@bot:example.org`` → ``example.org`` (room ids have no server part in room version 12)."""
    return user_id.partition(":")[2]


def e2ee_store(settings: Settings) -> Path | None:
    """The crypto store directory when end-to-end encryption is on for this config, else None."""
    return settings.matrix.e2ee_store(settings.storage.url)


def make_client(settings: Settings, *, max_limit_exceeded: int = MAX_LIMIT_EXCEEDED,
                max_timeouts: int = MAX_TIMEOUTS) -> AsyncClient:
    """A client for the configured device, with encryption on when :func:`e2ee_store` names a store.

    The store path is given to the client only in :func:`login`: nio opens the store as soon as it
    knows the device, and a store that cannot be opened must become a ConfigError, not a traceback.
    """
    matrix = settings.matrix
    if not matrix.homeserver or not matrix.user_id:
        raise ConfigError([f"{settings.source}: matrix: set matrix.homeserver and matrix.user_id to connect to Matrix"])
    problems = matrix.e2ee_problems(settings.source, settings.storage.url)
    if problems:
        raise ConfigError(problems)
    if matrix.e2ee == "auto" and matrix.store_path and not e2e_installed():
        log.warning("matrix: matrix.store_path is set, but end-to-end encryption is off: the e2e extra is missing",
                    install=E2E_INSTALL)
    config = AsyncClientConfig(
        max_limit_exceeded=max_limit_exceeded,
        max_timeouts=max_timeouts,
        request_timeout=REQUEST_TIMEOUT,
        encryption_enabled=e2ee_store(settings) is not None,
        store_sync_tokens=False,     # our database keeps the token, written after a batch is handled
    )
    return AsyncClient(matrix.homeserver.rstrip("/"), matrix.user_id, device_id=matrix.device_id, config=config)


async def login(client: AsyncClient, settings: Settings) -> None:
    """Access token (``restore_login`` on the configured device) or password login on that device.

    Raises ConfigError with one line per problem an operator can fix.
    """
    matrix = settings.matrix
    src = settings.source
    try:
        if matrix.access_token is not None:
            token = matrix.access_token.get_secret_value()
            client.user_id, client.access_token = matrix.user_id or "", token
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse):
                raise ConfigError([f"{src}: matrix: the homeserver rejected DUTYDESK_MATRIX__ACCESS_TOKEN "
                                   f"({getattr(who, 'status_code', '') or who}); create a new token for "
                                   f"{matrix.user_id}"])
            if who.user_id != matrix.user_id:
                raise ConfigError([f"{src}: matrix.user_id: the access token belongs to {who.user_id}, "
                                   f"not {matrix.user_id}"])
            device = matrix.device_id
            if who.device_id and who.device_id != matrix.device_id:
                log.warning("matrix: the access token is bound to another device than the configured one, using it",
                            device=who.device_id, configured=matrix.device_id)
                device = who.device_id
            # only now, with the token's real device: the crypto store belongs to exactly one device
            client.restore_login(matrix.user_id or "", device, token)
        else:
            assert matrix.password is not None
            answer = await client.login(password=matrix.password.get_secret_value(), device_name=DEVICE_NAME)
            if not isinstance(answer, LoginResponse):
                raise ConfigError([f"{src}: matrix: login as {matrix.user_id} failed "
                                   f"({getattr(answer, 'status_code', '') or ''} {getattr(answer, 'message', '')}); "
                                   "check DUTYDESK_MATRIX__PASSWORD and matrix.user_id"])
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise ConfigError([f"{src}: matrix.homeserver: cannot reach {matrix.homeserver} ({type(exc).__name__})"]) \
            from None
    store = e2ee_store(settings)
    if store is not None:
        open_store(client, store, src)


def open_store(client: AsyncClient, store: Path, src: str) -> None:
    """Opens (or creates) the device's crypto store in ``store``; ConfigError when that is impossible."""
    try:
        store.mkdir(mode=0o700, parents=True, exist_ok=True)   # private keys: nobody else may read them
        client.store_path = str(store)
        client.load_store()
    except Exception as exc:   # peewee, vodozemac (a store pickled with another key) and OS errors alike
        raise ConfigError([f"{src}: matrix.store_path: cannot open the encryption key store in {store} "
                           f"({type(exc).__name__}: {exc}); it must be a writable directory that belongs to "
                           f"this bot's device {client.device_id}"]) from None
    if client.olm is None:
        raise ConfigError([f"{src}: matrix.store_path: the encryption key store in {store} did not load"])
    log.info("matrix: end-to-end encryption on", device=client.device_id, store=str(store))


def reread_store(client: AsyncClient) -> None:
    """A new tenure of the device's lease: the key store is read again, since another replica may have
    used it meanwhile (new Olm sessions, room keys). Nothing without E2EE."""
    if client.olm is None:
        return
    client.store, client.olm = None, None
    client.load_store()


async def share_keys(client: AsyncClient) -> None:
    """With E2EE, around every sync: uploads the device's keys (and new one-time keys), fetches the
    device keys of people in encrypted rooms, claims one-time keys to repair broken Olm sessions, and
    sends the to-device messages nio queued (key shares, key requests). Without E2EE: nothing.

    Raises MatrixError when the homeserver refuses; the sync loop backs off and tries again.
    """
    if client.olm is None:
        return
    # each step may have been done meanwhile by room_send (it queries keys itself), hence the suppress
    if client.should_upload_keys:
        with contextlib.suppress(LocalProtocolError):
            check(await client.keys_upload(), KeysUploadResponse, "keys upload")
    if client.should_query_keys:
        with contextlib.suppress(LocalProtocolError):
            check(await client.keys_query(), KeysQueryResponse, "keys query")
    if client.should_claim_keys:
        with contextlib.suppress(LocalProtocolError):
            check(await client.keys_claim(client.get_users_for_key_claiming()), KeysClaimResponse, "keys claim")
    for answer in await client.send_to_device_messages():
        if isinstance(answer, ErrorResponse):
            log.warning("matrix: sending a to-device message failed", error=answer.status_code or answer.message)


async def raw(client: AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
              ) -> tuple[int, dict[str, Any]]:
    """A client-server API call nio has no helper for (``m.direct`` account data, say)."""
    headers = {"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"}
    response = await client.send(method, path, json.dumps(body) if body is not None else None, headers)
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        data = {}
    finally:
        response.release()
    return response.status, data if isinstance(data, dict) else {}


def q(part: str) -> str:
    return quote(part, safe="")


# --------------------------------------------------------------------------- failures → DeliveryError

PERMANENT = frozenset({"M_FORBIDDEN", "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_NOT_FOUND", "M_BAD_JSON",
                       "M_NOT_JSON", "M_TOO_LARGE", "M_INVALID_PARAM", "M_USER_DEACTIVATED",
                       "M_UNSUPPORTED_ROOM_VERSION", "M_ROOM_IN_USE", "M_INVALID_ROOM_STATE",
                       "M_GUEST_ACCESS_FORBIDDEN"})


def hint(errcode: str, *, where: str | None = None, user_id: str = "the bot") -> str:
    """What an operator does about a Matrix error code."""
    where = where or "the room"
    if errcode == "M_FORBIDDEN":
        return (f"Matrix: {user_id} may not do this in {where} (M_FORBIDDEN): invite it to the room, "
                "or raise its power level")
    if errcode in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
        return ("Matrix: the homeserver no longer accepts the bot's access token: set a new "
                "DUTYDESK_MATRIX__ACCESS_TOKEN (or DUTYDESK_MATRIX__PASSWORD) and restart")
    if errcode == "M_NOT_FOUND":
        return f"Matrix: {where} was not found: check the room alias or id in the config"
    if errcode == "M_LIMIT_EXCEEDED":
        return "Matrix: rate limited; retrying after retry_after_ms"
    return f"Matrix error {errcode or 'unknown'}"


def delivery_error(exc: BaseException, *, where: str | None = None, user_id: str = "the bot") -> DeliveryError:
    """Classifies one failure while delivering an outbox row."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, MatrixError):
        if exc.errcode == "M_LIMIT_EXCEEDED" or exc.retry_after_ms is not None:
            return DeliveryError(hint("M_LIMIT_EXCEEDED"), retry_after=max((exc.retry_after_ms or 5000) / 1000, 0.0))
        if exc.errcode in PERMANENT:
            return DeliveryError(hint(exc.errcode, where=where, user_id=user_id), permanent=True)
        return DeliveryError(f"Matrix: {exc.what} failed ({exc.errcode or exc.message}); retrying")
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return DeliveryError(f"cannot reach the homeserver ({type(exc).__name__}); retrying")
    return DeliveryError(type(exc).__name__)
