"""Matrix file events → attachments, without a homeserver: name, type, size, the mxc:// reference,
captions, encrypted files, and what is not a file."""

from __future__ import annotations

from adapters.matrix import convert
from bot.core.types import Attachment


def image(**content: object) -> dict:
    return {"type": "m.room.message", "event_id": "$e", "sender": "@rita:x",
            "content": {"msgtype": "m.image", "body": "shot.png", "url": "mxc://x/abc",
                        "info": {"mimetype": "image/png", "size": 1234, "w": 10, "h": 10}, **content}}


def test_an_image_is_one_attachment_and_no_text() -> None:
    raw = image()
    assert convert.is_file_message(raw) and not convert.is_person_message(raw)
    assert convert.attachments_of(raw["content"]) == (Attachment(name="shot.png", mime_type="image/png", size=1234,
                                                                 ref="mxc://x/abc"),)
    assert convert.caption_of(raw["content"]) == ""


def test_a_caption_is_the_text_and_the_filename_the_name() -> None:
    raw = image(body="the checkout page", filename="checkout.png")
    assert convert.caption_of(raw["content"]) == "the checkout page"
    assert convert.attachments_of(raw["content"])[0].name == "checkout.png"


def test_an_encrypted_file_has_its_uri_in_file_and_odd_fields_are_dropped() -> None:
    raw = image(url=None, file={"url": "mxc://x/enc", "v": "v2"}, info={"mimetype": "image/jpeg", "size": "big"})
    [found] = convert.attachments_of(raw["content"])
    assert (found.ref, found.mime_type, found.size) == ("mxc://x/enc", "image/jpeg", None)


def test_edits_and_redactions_of_files_are_not_files() -> None:
    assert not convert.is_file_message(image(**{"m.relates_to": {"rel_type": "m.replace", "event_id": "$a"}}))
    redacted = image()
    redacted["unsigned"] = {"redacted_because": {}}
    assert not convert.is_file_message(redacted)
    assert not convert.is_file_message({"type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi"}})
