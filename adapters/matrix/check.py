"""``dutydesk check --online``, the Matrix part: the login works, the configured rooms exist and the bot is in each,
the duty and access rooms are private, no room is encrypted unless end-to-end encryption is on, the key store
directory is usable.

The check never logs in on the bot's device (that would end the running bot's session): an access token is only
asked ``whoami``; a password logs in on a device of its own, which the check logs out again at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinedRoomsResponse,
    LoginResponse,
    RoomGetStateEventResponse,
    RoomResolveAliasResponse,
    WhoamiResponse,
)

from adapters.common import configured_channels
from adapters.matrix.client import server_of
from bot.core.ports import Finding, failed, passed
from bot.settings import E2E_INSTALL, Settings

AREA = "matrix"
CHECK_DEVICE = "dutydesk check"
PRIVATE_RULES = frozenset({"invite", "private"})


def _answer(response: object) -> str:
    """``M_FORBIDDEN Invalid password`` from a nio error response."""
    code = getattr(response, "status_code", None) or ""
    message = getattr(response, "message", None) or type(response).__name__
    return f"{code} {message}".strip()


class MatrixProbe:
    area = AREA

    def applies(self, settings: Settings) -> bool:
        return settings.matrix_enabled

    async def run(self, settings: Settings) -> list[Finding]:
        matrix = settings.matrix
        if not matrix.homeserver or not matrix.user_id:
            return [failed(AREA, "config", "set matrix.homeserver and matrix.user_id")]
        client = AsyncClient(matrix.homeserver.rstrip("/"), matrix.user_id,
                             config=AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False,
                                                      max_limit_exceeded=1, max_timeouts=1, request_timeout=15))
        own_device = False
        try:
            try:
                login, own_device = await self._login(client, settings)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return [failed(AREA, "homeserver", f"cannot reach {matrix.homeserver} ({type(exc).__name__}); check "
                                                   "matrix.homeserver and the network")]
            if not login.ok:
                return [login]
            return [login, *await _rooms(client, settings), *_store(settings)]
        finally:
            if own_device:
                await client.logout()   # removes the check's device again
            await client.close()

    async def _login(self, client: AsyncClient, settings: Settings) -> tuple[Finding, bool]:
        matrix = settings.matrix
        if matrix.access_token is not None:
            client.access_token = matrix.access_token.get_secret_value()
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse):
                return failed(AREA, "login", f"the homeserver refused DUTYDESK_MATRIX__ACCESS_TOKEN ({_answer(who)}); "
                                             f"create a new token for {matrix.user_id}"), False
            if who.user_id != matrix.user_id:
                return failed(AREA, "login", f"the access token belongs to {who.user_id}, not matrix.user_id "
                                             f"{matrix.user_id}"), False
            if who.device_id and who.device_id != matrix.device_id:
                return failed(AREA, "login", f"the access token is bound to device {who.device_id}, but "
                                             f"matrix.device_id is {matrix.device_id}: set matrix.device_id = "
                                             f"\"{who.device_id}\" (the key store belongs to one device)"), False
            return passed(AREA, "login", f"access token accepted for {who.user_id}"
                                         f"{f' (device {who.device_id})' if who.device_id else ''}"), False
        assert matrix.password is not None   # applies() said so
        answer = await client.login(password=matrix.password.get_secret_value(), device_name=CHECK_DEVICE)
        if not isinstance(answer, LoginResponse):
            return failed(AREA, "login", f"login as {matrix.user_id} failed ({_answer(answer)}): check "
                                         "DUTYDESK_MATRIX__PASSWORD and matrix.user_id"), False
        return passed(AREA, "login", f"password accepted for {matrix.user_id}"), True


async def _rooms(client: AsyncClient, settings: Settings) -> list[Finding]:
    """Every room of the config: it exists, the bot is in it, and it is private where ticket titles or desk roles
    depend on who is in it."""
    joined_answer = await client.joined_rooms()
    if not isinstance(joined_answer, JoinedRoomsResponse):
        return [failed(AREA, "rooms", f"cannot list the bot's rooms ({_answer(joined_answer)})")]
    joined = set(joined_answer.rooms)
    duty = {channel for only, channel in settings.channels.duty_entries() if only in (None, "matrix")}
    access = {room for rooms in settings.access.groups("matrix").values() for room in rooms}
    names = sorted(name for name in configured_channels(settings.channels, "matrix") | access
                   if name.startswith(("#", "!")))
    server = server_of(settings.matrix.user_id or "")
    e2ee = settings.matrix.e2ee_store(settings.storage.url) is not None
    bot = settings.matrix.user_id
    findings = []
    for name in names:
        role = "duty room" if name in duty else ("access room" if name in access else "room")
        room = name
        if name.startswith("#"):
            alias = name if ":" in name else f"{name}:{server}"
            resolved = await client.room_resolve_alias(alias)
            if not isinstance(resolved, RoomResolveAliasResponse):
                findings.append(failed(AREA, name, f"no {role} with the alias {alias} ({_answer(resolved)}): create "
                                                   f"it and invite {bot}, or fix the name in the config"))
                continue
            room = resolved.room_id
        if room not in joined:
            findings.append(failed(AREA, name, f"the bot is not in this {role}: invite {bot} (it joins rooms it is "
                                               "invited to from its own server and matrix.allowed_servers)"))
            continue
        findings.append(await _room(client, name, room, role, private=name in duty or name in access, e2ee=e2ee))
    return findings


async def _room(client: AsyncClient, name: str, room: str, role: str, *, private: bool, e2ee: bool) -> Finding:
    encrypted = isinstance(await client.room_get_state_event(room, "m.room.encryption"), RoomGetStateEventResponse)
    if encrypted and not e2ee:
        return failed(AREA, name, f"the {role} is encrypted, but end-to-end encryption is off, so the bot cannot read "
                                  f"it: install the extra ({E2E_INSTALL}) and set matrix.store_path")
    rules = await client.room_get_state_event(room, "m.room.join_rules")
    rule = rules.content.get("join_rule") if isinstance(rules, RoomGetStateEventResponse) else None
    if private and rule not in PRIVATE_RULES:
        why = "it shows ticket titles" if role == "duty room" else "its members get desk roles"
        return failed(AREA, name, f"the {role} is not private (join rule {rule or 'unknown'}), but {why}: make it "
                                  "invite-only (join rule \"invite\")")
    private_text = "invite-only " if rule in PRIVATE_RULES else ""
    return passed(AREA, name, f"{private_text}{role}{', encrypted' if encrypted else ''}, the bot is in it")


def _store(settings: Settings) -> list[Finding]:
    store = settings.matrix.e2ee_store(settings.storage.url)
    if store is None:
        return []
    existing = next((p for p in (store, *store.parents) if p.exists()), Path("/"))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return [failed(AREA, "key store", f"{store}: {existing} is not a writable directory for the bot's user; the "
                                          "end-to-end encryption keys go there")]
    state = "exists" if store.exists() else "will be created"
    return [passed(AREA, "key store", f"{store} {state} (end-to-end encryption is on)")]
