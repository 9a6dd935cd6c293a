"""End-to-end encryption on a real Synapse: a person whose matrix-nio client encrypts (its own key
store in tmp_path) talks to the bot in encrypted rooms; the homeserver only ever sees ciphertext.

The config side (``[matrix] e2ee``, ``store_path``) is checked without a homeserver.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from matrix_harness import MatrixHarness, Person, suffix
from nio import AsyncClient, AsyncClientConfig, DevicesResponse, RoomSendResponse
from sqlalchemy import select
from synapse_server import Synapse

from adapters.matrix import client as matrix_client
from adapters.matrix.client import login, make_client, open_store, share_keys
from bot.infra import platforms as platforms_module
from bot.infra.outbox import DeliveryError
from bot.settings import ConfigError, Settings, settings_from_data
from storage.models import ProcessedEvent, Ticket

BOT_STORE = "bot-store"


class EncryptingPerson(Person):
    """A person whose client does what Element does: uploads keys, encrypts for every device in the room."""

    def __init__(self, synapse: Synapse, user_id: str, store: Path) -> None:
        super().__init__(synapse, user_id)
        store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(synapse.url, user_id, store_path=str(store),
                                  config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))

    async def sync(self, timeout: int = 0) -> Any:
        await share_keys(self.client)
        answer = await super().sync(timeout)
        await share_keys(self.client)   # keys of new members, the room keys the bot sent us
        return answer

    async def send(self, room: str, body: str, *, thread: str | None = None, reply_to: str | None = None) -> str:
        await self.sync()
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread:  # the relation stays outside the ciphertext, as the spec has it
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": thread}}
        answer = await self.client.room_send(room, "m.room.message", content, ignore_unverified_devices=True)
        assert isinstance(answer, RoomSendResponse), answer
        return str(answer.event_id)

    async def from_bot(self, room: str, bot: str) -> list[dict[str, Any]]:
        """The bot's messages, decrypted by this person's client (after a sync brought the room keys)."""
        await self.sync()
        return await super().from_bot(room, bot)

    async def on_server(self, room: str, event_id: str) -> str:
        """The type the homeserver stores for an event (``m.room.encrypted`` when it only has ciphertext)."""
        return str((await self.event(room, event_id))["type"])


class EncryptedHarness(MatrixHarness):
    """The harness with the bot's E2EE on: ``[matrix] e2ee = "on"``, its key store in ``store``."""

    def __init__(self, synapse: Synapse, db_url: str, sfx: str, store: Path) -> None:
        super().__init__(synapse, db_url, sfx)
        self.store = store

    async def start_bot(self, **client_options: Any) -> Any:
        matrix = self.settings.matrix
        self.settings = self.settings.model_copy(update={"matrix": matrix.model_copy(
            update={"e2ee": "on", "store_path": str(self.store)})})
        return await super().start_bot(**client_options)


@pytest.fixture
async def encrypted(synapse: Synapse, tmp_path: Path) -> AsyncIterator[tuple[EncryptedHarness, EncryptingPerson]]:
    harness = EncryptedHarness(synapse, f"sqlite+aiosqlite:///{tmp_path / 'dutydesk.db'}", suffix(),
                               tmp_path / BOT_STORE)
    await harness.setup()
    ben = await EncryptingPerson(synapse, harness.names["ben"], tmp_path / "ben-store").login()
    await harness.people["ben"].close()
    harness.people["ben"] = ben
    try:
        yield harness, ben
    finally:
        await harness.close()


async def rows(matrix: MatrixHarness, model: type, *where: Any) -> list[Any]:
    async with matrix.bot.desk.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def bot_devices(matrix: MatrixHarness) -> list[str]:
    answer = await matrix.adapter.client.devices()
    assert isinstance(answer, DevicesResponse), answer
    return sorted(device.id for device in answer.devices)


async def test_an_encrypted_ticket_gets_an_encrypted_receipt_and_a_restart_keeps_the_device(
        encrypted: tuple[EncryptedHarness, EncryptingPerson]) -> None:
    matrix, ben = encrypted
    assert matrix.runtime.ingress.e2ee and matrix.adapter.client.olm is not None
    dm = await ben.create_room(direct=True, invite=[matrix.bot_id], encrypted=True)
    await matrix.bot_in(dm)

    asked = await ben.send(dm, "!ticket printer on fire")
    assert await ben.on_server(dm, asked) == "m.room.encrypted"
    await matrix.settle(asked)

    [ticket] = await rows(matrix, Ticket)
    assert (ticket.key, ticket.title) == ("HW-1", "printer on fire")
    [row] = await rows(matrix, ProcessedEvent, ProcessedEvent.key == f"matrix:{asked}")
    assert (row.payload["kind"], row.status) == ("command", "done")
    # the receipt: encrypted for ben's device, readable by ben's client only
    [receipt] = await ben.from_bot(dm, matrix.bot_id)
    assert receipt["content"]["msgtype"] == "m.notice" and "HW-1" in receipt["content"]["body"]
    assert await ben.on_server(dm, receipt["event_id"]) == "m.room.encrypted"

    # a restart: same device, same keys (the store), so what ben encrypts afterwards is readable
    device, devices = matrix.adapter.client.device_id, await bot_devices(matrix)
    assert device in devices
    await matrix.stop_bot()
    await matrix.start_bot()
    assert matrix.adapter.client.device_id == device and await bot_devices(matrix) == devices   # no new device
    again = await ben.send(dm, "!ticket the scanner jams as well")
    await matrix.settle(again)

    assert sorted(t.title for t in await rows(matrix, Ticket)) == ["printer on fire", "the scanner jams as well"]
    receipts = await ben.from_bot(dm, matrix.bot_id)
    assert [("HW-1" in r["content"]["body"], "HW-2" in r["content"]["body"]) for r in receipts] == [
        (True, False), (False, True)]
    assert await ben.on_server(dm, receipts[1]["event_id"]) == "m.room.encrypted"


