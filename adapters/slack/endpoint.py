"""The Slack HTTP endpoint of HTTP mode: ``POST [slack] path``, and nothing else on that port.

A request's signature and timestamp are checked on its raw bytes before anything reads the body: an
unsigned or stale request gets 401 whatever it contains (bolt parsed the body first, so ``{not json`` from
anybody was a 500 with an ERROR traceback). A signed body is parsed here, not by bolt: one that is not
Slack's shape (not UTF-8, not JSON, not an object, an interactivity ``payload`` that is no JSON object) gets
400. Bolt's own parser also took any form body containing the word "payload" for an interactivity request
and lost a slash command such as ``/ticket the payload is empty``; the body parsed here is the one bolt
dispatches.

``/healthz`` and ``/metrics`` are not served here: they tell ticket counts, queue depth and the database
and run a query per call, so they belong to the ``[ops]`` listener (loopback by default).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

log = structlog.stdlib.get_logger(__name__)

# top-level fields that are objects wherever Slack sends them (events, interactivity)
OBJECT_FIELDS = ("event", "user", "team", "channel", "view", "container", "message", "enterprise")


class Malformed(ValueError):
    """A signed body that is not one of Slack's requests."""


def signed(verifier: SignatureVerifier | None, body: bytes, headers: Any) -> bool:
    """Whether ``body`` carries a valid, fresh (five minutes) Slack signature."""
    if verifier is None:
        return False
    try:
        return verifier.is_valid(body=body, timestamp=headers.get("X-Slack-Request-Timestamp"),
                                 signature=headers.get("X-Slack-Signature"))
    except (ValueError, TypeError, OverflowError):  # a timestamp that is no integer
        return False


def parse(raw: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """The body as text and as Slack's request: JSON (events) or a form (slash commands; interactivity as
    the JSON object in its ``payload`` field). Raises Malformed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("not UTF-8") from None
    data: Any
    try:
        if content_type == "application/json":
            data = json.loads(text)
        elif content_type == "application/x-www-form-urlencoded":
            form = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
            data = json.loads(form["payload"]) if "payload" in form else form
        else:
            raise Malformed(f"content type {content_type or 'none'}")
    except (json.JSONDecodeError, RecursionError):
        raise Malformed("not JSON") from None
    if not isinstance(data, dict) or not data:
        raise Malformed("not an object")
    for field in OBJECT_FIELDS:
        if field in data and not isinstance(data[field], dict | str | None):
            raise Malformed(f"{field} is no object")
    return text, data


def bolt_request(text: str, body: dict[str, Any], request: web.Request) -> AsyncBoltRequest:
    """Bolt's request with ``body`` as parsed here (bolt parses the text again, and differently)."""
    made = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
    made.body = body
    made.context = build_async_context(AsyncBoltContext({}), body)
    return made


def web_app(path: str, signing_secret: str | None,
            dispatch: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]) -> web.Application:
    """The aiohttp app of the endpoint: ``POST path`` into ``dispatch`` (the bolt app's)."""
    verifier = SignatureVerifier(signing_secret) if signing_secret and signing_secret.strip() else None

    async def slack(request: web.Request) -> web.Response:
        raw = await request.read()
        if not signed(verifier, raw, request.headers):
            return web.Response(status=401, text="invalid request")
        try:
            text, body = parse(raw, request.content_type)
        except Malformed as exc:
            log.info("slack: a signed request with a malformed body", error=str(exc))
            return web.Response(status=400, text="malformed body")
        return await to_aiohttp_response(await dispatch(bolt_request(text, body, request)))

    app = web.Application()
    app.router.add_post(path, slack)
    return app
