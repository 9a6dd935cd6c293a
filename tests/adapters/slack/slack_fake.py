"""A fake Slack for tests and benchmarks, all on loopback: the Web API (``POST /api/<method>``), the
``response_url`` endpoint and a Socket Mode websocket, plus request signing (v0) for the bot's
HTTP endpoint. It records every call and can answer with errors, 429 + Retry-After, or slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import WSMsgType, web

# the scopes of slack/manifest.yml, which an app installed from it is granted
_MANIFEST = yaml.safe_load((Path(__file__).resolve().parents[3] / "slack" / "manifest.yml").read_text(encoding="utf-8"))
MANIFEST_SCOPES = {kind: frozenset(scopes) for kind, scopes in _MANIFEST["oauth_config"]["scopes"].items()}
BOT_USER = "U0BOT"
BOT_NAME = "dutydesk"
TEAM = "T0TEAM"
JSON_FIELDS = ("blocks", "view", "attachments")


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    ok: bool = True


@dataclass
class Failure:
    error: str
    status: int = 200
    retry_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # only calls whose params contain these values fail
    when: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self.channels: list[dict[str, Any]] = [
            {"id": "C0DUTY", "name": "support-duty", "is_private": True, "is_member": True},
            {"id": "C0GEN", "name": "general", "is_private": False, "is_member": True},
            {"id": "C0RANDOM", "name": "random", "is_private": False, "is_member": True},
        ]
        # token → the scopes Slack reports for it (X-OAuth-Scopes); None: no header. Default: the manifest's
        # bot scopes for bot tokens, its user scopes for user tokens (xoxp-…)
        self.scopes: dict[str, set[str] | frozenset[str] | None] = {}
        # channels conversations.list leaves out (Slack lists only the private channels the bot is in)
        self.hidden: list[dict[str, Any]] = []
        self.users: dict[str, str] = {}
        # file id → its object (files.info)
        self.files: dict[str, dict[str, Any]] = {}
        # files_upload_v2: file id → what files.getUploadURLExternal was told (filename, length, alt_txt); file id
        # → the bytes POSTed to its upload URL; every files.completeUploadExternal that shared files, with them
        self.upload_slots: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.shared: list[dict[str, Any]] = []
        # user group id → its members (usergroups.users.list)
        self.usergroups: dict[str, list[str]] = {}
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.sticky: dict[str, Failure] = {}
        self.delays: dict[str, float] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.url = ""
        # Socket Mode
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self._ack_event = asyncio.Event()
        self._connected = asyncio.Event()

    # ----------------------------------------------------------------- control

    def fail(self, method: str, error: str, *, status: int = 200, retry_after: int | None = None, times: int = 1,
             when: dict[str, Any] | None = None, **extra: Any) -> None:
        """The next ``times`` calls of ``method`` fail (``times=0``: every call, until ``heal``)."""
        failure = Failure(error, status, retry_after, extra, when or {})
        if times == 0:
            self.sticky[method] = failure
        else:
            self.failures[method].extend([failure] * times)

    def heal(self, method: str) -> None:
        self.sticky.pop(method, None)
        self.failures.pop(method, None)

    def slow(self, method: str, seconds: float) -> None:
        self.delays[method] = seconds

    def to(self, method: str, *, ok: bool | None = True) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    # ----------------------------------------------------------------- server

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_post("/upload/{file}", self._upload)
        app.router.add_get("/link", self._socket)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self) -> str:
        return f"{self.url}/respond/{next(self._ids)}"

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.text()
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(dict(urllib.parse.parse_qsl(raw, keep_blank_values=True)))
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    def _failure(self, method: str, params: dict[str, Any]) -> Failure | None:
        queue = self.failures.get(method)
        if queue:
            for i, failure in enumerate(queue):
                if all(params.get(k) == v for k, v in failure.when.items()):
                    del queue[i]
                    return failure
        sticky = self.sticky.get(method)
        if sticky is not None and all(params.get(k) == v for k, v in sticky.when.items()):
            return sticky
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        failure = self._failure(method, params)
        call = Call(method, params, token, ok=failure is None)
        self.calls.append(call)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return web.json_response({"ok": False, "error": failure.error, **failure.extra}, status=failure.status,
                                     headers=headers)
        answer = {"ok": True, **self._answer(method, params, token or "")}
        if not answer["ok"]:
            call.ok = False
        scopes = self.scopes.get(token or "", MANIFEST_SCOPES["user" if (token or "").startswith("xoxp-") else "bot"])
        headers = {"X-OAuth-Scopes": ",".join(sorted(scopes))} if scopes is not None else {}
        return web.json_response(answer, headers=headers)

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        return next((c for c in self.channels + self.hidden if c["id"] == channel_id), None)

    def _archived(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Slack refuses to post to, invite into or give a topic to an archived channel."""
        channel = self.channel(str(params.get("channel") or ""))
        if channel is not None and channel.get("is_archived") and method in (
                "chat.postMessage", "chat.update", "conversations.invite", "conversations.setTopic",
                "conversations.rename", "conversations.archive"):
            return {"ok": False, "error": "already_archived" if method == "conversations.archive" else "is_archived"}
        return None

    def _answer(self, method: str, params: dict[str, Any], token: str = "") -> dict[str, Any]:
        refused = self._archived(method, params)
        if refused is not None:
            return refused
        if method == "conversations.archive":
            channel = self.channel(str(params.get("channel") or ""))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            channel["is_archived"] = True
            return {}
        if method == "conversations.unarchive":
            channel = self.channel(str(params.get("channel") or ""))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            if not channel.get("is_archived"):
                return {"ok": False, "error": "not_archived"}
            if token.startswith("xoxb-"):
                # https://api.slack.com/methods/conversations.unarchive, "Bug alert": bot tokens cannot unarchive
                # conversations; Slack answers not_in_channel
                return {"ok": False, "error": "not_in_channel"}
            channel["is_archived"] = False
            return {}
        if method == "conversations.setTopic":
            channel = self.channel(str(params.get("channel") or ""))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            topic = str(params.get("topic") or "")
            if len(topic) > 250:
                return {"ok": False, "error": "too_long"}
            channel["topic"] = {"value": topic}
            return {"channel": channel}
        if method in ("conversations.create", "conversations.rename"):
            name = str(params.get("name") or "")
            if not name or len(name) > 80:
                return {"ok": False, "error": "invalid_name_maxlength" if name else "invalid_name_required"}
            if not all(c in "abcdefghijklmnopqrstuvwxyz0123456789-_" for c in name):
                return {"ok": False, "error": "invalid_name_specials"}
            if any(c.get("name") == name for c in self.channels + self.hidden):
                return {"ok": False, "error": "name_taken"}
            if method == "conversations.rename":
                channel = self.channel(str(params.get("channel") or ""))
                if channel is None:
                    return {"ok": False, "error": "channel_not_found"}
                channel["name"] = name
                return {"channel": channel}
        if method == "auth.test":
            return {"user_id": BOT_USER, "user": BOT_NAME, "team_id": TEAM, "bot_id": "B0BOT", "team": "Test"}
        if method == "chat.postMessage":
            return {"channel": params.get("channel"), "ts": f"1700000000.{next(self._ts):06d}",
                    "message": {"text": params.get("text")}}
        if method == "chat.postEphemeral":
            return {"message_ts": f"1700000000.{next(self._ts):06d}"}
        if method == "conversations.open":
            return {"channel": {"id": "D" + str(params.get("users", "X")).removeprefix("U")}}
        if method == "conversations.create":
            channel = {"id": f"C0T{next(self._ids):04d}", "name": params.get("name"), "is_private": True,
                       "is_member": True}
            self.channels.append(channel)
            return {"channel": channel}
        if method == "conversations.list":
            return {"channels": self.channels, "response_metadata": {"next_cursor": ""}}
        if method == "conversations.info":
            found = next((c for c in self.channels + self.hidden if c["id"] == params.get("channel")), None)
            return {"channel": found} if found is not None else {"ok": False, "error": "channel_not_found"}
        if method == "conversations.replies":
            key = (str(params.get("channel")), str(params.get("ts")))
            messages = self.threads.get(key) or [{"type": "message", "user": "U0REQ", "text": "?", "ts": key[1]}]
            return {"messages": messages, "has_more": False}
        if method == "users.info":
            user = str(params.get("user"))
            name = self.users.get(user, user.lower())
            return {"user": {"id": user, "name": name, "real_name": name.title(), "profile": {"display_name": name}}}
        if method in ("views.open", "views.publish", "views.update"):
            return {"view": {"id": f"V{next(self._ids):04d}", **(params.get("view") or {})}}
        if method == "files.info":
            found = self.files.get(str(params.get("file") or ""))
            return {"file": found} if found is not None else {"ok": False, "error": "file_not_found"}
        if method == "files.getUploadURLExternal":
            try:
                length = int(params.get("length") or 0)
            except ValueError:
                length = 0
            if not params.get("filename") or length <= 0:
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F0UP{next(self._ids):04d}"
            self.upload_slots[file_id] = {"filename": params["filename"], "length": length,
                                          "alt_txt": params.get("alt_txt")}
            return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            try:
                files = json.loads(str(params.get("files") or "[]"))
            except ValueError:
                return {"ok": False, "error": "invalid_arguments"}
            # like Slack: only files whose bytes arrived (in full) can be completed
            if not files or any(self.uploads.get(f.get("id")) is None or
                                len(self.uploads[f["id"]]) != self.upload_slots[f["id"]]["length"] for f in files):
                return {"ok": False, "error": "file_upload_not_found"}
            share = {"channel_id": params.get("channel_id"), "initial_comment": params.get("initial_comment"),
                     "thread_ts": params.get("thread_ts"),
                     "files": [{"id": f["id"], "title": f.get("title"), "name": self.upload_slots[f["id"]]["filename"],
                                "alt_txt": self.upload_slots[f["id"]]["alt_txt"], "data": self.uploads[f["id"]]}
                               for f in files]}
            self.shared.append(share)
            return {"files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "usergroups.users.list":
            group = str(params.get("usergroup") or "")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"users": list(self.usergroups[group])}
        if method == "apps.connections.open":
            return {"url": self.url.replace("http://", "ws://") + "/link"}
        return {}

    async def _upload(self, request: web.Request) -> web.Response:
        """Step 2 of files_upload_v2: the bytes of a file to the URL files.getUploadURLExternal gave for it."""
        file_id = request.match_info["file"]
        if file_id not in self.upload_slots:
            return web.Response(status=404, text="no such upload")
        failure = self._failure("upload", {"file": file_id})
        self.calls.append(Call("upload", {"file": file_id}, None, ok=failure is None))
        if failure is not None:
            return web.Response(status=failure.status, text=failure.error)
        self.uploads[file_id] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["id"], await request.json()))
        return web.Response(text="ok")

    # ----------------------------------------------------------------- Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": "A0APP"}})
        self._connected.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if "envelope_id" in data:
                        self.socket_acks[data["envelope_id"]] = data
                        self._ack_event.set()
        finally:
            self.sockets.remove(ws)
        return ws

    async def connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def socket_send(self, envelope_type: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                          envelope_id: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Sends one envelope over the open socket and waits for the app's acknowledgement."""
        envelope_id = envelope_id or f"env-{next(self._ids)}"
        envelope = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                    "accepts_response_payload": envelope_type != "events_api", "retry_attempt": retry_attempt,
                    "retry_reason": "timeout" if retry_attempt else ""}
        await self.sockets[-1].send_json(envelope)

        async def acknowledged() -> dict[str, Any]:
            while envelope_id not in self.socket_acks:
                self._ack_event.clear()
                await self._ack_event.wait()
            return self.socket_acks[envelope_id]

        return await asyncio.wait_for(acknowledged(), timeout)
