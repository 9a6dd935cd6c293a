"""The report's chart on Slack (issue #19): uploaded the files_upload_v2 way (files.getUploadURLExternal, the
bytes POSTed to the upload URL, files.completeUploadExternal) into the asker's direct chat with the report's text
as its comment; the fake Slack keeps the bytes, so the test reads the very PNG that arrived."""

from __future__ import annotations

import struct
from datetime import timedelta

from slack_harness import SlackHarness

from storage.models import OutboxFile, OutboxMessage


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def opened_ticket(slack: SlackHarness) -> None:
    status, _ = await slack.command("the printer jams", user="U0BEN", user_name="ben")
    assert status == 200
    await slack.settle()
    slack.clock.advance(timedelta(minutes=10))  # the report counts up to now: the ticket is ten minutes old


async def test_report_uploads_the_chart_to_the_askers_direct_chat(slack: SlackHarness) -> None:
    await opened_ticket(slack)
    status, _ = await slack.command("week", command="/report", user="U0ANNA", user_name="anna")
    assert status == 200
    await slack.settle()
    [share] = slack.fake.shared
    # the asker's direct chat (conversations.open), not the channel: a file cannot be shown to one person there
    assert share["channel_id"] == "D0ANNA" and share["thread_ts"] is None
    assert share["initial_comment"].startswith("Report 23 Nov 2026 – 29 Nov 2026\n1 opened · 0 closed")
    [file] = share["files"]
    assert file["name"] == "report-2026-11-23-2026-11-29.png"
    assert file["title"].startswith("Chart of the report 23 Nov 2026 – 29 Nov 2026: tickets opened and closed")
    assert file["alt_txt"] == file["title"]
    assert png_size(file["data"]) == (1000, 420) and 10_000 < len(file["data"]) < 300_000
    # the report is no ephemeral note and no second message: the text is the file's comment
    assert not any(p["text"].startswith("Report") for method in ("chat.postEphemeral", "chat.postMessage")
                   for p in slack.fake.to(method))
    [row] = await slack.rows(OutboxMessage, OutboxMessage.kind == "reply", OutboxMessage.user_id == "U0ANNA")
    assert row.status == "sent" and row.platform_ref == f"file:{file['id']}"
    [stored] = await slack.rows(OutboxFile)
    assert stored.outbox_id == row.id and stored.data == file["data"]


async def test_the_caption_is_in_the_readers_language(slack: SlackHarness) -> None:
    await opened_ticket(slack)
    await slack.command("week", command="/report", user="U0CARLA", user_name="carla")  # Carla reads German
    await slack.settle()
    [share] = slack.fake.shared
    assert share["initial_comment"].startswith("Bericht 23.11.2026 – 29.11.2026")
    assert share["files"][0]["title"].startswith("Diagramm zum Bericht 23.11.2026 – 29.11.2026: eröffnete")


async def test_a_failed_completion_is_retried_without_uploading_again(slack: SlackHarness) -> None:
    await opened_ticket(slack)
    slack.fake.fail("files.completeUploadExternal", "internal_error", status=500)
    await slack.command("week", command="/report", user="U0ANNA", user_name="anna")
    await slack.settle()
    assert not slack.fake.shared
    [row] = await slack.rows(OutboxMessage, OutboxMessage.user_id == "U0ANNA", OutboxMessage.kind == "reply")
    assert row.status == "pending" and row.attempts == 1
    slack.clock.advance(timedelta(minutes=5))
    await slack.bot.outbox.drain()
    [share] = slack.fake.shared
    # one upload URL, one POST of the bytes, two completions (the failed one and the retry) of the same file
    assert len(slack.fake.to("files.getUploadURLExternal")) == 1
    assert [c.params for c in slack.fake.calls if c.method == "upload"] == [{"file": share["files"][0]["id"]}]
    assert len(slack.fake.to("files.completeUploadExternal", ok=None)) == 2
    assert png_size(share["files"][0]["data"]) == (1000, 420)


async def test_a_failed_upload_is_uploaded_again_and_shared_once(slack: SlackHarness) -> None:
    await opened_ticket(slack)
    slack.fake.fail("upload", "upstream trouble", status=502)
    await slack.command("week", command="/report", user="U0ANNA", user_name="anna")
    await slack.settle()
    assert not slack.fake.shared and not slack.fake.to("files.completeUploadExternal", ok=None)
    slack.clock.advance(timedelta(minutes=5))
    await slack.bot.outbox.drain()
    [share] = slack.fake.shared  # the bytes of the second upload URL, shared once
    assert len(slack.fake.to("files.getUploadURLExternal")) == 2
    assert png_size(share["files"][0]["data"]) == (1000, 420)


async def test_people_without_the_lead_role_get_no_chart(slack: SlackHarness) -> None:
    await opened_ticket(slack)
    for user, name in (("U0BEN", "ben"), ("U0REQ", "rita")):
        await slack.command("week", command="/report", user=user, user_name=name)
    await slack.command("1999-01-01 1999-01-07", command="/report", user="U0ANNA", user_name="anna")
    await slack.settle()
    # refusals and the report of an empty range: text only, nothing uploaded anywhere
    assert not slack.fake.upload_slots and not slack.fake.shared
    answers = {p["user"]: p["text"] for p in slack.fake.to("chat.postEphemeral") if p["user"] != "U0BEN"
               or "HW-1" not in p["text"]}
    assert "only team leads" in answers["U0BEN"] and "opened" not in answers["U0REQ"]
    assert "no tickets" in answers["U0ANNA"]
