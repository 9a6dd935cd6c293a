"""Files sent to a ticket on Slack: a ``file_share`` message in the ticket's private channel puts its
screenshots on the ticket (JPG, GIF, PNG); other types are refused with the catalogue's message."""

from __future__ import annotations

from slack_harness import SlackHarness

from storage.models import Attachment, KeyValue, Ticket


def file(file_id: str, name: str, mimetype: str, size: int) -> dict:
    return {"id": file_id, "created": 1700000500, "timestamp": 1700000500, "name": name, "title": name,
            "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1], "user": "U0REQ", "mode": "hosted",
            "size": size, "url_private": f"https://files.slack.com/files-pri/T0TEAM-{file_id}/{name}",
            "permalink": f"https://example.slack.com/files/U0REQ/{file_id}/{name}"}


async def space_of(slack: SlackHarness, key: str) -> str:
    return (await slack.rows(KeyValue, KeyValue.key == f"slack:space:{key}"))[0].value


def said(slack: SlackHarness) -> list[str]:
    return [p["text"] for p in slack.fake.to("chat.postMessage") + slack.fake.to("chat.postEphemeral")]


async def test_a_png_goes_onto_the_ticket_and_a_pdf_is_refused(slack: SlackHarness) -> None:
    await slack.command("checkout page shows a blank screen")
    await slack.settle()
    space = await space_of(slack, "HW-1")
    status, _ = await slack.event({
        "type": "message", "subtype": "file_share", "channel": space, "channel_type": "group", "user": "U0REQ",
        "text": "here is what I see", "ts": "1700000500.000100", "upload": False, "display_as_bot": False,
        "files": [file("F0SHOT", "blank.png", "image/png", 48213)]})
    assert status == 200
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    [stored] = await slack.rows(Attachment)
    assert (stored.ticket_id, stored.file_name, stored.mime_type, stored.size) == (ticket.id, "blank.png",
                                                                                   "image/png", 48213)
    assert stored.ref == "https://example.slack.com/files/U0REQ/F0SHOT/blank.png"
    assert not [text for text in said(slack) if "was not added" in text]

    await slack.event({
        "type": "message", "subtype": "file_share", "channel": space, "channel_type": "group", "user": "U0REQ",
        "text": "", "ts": "1700000501.000100",
        "files": [file("F0DOC", "invoice.pdf", "application/pdf", 90000), file("F0EXE", "fix.exe",
                                                                              "application/x-msdownload", 1000)]})
    await slack.settle()
    assert await slack.count(Attachment) == 1
    refusals = [text for text in said(slack) if "was not added" in text]
    assert len(refusals) == 2
    assert "invoice.pdf (application/pdf) was not added: screenshots are taken as JPG, GIF, PNG only" in refusals[0]
    assert "fix.exe" in refusals[1]


async def test_a_file_known_only_by_its_id_is_looked_up(slack: SlackHarness) -> None:
    """Slack sends ``file_access: check_file_info`` where the event leaves the details out."""
    slack.fake.files["F0GIF"] = file("F0GIF", "loop.gif", "image/gif", 2048)
    await slack.command("the spinner never stops")
    await slack.settle()
    space = await space_of(slack, "HW-1")
    await slack.event({"type": "message", "subtype": "file_share", "channel": space, "channel_type": "group",
                       "user": "U0REQ", "text": "", "ts": "1700000502.000100",
                       "files": [{"id": "F0GIF", "file_access": "check_file_info", "created": 1700000502}]})
    await slack.settle()
    [stored] = await slack.rows(Attachment)
    assert (stored.file_name, stored.mime_type, stored.size) == ("loop.gif", "image/gif", 2048)
    assert slack.fake.to("files.info") == [{"file": "F0GIF"}]


async def test_a_dm_with_a_screenshot_opens_a_ticket_with_it(slack: SlackHarness) -> None:
    await slack.event({"type": "message", "subtype": "file_share", "channel": "D0REQ", "channel_type": "im",
                       "user": "U0REQ", "text": "the login button does nothing", "ts": "1700000503.000100",
                       "files": [file("F0JPG", "login.jpg", "image/jpeg", 1234)]})
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    [stored] = await slack.rows(Attachment)
    assert stored.ticket_id == ticket.id and stored.mime_type == "image/jpeg"