async def test_a_message_without_its_room_key_is_logged_and_answered_once(
        encrypted: tuple[EncryptedHarness, EncryptingPerson], caplog: pytest.LogCaptureFixture) -> None:
    matrix, ben = encrypted
    room = await ben.create_room(invite=[matrix.bot_id], encrypted=True)
    await matrix.bot_in(room)
    await ben.sync()
    # ben's app refuses to share room keys with the bot's (unverified) device, as Element can be told to
    [bot_device] = ben.client.device_store.active_user_devices(matrix.bot_id)
    ben.client.blacklist_device(bot_device)
    first = await ben.send(room, "!ticket the VPN drops every hour")
    second = await ben.send(room, "!ticket and the wifi too")

    async def answered() -> bool:
        return bool(await ben.from_bot(room, matrix.bot_id))

    with caplog.at_level(logging.WARNING, logger="adapters.matrix.sync"):
        await matrix.settle(until=answered)
        await matrix.runtime.ingress.sync_once(timeout_ms=200)
        await matrix.bot.outbox.drain()

    [notice] = await ben.from_bot(room, matrix.bot_id)
    assert "cannot decrypt" in notice["content"]["body"] and matrix.adapter.client.device_id in \
        notice["content"]["body"]
    logged = [r.getMessage() for r in caplog.records if "cannot decrypt" in r.getMessage()]
    assert [first in line for line in logged] == [True, False] and second in logged[1]
    assert not any(r.exc_info for r in caplog.records)
    assert await rows(matrix, Ticket) == []


async def test_from_an_encrypted_room_into_the_bots_own_unencrypted_rooms(
        encrypted: tuple[EncryptedHarness, EncryptingPerson]) -> None:
    """``!ticket`` in an encrypted room's thread: the bot fetches and decrypts the thread (single events
    and relations are not synced, nio does not decrypt them itself); its receipt goes to the direct room
    and the ticket to the private room it creates, both unencrypted (agents invited later read the
    whole history of a ticket room; Megolm would hide what was said before they joined)."""
    matrix, ben = encrypted
    room = await ben.create_room(invite=[matrix.bot_id], encrypted=True)
    await matrix.bot_in(room)
    root = await ben.send(room, "the shop is down, error 500 on checkout")
    asked = await ben.send(room, "!ticket checkout is broken", thread=root)
    assert await ben.on_server(room, asked) == "m.room.encrypted"
    await matrix.settle(asked)

    [row] = await rows(matrix, ProcessedEvent, ProcessedEvent.key == f"matrix:{asked}")
    # the root came from /event, the command from /relations: both decrypted
    assert [m["text"] for m in row.payload["thread"]] == ["the shop is down, error 500 on checkout",
                                                           "!ticket checkout is broken"]
    [ticket] = await rows(matrix, Ticket)
    assert ticket.title == "checkout is broken"
    invited = await ben.accept_invites()
    dm = await matrix.adapter.rooms.dm_room(ben.user_id)
    [space] = [r for r in invited if r != dm]
    [receipt] = await ben.from_bot(dm, matrix.bot_id)
    [opened] = await ben.from_bot(space, matrix.bot_id)
    assert "HW-1" in receipt["content"]["body"] and "checkout is broken" in opened["content"]["body"]
    assert [await ben.on_server(dm, receipt["event_id"]), await ben.on_server(space, opened["event_id"])] == [
        "m.room.message", "m.room.message"]
    assert await ben.from_bot(room, matrix.bot_id) == []   # nothing said in the encrypted room itself

    # a replica that does not hold the device's lease (its keys are not the device's) never encrypts:
    # the message waits for the one that does; unencrypted rooms it serves as usual
    matrix.adapter.owns_device = False
    with pytest.raises(DeliveryError) as caught:
        await matrix.adapter.room_send(room, {"msgtype": "m.notice", "body": "hello"}, "replica.1")
    assert caught.value.retry_after and not caught.value.permanent
    await matrix.adapter.room_send(dm, {"msgtype": "m.notice", "body": "hello"}, "replica.2")
    assert [r["content"]["body"] for r in await ben.from_bot(dm, matrix.bot_id)][-1] == "hello"
    assert await ben.from_bot(room, matrix.bot_id) == []


