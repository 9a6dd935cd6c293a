"""The matrix-nio client: configuration, login (password or access token, one stable device),
and the one place where nio's ``XResponse | XError`` results become exceptions.

Rate limits: nio retries a 429 itself, sleeping ``retry_after_ms``, at most ``max_limit_exceeded``
times; connection errors and timeouts at most ``max_timeouts`` times (nio's defaults retry
forever). What is left after that becomes a ``DeliveryError`` with ``retry_after`` for the outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import AsyncClient, AsyncClientConfig, ErrorResponse, LoginResponse, WhoamiResponse

from bot.outbox import DeliveryError
from bot.settings import ConfigError, Settings

log = logging.getLogger(__name__)

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


def make_client(settings: Settings, *, store_path: str = "", encryption: bool = False,
                max_limit_exceeded: int = MAX_LIMIT_EXCEEDED, max_timeouts: int = MAX_TIMEOUTS) -> AsyncClient:
    matrix = settings.matrix
    if not matrix.homeserver or not matrix.user_id:
        raise ConfigError([f"{settings.source}: matrix: set matrix.homeserver and matrix.user_id to connect to Matrix"])
    config = AsyncClientConfig(
        max_limit_exceeded=max_limit_exceeded,
        max_timeouts=max_timeouts,
        request_timeout=REQUEST_TIMEOUT,
        encryption_enabled=encryption,
        store_sync_tokens=False,     # our database keeps the token, written after a batch is handled
    )
    return AsyncClient(matrix.homeserver.rstrip("/"), matrix.user_id, device_id=matrix.device_id,
                       store_path=store_path, config=config)


async def login(client: AsyncClient, settings: Settings) -> None:
    """Access token (``restore_login`` on the configured device) or password login on that device.

    Raises ConfigError with one line per problem an operator can fix.
    """
    matrix = settings.matrix
    src = settings.source
    try:
        if matrix.access_token is not None:
            client.restore_login(matrix.user_id or "", matrix.device_id, matrix.access_token.get_secret_value())
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse):
                raise ConfigError([f"{src}: matrix: the homeserver rejected DUTYDESK_MATRIX__ACCESS_TOKEN "
                                   f"({getattr(who, 'status_code', '') or who}); create a new token for "
                                   f"{matrix.user_id}"])
            if who.user_id != matrix.user_id:
                raise ConfigError([f"{src}: matrix.user_id: the access token belongs to {who.user_id}, "
                                   f"not {matrix.user_id}"])
            if who.device_id and who.device_id != matrix.device_id:
                log.warning("matrix: the access token is bound to device %s, not the configured %s; using %s",
                            who.device_id, matrix.device_id, who.device_id)
                client.device_id = who.device_id
            return
        assert matrix.password is not None
        answer = await client.login(password=matrix.password.get_secret_value(), device_name=DEVICE_NAME)
        if not isinstance(answer, LoginResponse):
            raise ConfigError([f"{src}: matrix: login as {matrix.user_id} failed "
                               f"({getattr(answer, 'status_code', '') or ''} {getattr(answer, 'message', '')}); "
                               "check DUTYDESK_MATRIX__PASSWORD and matrix.user_id"])
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise ConfigError([f"{src}: matrix.homeserver: cannot reach {matrix.homeserver} ({type(exc).__name__})"]) \
            from None


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
