"""`dutydesk check --online`, the Matrix part, against the real Synapse (issue #21): the login, the configured
rooms (there, joined, private where they must be, readable), and a check that leaves the running bot alone."""

from __future__ import annotations

from typing import Any

from nio import DevicesResponse, WhoamiResponse

from adapters.matrix.check import CHECK_DEVICE, MatrixProbe
from bot.infra.checks import Finding
from bot.settings import settings_from_data


def with_config(harness: Any, env: dict[str, str] | None = None, **sections: Any) -> Any:
    data = harness.settings.model_dump(mode="json", exclude={"source"})
    for section in ("slack",):
        data.pop(section, None)
    for key in ("password", "access_token"):
        data["matrix"].pop(key, None)
    data.update(sections)
    return settings_from_data(data, "(matrix check desk)",
                              env=env if env is not None else {"DUTYDESK_MATRIX__PASSWORD": "secret-password"})


def bot_matrix(harness: Any) -> dict[str, Any]:
    """The harness's [matrix] section, without the secrets (they come from the environment)."""
    section = harness.settings.model_dump(mode="json")["matrix"]
    return {key: value for key, value in section.items() if key not in ("password", "access_token")}


async def check(settings: Any) -> dict[str, Finding]:
    findings = await MatrixProbe().run(settings)
    return {f.subject: f for f in findings}


async def test_a_desk_ready_to_start_passes_and_the_bot_keeps_its_session(matrix) -> None:
    await matrix.room_with_bot("anna", name="general", public=True)
    devices_before = await matrix.adapter.client.devices()
    assert isinstance(devices_before, DevicesResponse)
    found = await check(with_config(matrix))
    duty, general = f"#duty-{matrix.sfx}", f"#general-{matrix.sfx}"
    assert {s: f.ok for s, f in found.items()} == {"login": True, duty: True, general: True}
    assert found[duty].text == "invite-only duty room, the bot is in it"
    assert found[general].text == "room, the bot is in it"
    # the check logged in on a device of its own and logged it out again; the bot's session still works
    who = await matrix.adapter.client.whoami()
    assert isinstance(who, WhoamiResponse) and who.device_id == "DUTYDESK"
    devices_after = await matrix.adapter.client.devices()
    assert isinstance(devices_after, DevicesResponse)
    assert {d.id for d in devices_after.devices} == {d.id for d in devices_before.devices}
    assert CHECK_DEVICE not in {d.display_name for d in devices_after.devices}


async def test_an_access_token_is_only_asked_whoami(matrix) -> None:
    token = matrix.adapter.client.access_token
    found = await check(with_config(matrix, env={"DUTYDESK_MATRIX__ACCESS_TOKEN": token}))
    assert found["login"].ok and found["login"].text == f"access token accepted for {matrix.bot_id} (device DUTYDESK)"
    who = await matrix.adapter.client.whoami()
    assert isinstance(who, WhoamiResponse)   # not logged out by the check


async def test_everything_wrong_with_the_rooms_at_once(matrix) -> None:
    await matrix.room_with_bot("anna", name="opendesk", public=True)
    await matrix.room_with_bot("anna", name="secret", public=False, encrypted=True)
    await matrix.people["anna"].create_room(alias=f"without-{matrix.sfx}", public=False)
    team = await matrix.room_with_bot("anna", name="team", public=True)
    sfx = matrix.sfx
    settings = with_config(matrix, channels={"duty": [f"#opendesk-{sfx}", f"#nowhere-{sfx}"],
                                             "guarded": [f"#secret-{sfx}", f"#without-{sfx}"]},
                           access={"matrix_rooms": {"agent": team}},
                           matrix={**bot_matrix(matrix), "e2ee": "off"})
    found = await check(settings)
    failing = {s: f.text for s, f in found.items() if not f.ok}
    assert set(failing) == {f"#opendesk-{sfx}", f"#nowhere-{sfx}", f"#secret-{sfx}", f"#without-{sfx}", team}
    assert "not private (join rule public)" in failing[f"#opendesk-{sfx}"] and "ticket titles" in failing[
        f"#opendesk-{sfx}"]
    assert f"no duty room with the alias #nowhere-{sfx}:localhost" in failing[f"#nowhere-{sfx}"]
    assert "encrypted, but end-to-end encryption is off" in failing[f"#secret-{sfx}"]
    assert f"the bot is not in this room: invite {matrix.bot_id}" in failing[f"#without-{sfx}"]
    assert "access room is not private" in failing[team] and "desk roles" in failing[team]


async def test_a_wrong_password_is_one_finding_that_names_the_variable(matrix) -> None:
    found = await check(with_config(matrix, env={"DUTYDESK_MATRIX__PASSWORD": "wrong"}))
    assert list(found) == ["login"] and not found["login"].ok
    assert "DUTYDESK_MATRIX__PASSWORD" in found["login"].text and "M_FORBIDDEN" in found["login"].text
    assert isinstance(await matrix.adapter.client.whoami(), WhoamiResponse)   # the bot's session is untouched


async def test_a_token_of_another_user_is_named(matrix) -> None:
    other = matrix.people["anna"].client.access_token
    found = await check(with_config(matrix, env={"DUTYDESK_MATRIX__ACCESS_TOKEN": other}))
    assert not found["login"].ok
    assert found["login"].text == f"the access token belongs to {matrix.names['anna']}, not matrix.user_id " \
                                  f"{matrix.bot_id}"


async def test_an_unreachable_homeserver_is_one_finding(matrix) -> None:
    settings = with_config(matrix, matrix={**bot_matrix(matrix), "homeserver": "http://127.0.0.1:9"})
    found = await check(settings)
    assert list(found) == ["homeserver"] and "cannot reach http://127.0.0.1:9" in found["homeserver"].text