async def test_an_access_token_opens_the_key_store_of_its_own_device(synapse: Synapse, tmp_path: Path) -> None:
    """``restore_login`` with a token bound to another device than ``device_id``: the store (and the
    keys on the server) are those of the token's device, and stay the same on the next start."""
    user = synapse.register(f"tok{suffix()}", "secret-password")
    token = synapse.tokens[user]
    data = {"matrix": {"homeserver": synapse.url, "user_id": user, "device_id": "DUTYDESK", "e2ee": "on",
                       "store_path": str(tmp_path / "store")}}
    settings = settings_from_data(data, "desk.toml", env={"DUTYDESK_MATRIX__ACCESS_TOKEN": token})
    identities = []
    for _start in range(2):
        client = make_client(settings)
        try:
            await login(client, settings)
            assert client.device_id != "DUTYDESK" and client.olm is not None
            assert client.olm.device_id == client.device_id
            await share_keys(client)
            assert not client.should_upload_keys
            identities.append(client.olm.account.identity_keys["ed25519"])
        finally:
            await client.close()
    assert identities[0] == identities[1]
    assert [p.name for p in (tmp_path / "store").iterdir()] == [f"{user}_{client.device_id}.db"]


# ---------------------------------------------------------------------- the config, without a homeserver


def config(env: dict[str, str] | None = None, **matrix: Any) -> Settings:
    data = {"matrix": {"homeserver": "http://127.0.0.1:9", "user_id": "@bot:localhost", **matrix}}
    return settings_from_data(data, "desk.toml", env=env or {})


def test_e2ee_switch_reads_like_a_switch_and_defaults_to_auto(tmp_path: Path) -> None:
    assert config().matrix.e2ee == "auto"
    assert config(e2ee=True).matrix.e2ee == "on" and config(e2ee=False).matrix.e2ee == "off"
    assert config({"DUTYDESK_MATRIX__E2EE": "false"}).matrix.e2ee == "off"
    # auto: on only with a store; on: beside a SQLite database unless a store is named
    auto = config()
    assert auto.matrix.e2ee_store(auto.storage.url) is None
    store = tmp_path / "keys"
    assert config(store_path=str(store)).matrix.e2ee_store("sqlite+aiosqlite:///x.db") == store
    on = config(e2ee="on")
    assert on.matrix.e2ee_store("sqlite+aiosqlite:////data/desk.db") == Path("/data/desk-matrix-store")
    assert config(e2ee="off", store_path=str(store)).matrix.e2ee_store("sqlite+aiosqlite:///x.db") is None


def test_e2ee_on_without_a_place_for_the_keys_is_one_clear_line() -> None:
    data = {"storage": {"url": "postgresql+psycopg://u@h/db"}, "matrix": {"e2ee": "on"}}
    with pytest.raises(ConfigError) as caught:
        settings_from_data(data, "desk.toml", env={})
    assert caught.value.problems == [
        "desk.toml: matrix.store_path: e2ee = \"on\" needs a directory for the encryption keys; set "
        "matrix.store_path (it defaults to one beside the database only with a SQLite file)"]
    with pytest.raises(ConfigError) as caught:
        config(e2ee="maybe")
    assert caught.value.problems == ["desk.toml: matrix.e2ee: Input should be 'auto', 'on' or 'off'"]


def test_e2ee_on_without_the_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the extra is installed here (the test extra pulls it in): only its absence is simulated
    monkeypatch.setattr(platforms_module, "e2e_installed", lambda: False)
    monkeypatch.setattr(matrix_client, "e2e_installed", lambda: False)
    with pytest.raises(ConfigError) as caught:
        config(e2ee="on", store_path=str(tmp_path))
    assert caught.value.problems == [
        "desk.toml: matrix.e2ee: end-to-end encryption needs matrix-nio's e2e extra; install it with "
        "pip install 'dutydesk[e2e]' (or set e2ee = \"off\")"]
    # auto falls back to off: the bot still starts, and tells encrypted rooms it cannot read them
    client = make_client(config(store_path=str(tmp_path)))
    assert client.config.encryption_enabled is False


async def test_a_key_store_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    settings = config(e2ee="on", store_path=str(tmp_path / "store"))
    client = make_client(settings, max_timeouts=1)
    assert client.config.encryption_enabled
    client.user_id = "@bot:localhost"   # what the login sets before the store is opened
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    try:
        with pytest.raises(ConfigError) as caught:
            open_store(client, blocked, "desk.toml")
        [line] = caught.value.problems
        assert line.startswith(f"desk.toml: matrix.store_path: cannot open the encryption key store in {blocked} ")
        open_store(client, tmp_path / "store", "desk.toml")
        assert client.olm is not None and (tmp_path / "store").stat().st_mode & 0o077 == 0
    finally:
        await client.close()
